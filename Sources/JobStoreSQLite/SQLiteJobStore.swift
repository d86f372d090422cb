import Dispatch
import Essentials
import JobQueue
import SQLStore

/// The embedded durable store: SQLite in WAL mode, one writer thread that groups
/// every submission waiting since the last commit into one transaction (one fsync
/// for many), and a small pool of read connections for lookups and pages.
public final class SQLiteJobStore: JobStore, WebhookOutboxStore, Sendable {
    /// The FTS5 tokenizer of the search index (Migrations/SQLiteV5.swift).
    static var searchTokenizer: String { SQLiteSchema.searchTokenizer }

    public enum Sync: String, Sendable, CaseIterable {
        /// fsync on every commit: a power cut loses nothing acknowledged.
        case full
        /// fsync at WAL checkpoints: a power cut may lose the latest commits (a crash of the daemon does not).
        case normal
    }

    /// The schema version this build writes; a newer file is refused.
    public static let schemaVersion = SQLiteSchema.migrator.latest

    static let table = JobTable(node: false)

    /// Submissions, closing and the failure state, shared with the writer thread.
    let writes = StoreWriteQueue()

    public let path: String
    /// Each transaction's time and size, for `/metrics`.
    public let metrics: StoreMetrics? = StoreMetrics()
    let readers: ReaderPool<SQLiteConnection>
    private let finished = DispatchSemaphore(value: 0)
    let writer: WriterBox
    /// Held for the store's life: a second daemon on the same file refuses to start.
    private let lock: FileLock
    /// The file as opened; a commit first checks it is still there.
    private let identity: FileIdentity

    /// Opens (creating if needed) and migrates the database. Throws a clear error
    /// for a file that cannot be opened, is not a database, has a newer schema,
    /// or is in use by another jobrunnerd.
    public init(path: String, sync: Sync = .full) throws(StoreError) {
        self.path = path
        let connection: SQLiteConnection
        do throws(SQLiteError) {
            connection = try SQLiteConnection(path: path)
            if connection.isReadOnly { throw SQLiteError(code: 8, message: "the file is read-only") }
            // Before the first write: a second daemon stops here.
            lock = try FileLock(database: path)
            try connection.execute("PRAGMA journal_mode=WAL")
            try connection.execute("PRAGMA synchronous=\(sync == .full ? "FULL" : "NORMAL")")
            try SQLiteSchema.migrator.migrate(connection)
            identity = try FileIdentity(path: path)
            writer = WriterBox(connection, order: try CreatedOrder(connection))
        } catch {
            throw StoreError("cannot use database \(path): \(error.message)")
        }
        readers = ReaderPool(capacity: 8, writes: writes) { () throws(SQLiteError) in try SQLiteConnection(path: path, readOnly: true) }
        do {
            try ThreadLauncher.detached(name: "store writer") { [self] in runWriter() }
        } catch {
            throw StoreError("cannot use database \(path): \(error)")
        }
    }

    deinit {
        close()
    }

    // MARK: JobStore

    public func load(recentFinished: Int) throws(StoreError) -> StoreSnapshot {
        try readers.read { db throws(SQLiteError) in try db.load(Self.table, recentFinished: recentFinished) }
    }

    public func submit(_ ops: [StoreOp], retry: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        writes.submit(ops, retry: retry, completion: completion)
    }

    public var failure: StoreError? { writes.failure }

    public func onBatchDone(_ action: @escaping @Sendable () -> Void) { writes.onBatchDone(action) }

    public func onFailureChange(_ action: @escaping @Sendable (StoreError?) -> Void) { writes.onFailureChange(action) }

    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try readers.read { db throws(SQLiteError) in try db.jobs(Self.table, "id = ?", [.int(id)]).first }
    }

    public func job(idempotencyKey key: String) throws(StoreError) -> Job? {
        try readers.read { db throws(SQLiteError) in try db.jobs(Self.table, "idempotency_key = ? LIMIT 1", [.text(key)]).first }
    }

    public func log(_ id: Int64, after seq: UInt64, limit: Int?) throws(StoreError) -> JobLog? {
        try readers.read { db throws(SQLiteError) in try db.log(id, after: seq, limit: limit) }
    }

    public func dueWebhookDeliveries(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord] {
        try readers.read { db throws(SQLiteError) in try db.dueWebhookDeliveries(url: url, limit: limit, node: nil) }
    }

    public func webhookDeliveries(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord] {
        try readers.read { db throws(SQLiteError) in try db.webhookDeliveries(limit: limit, before: before) }
    }

    public func close() {
        guard writes.beginClosing() else { return }
        finished.wait()
        // Every connection is closed before this returns (the last one to close
        // checkpoints the WAL), so the file is free for whoever comes next.
        readers.drain()
        lock.release()
    }

    // MARK: The writer

    private func runWriter() {
        if let db = writer.connection {
            WriterLoop(writes: writes, metrics: metrics) { [self] entries in
                do throws(SQLiteError) {
                    try identity.check(path)
                    return .committed(conflicts: try commit(entries, db))
                } catch {
                    return .failed(error)
                }
            }.run()
        }
        // Closed before `close()` returns: the file is free for whoever comes next.
        writer.connection = nil
        finished.signal()
    }

    /// Commits every entry in one transaction; returns the entries whose guarded
    /// write found its row changed or gone (nothing of such an entry is written).
    private func commit(_ entries: [StoreWriteQueue.Entry], _ db: SQLiteConnection) throws(SQLiteError) -> Set<Int> {
        let order = writer.order
        var conflicts = Set<Int>()
        try db.execute("BEGIN IMMEDIATE")
        do {
            for (i, entry) in entries.enumerated() {
                let guarded = entry.ops.contains { if case .update = $0 { true } else { false } }
                if guarded { try db.execute("SAVEPOINT guarded") }
                var held = true
                for op in entry.ops where held { held = try apply(op, db) }
                if guarded {
                    if !held {
                        try db.execute("ROLLBACK TO guarded")
                        conflicts.insert(i)
                    }
                    try db.execute("RELEASE guarded")
                }
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            writer.order = order
            throw error
        }
        return conflicts
    }
}

/// The writer's connection, used only by the writer thread, which closes it
/// (sets nil) as its last act.
///
/// `@unchecked Sendable`: `init` hands it to the writer thread before that thread
/// starts; from then on only the writer thread reads or writes its fields.
final class WriterBox: @unchecked Sendable {
    var connection: SQLiteConnection?
    var order: CreatedOrder
    init(_ connection: SQLiteConnection, order: CreatedOrder) {
        self.connection = connection
        self.order = order
    }
}
