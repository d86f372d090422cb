import Synchronization

/// An open-ended response body (Server-Sent Events) fed by a producer on any
/// thread and drained by libmicrohttpd's reader callback.
///
/// When the reader finds nothing to send it asks the stream's source, if it has
/// one (`setSource`: bytes made only as fast as the socket drains, such as a
/// replay read page by page), else suspends the connection, so an idle stream
/// costs no CPU; a write that finds it suspended resumes it (after the lock is
/// released). While suspended, the socket is watched for a hang-up
/// (`PeerWatch`): a client that leaves an idle stream is let go at once. The
/// buffer is bounded: a write past `maxBuffered` is refused and the producer
/// decides (drop, coalesce or end the stream).
///
/// `@unchecked Sendable`: every mutable field lives in `state` behind a mutex; the
/// connection is only suspended by the reader (on the connection's thread) and
/// resumed by a writer or the hang-up watch (any thread, only while suspended,
/// which keeps it alive).
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
        /// The client hung up while the stream was suspended: end the response at once.
        var peerGone = false
        var connection: MHDConnection?
        var peers: PeerWatch?
        /// The socket and registration token while the hang-up watch has it.
        var watch: (fd: Int32, token: UInt64)?
        var source: (@Sendable (ByteStream) -> Bool)?
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

    /// Makes `pull` the stream's source: whenever the buffer runs dry, the
    /// reader (on the connection's thread, outside the stream's lock) calls it to
    /// `write` the next bytes. It returns false when it has nothing more, and it
    /// is dropped then, or when a call wrote nothing; the stream goes on with
    /// what is written to it. A source makes bytes only as fast as the client
    /// reads them.
    public func setSource(_ pull: @escaping @Sendable (ByteStream) -> Bool) {
        let resume = state.withLock { s -> MHDConnection? in
            guard !s.closed, !s.finished else { return nil }
            s.source = pull
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

    /// The connection to resume, if it is suspended. The hang-up watch lets go of
    /// its socket first: once resumed, libmicrohttpd may close it and the number
    /// may be reused.
    private static func takeResume(_ s: inout State) -> MHDConnection? {
        guard s.suspended, let c = s.connection else { return nil }
        s.suspended = false
        if let w = s.watch {
            s.watch = nil
            s.peers?.unwatch(w.fd, token: w.token)
        }
        return c
    }

    // MARK: Called by the adapter

    func attach(_ connection: MHDConnection, peers: PeerWatch?) {
        state.withLock {
            $0.connection = connection
            $0.peers = peers
        }
    }

    private enum Step {
        case done(Int)
        case pull(@Sendable (ByteStream) -> Bool)
    }

    /// The reader callback's body: copy out what is buffered, end, ask the
    /// source for more, or suspend.
    func read(into destination: UnsafeMutableRawPointer, max: Int) -> Int {
        while true {
            let step = state.withLock { s -> Step in
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
                    return .done(n)
                }
                // -2 (MHD_CONTENT_READER_END_WITH_ERROR) closes the connection.
                if s.peerGone { return .done(-2) }
                if s.finished || s.closed { return .done(-1) }
                if let source = s.source { return .pull(source) }
                if let c = s.connection {
                    // Under the lock on purpose: a writer's resume must not overtake
                    // this suspend (libmicrohttpd only flags the connection, it does
                    // not call back).
                    s.suspended = true
                    c.suspend()
                    if let peers = s.peers, let fd = c.socket(), let token = peers.watch(fd, for: self) {
                        s.watch = (fd, token)
                    }
                }
                return .done(0)
            }
            switch step {
            case .done(let n):
                return n
            case .pull(let source):
                // Outside the lock: the source writes into this stream.
                let more = source(self)
                state.withLock { s in
                    if !more || s.buffer.count == s.offset { s.source = nil }
                }
            }
        }
    }

    /// The hang-up watch saw the client leave while the stream was suspended
    /// under `token`: resume the connection so that libmicrohttpd closes it.
    func peerHungUp(token: UInt64) {
        let resume = state.withLock { s -> MHDConnection? in
            guard s.suspended, let w = s.watch, w.token == token else { return nil }
            s.peerGone = true
            return Self.takeResume(&s)
        }
        resume?.resume()
    }

    /// libmicrohttpd is done with the response: the connection closed or the stream ended.
    func released() {
        let actions = state.withLock { s -> [@Sendable () -> Void] in
            s.closed = true
            s.suspended = false
            s.connection = nil
            s.source = nil
            // The socket may be closed already, which took it out of the set.
            if let w = s.watch { s.peers?.forget(w.token) }
            s.watch = nil
            s.peers = nil
            let a = s.onClose
            s.onClose = []
            return a
        }
        for a in actions { a() }
    }
}
