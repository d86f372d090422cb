import JobQueue
import Synchronization

/// Reader connections kept for reuse. A read takes one out of the pool for its
/// duration, so no lock is held while the database works; a returning reader
/// checks `writes.isClosing` under the pool's lock, so while the store closes
/// it is either dropped or cleared by `drain`.
public final class ReaderPool<Connection: SQLConnection>: Sendable {
    private let pool = Mutex<[Box]>([])
    private let capacity: Int
    private let writes: StoreWriteQueue
    private let open: @Sendable () throws(SQLError) -> Connection

    public init(capacity: Int, writes: StoreWriteQueue, open: @escaping @Sendable () throws(SQLError) -> Connection) {
        self.capacity = capacity
        self.writes = writes
        self.open = open
    }

    /// Runs `body` on a pooled connection (one snapshot when `snapshot`). A
    /// connection that failed is dropped; a pooled one the server dropped (it
    /// restarted) is replaced once.
    public func read<R>(snapshot: Bool = false, _ body: (Connection) throws(SQLError) -> R) throws(StoreError) -> R {
        var attempt = 0
        while true {
            attempt += 1
            let pooled = pool.withLock { $0.popLast() }
            do throws(SQLError) {
                let box: Box
                if let pooled { box = pooled } else { box = Box(try open()) }
                let value = snapshot ? try box.connection.snapshot(body) : try body(box.connection)
                pool.withLock { if !writes.isClosing && $0.count < capacity { $0.append(box) } }
                return value
            } catch {
                if error.connectionLost && pooled != nil && attempt == 1 { continue }
                throw StoreError("Storage unavailable: \(error.message)")
            }
        }
    }

    /// Closes every pooled connection (the store is closing).
    public func drain() { pool.withLock { $0 = [] } }

    /// A connection handed between threads, used by one at a time.
    ///
    /// `@unchecked Sendable`: a box is either in the pool (behind its mutex) or
    /// checked out by exactly one thread.
    private final class Box: @unchecked Sendable {
        let connection: Connection
        init(_ connection: Connection) { self.connection = connection }
    }
}
