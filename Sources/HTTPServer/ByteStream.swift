import Synchronization

/// An open-ended response body (Server-Sent Events) fed by a producer on any
/// thread and drained by libmicrohttpd's reader callback.
///
/// When the reader finds nothing to send it suspends the connection, so an idle
/// stream costs no CPU; a write that finds it suspended resumes it (after the lock
/// is released). The buffer is bounded: a write past `maxBuffered` is refused and
/// the producer decides (drop, coalesce or end the stream).
///
/// `@unchecked Sendable`: every mutable field lives in `state` behind a mutex; the
/// connection is only suspended by the reader (on the connection's thread) and
/// resumed by a writer (any thread, only while suspended, which keeps it alive).
public final class ByteStream: @unchecked Sendable {
    public enum WriteResult: Sendable, Equatable {
        case written
        /// The buffer is full; nothing was written.
        case full
        /// The client is gone or the stream has ended.
        case closed
    }

    struct State {
        var buffer: [UInt8] = []
        var offset = 0
        var finished = false
        var closed = false
        var suspended = false
        var connection: MHDConnection?
        var onClose: [@Sendable () -> Void] = []
    }

    let state = Mutex(State())
    public let maxBuffered: Int

    public init(maxBuffered: Int = 256 * 1024) {
        self.maxBuffered = maxBuffered
    }

    /// Appends bytes for the client. `force` ignores the bound (for a final event).
    @discardableResult
    public func write(_ bytes: [UInt8], force: Bool = false) -> WriteResult {
        let (result, resume) = state.withLock { s -> (WriteResult, MHDConnection?) in
            guard !s.closed, !s.finished else { return (.closed, nil) }
            if !force && s.buffer.count - s.offset + bytes.count > maxBuffered { return (.full, nil) }
            if s.offset > 0 && s.offset == s.buffer.count {
                s.buffer.removeAll(keepingCapacity: true)
                s.offset = 0
            }
            s.buffer.append(contentsOf: bytes)
            return (.written, Self.takeResume(&s))
        }
        resume?.resume()
        return result
    }

    /// Ends the stream once what is buffered has been sent.
    public func finish() {
        let resume = state.withLock { s -> MHDConnection? in
            guard !s.finished, !s.closed else { return nil }
            s.finished = true
            return Self.takeResume(&s)
        }
        resume?.resume()
    }

    /// Bytes waiting to be sent.
    public var buffered: Int { state.withLock { $0.buffer.count - $0.offset } }

    public var isClosed: Bool { state.withLock { $0.closed || $0.finished } }

    /// Runs once when the stream is over, whichever side ended it (the client went
    /// away, the server finished it, or the daemon stopped). Runs at once if it is over.
    public func onClose(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.closed { return true }
            s.onClose.append(action)
            return false
        }
        if runNow { action() }
    }

    private static func takeResume(_ s: inout State) -> MHDConnection? {
        guard s.suspended, let c = s.connection else { return nil }
        s.suspended = false
        return c
    }

    // MARK: Called by the adapter

    func attach(_ connection: MHDConnection) {
        state.withLock { $0.connection = connection }
    }

    /// The reader callback's body: copy out what is buffered, end, or suspend.
    func read(into destination: UnsafeMutableRawPointer, max: Int) -> Int {
        state.withLock { s -> Int in
            let available = s.buffer.count - s.offset
            if available > 0 {
                let n = min(available, max)
                s.buffer.withUnsafeBytes { src in
                    destination.copyMemory(from: src.baseAddress! + s.offset, byteCount: n)
                }
                s.offset += n
                if s.offset == s.buffer.count {
                    s.buffer.removeAll(keepingCapacity: s.buffer.capacity <= 64 * 1024)
                    s.offset = 0
                }
                return n
            }
            if s.finished || s.closed { return -1 }
            if let c = s.connection {
                // Under the lock on purpose: a writer's resume must not overtake
                // this suspend (libmicrohttpd only flags the connection, it does
                // not call back).
                s.suspended = true
                c.suspend()
            }
            return 0
        }
    }

    /// libmicrohttpd is done with the response: the connection closed or the stream ended.
    func released() {
        let actions = state.withLock { s -> [@Sendable () -> Void] in
            s.closed = true
            s.suspended = false
            s.connection = nil
            let a = s.onClose
            s.onClose = []
            return a
        }
        for a in actions { a() }
    }
}
