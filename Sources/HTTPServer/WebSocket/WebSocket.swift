import Essentials
import Glibc
import Synchronization

/// What the application does with a WebSocket. The callbacks run on the
/// WebSocket I/O thread: they must be quick and must not block.
public struct WebSocketHandler: Sendable {
    public var onOpen: @Sendable (WebSocket) -> Void
    public var onText: @Sendable (WebSocket, String) -> Void
    public var onClose: @Sendable (WebSocket) -> Void

    public init(onOpen: @escaping @Sendable (WebSocket) -> Void = { _ in },
                onText: @escaping @Sendable (WebSocket, String) -> Void,
                onClose: @escaping @Sendable (WebSocket) -> Void = { _ in }) {
        self.onOpen = onOpen
        self.onText = onText
        self.onClose = onClose
    }
}

/// Limits applied to every WebSocket.
public struct WebSocketLimits: Sendable {
    /// Largest frame and largest (reassembled) message from a client; over it: close 1009.
    public var maxMessageBytes = 64 * 1024
    /// Bytes queued for one client before it is closed with 1013.
    public var maxQueuedBytes = 1 << 20
    /// Seconds between protocol pings; a peer silent for two intervals is dropped.
    public var pingIntervalSeconds = 25.0

    public init() {}
}

/// One upgraded connection: a bounded outbound queue written by the I/O loop,
/// and an inbound frame parser fed by it.
///
/// `@unchecked Sendable`: the outbound side lives in `state` behind a mutex; the
/// parser and `lastHeard` are only touched on the I/O loop's thread; `fd` and
/// `upgrade` are only closed there, once, through `upgrade.close()`.
public final class WebSocket: @unchecked Sendable {
    struct Outbound {
        var bytes: [UInt8]
        /// Messages with the same key may replace each other while unsent.
        var key: Int64?
        /// Outside the queue limit (a requested snapshot), so not in `queuedBytes`.
        var exempt = false
    }

    enum Phase { case open, closing, draining, closed }

    struct State {
        var queue: [Outbound] = []
        var head = 0
        /// Bytes of `queue[head]` already written.
        var headOffset = 0
        /// Entries `[head, inFlightEnd)` are being written right now: never replaced.
        var inFlightEnd = 0
        var queuedBytes = 0
        var flushScheduled = false
        var phase = Phase.open
        var closeCode: WebSocketCloseCode?
        var drainDeadline = 0.0
    }

    let fd: Int32
    let upgrade: UpgradeHandle
    let handler: WebSocketHandler
    let limits: WebSocketLimits
    let state = Mutex(State())
    let loop: WebSocketLoop

    // I/O-thread only.
    var parser: WebSocketParser
    var lastHeard: Double
    var pending: [UInt8]

    /// Per-connection data for the application (e.g. what it has already sent).
    public let userInfo = Mutex<[String: any Sendable]>([:])

    init(fd: Int32, upgrade: UpgradeHandle, extraInput: [UInt8], handler: WebSocketHandler, limits: WebSocketLimits, loop: WebSocketLoop) {
        self.fd = fd
        self.upgrade = upgrade
        self.handler = handler
        self.limits = limits
        self.loop = loop
        self.parser = WebSocketParser(maxFrameSize: limits.maxMessageBytes, maxMessageSize: limits.maxMessageBytes)
        self.lastHeard = monotonicNow()
        self.pending = extraInput
    }

    /// Sends a text message.
    @discardableResult
    public func send(text: String) -> Bool {
        send(frame: WebSocketFrame.text(Array(text.utf8)))
    }

    /// Sends an already encoded frame (encode once, send to many). With a key, an
    /// unsent earlier frame with the same key is replaced instead of queued again.
    /// Returns false if the connection is closing; a client whose queue passes the
    /// limit is closed with 1013. An `exempt` frame (a snapshot the client asked
    /// for, bounded by its producer) does not count towards the limit.
    @discardableResult
    public func send(frame: [UInt8], coalescingKey: Int64? = nil, exempt: Bool = false) -> Bool {
        enum Outcome { case queued(schedule: Bool), refused, overflow }
        let outcome = state.withLock { s -> Outcome in
            guard s.phase == .open else { return .refused }
            if let key = coalescingKey {
                var i = s.queue.count - 1
                while i >= max(s.inFlightEnd, s.head + (s.headOffset > 0 ? 1 : 0)) {
                    if s.queue[i].key == key {
                        s.queuedBytes += frame.count - s.queue[i].bytes.count
                        s.queue[i].bytes = frame
                        return .queued(schedule: false)
                    }
                    i -= 1
                }
            }
            if exempt {
                s.queue.append(Outbound(bytes: frame, key: nil, exempt: true))
            } else {
                if s.queuedBytes + frame.count > limits.maxQueuedBytes { return .overflow }
                s.queue.append(Outbound(bytes: frame, key: coalescingKey))
                s.queuedBytes += frame.count
            }
            let schedule = !s.flushScheduled
            s.flushScheduled = true
            return .queued(schedule: schedule)
        }
        switch outcome {
        case .queued(let schedule):
            if schedule { loop.scheduleFlush(self) }
            return true
        case .refused:
            return false
        case .overflow:
            close(.tryAgainLater, reason: "client too slow", dropQueued: true)
            return false
        }
    }

    /// Starts the closing handshake: the close frame goes after what is queued
    /// (or instead of it with `dropQueued`), then the connection ends.
    public func close(_ code: WebSocketCloseCode = .normal, reason: String = "", dropQueued: Bool = false) {
        let schedule = state.withLock { s -> Bool in
            guard s.phase == .open else { return false }
            s.phase = .closing
            s.closeCode = code
            if dropQueued {
                // Keep a frame that is partly written, or the stream would be corrupt.
                let keep = s.headOffset > 0 || s.inFlightEnd > s.head ? max(s.inFlightEnd, s.head + 1) : s.head
                s.queue.removeSubrange(keep...)
                s.queuedBytes = s.queue[s.head...].reduce(0) { $0 + ($1.exempt ? 0 : $1.bytes.count) }
                    - (s.head < s.queue.count && !s.queue[s.head].exempt ? s.headOffset : 0)
            }
            let frame = WebSocketFrame.close(code, reason: reason)
            s.queue.append(Outbound(bytes: frame, key: nil))
            s.queuedBytes += frame.count
            s.drainDeadline = monotonicNow() + 5
            let schedule = !s.flushScheduled
            s.flushScheduled = true
            return schedule
        }
        if schedule { loop.scheduleFlush(self) }
        loop.scheduleClose(self)
    }

    /// Bytes waiting to be written to this client.
    public var queuedBytes: Int { state.withLock { $0.queuedBytes } }

    public var isOpen: Bool { state.withLock { $0.phase == .open } }
}
