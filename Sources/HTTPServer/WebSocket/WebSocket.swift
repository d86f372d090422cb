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
        /// The application's order of the message (e.g. an event position); a
        /// snapshot drops what it already reflects.
        var sequence: UInt64?
        /// Set on a snapshot's entry: reserved by `reserveSnapshot`, `ready` once filled.
        var snapshot: (slot: UInt64, ready: Bool)?

        init(bytes: [UInt8], key: Int64? = nil, sequence: UInt64? = nil, snapshot: (slot: UInt64, ready: Bool)? = nil) {
            self.bytes = bytes
            self.key = key
            self.sequence = sequence
            self.snapshot = snapshot
        }

        /// Not yet filled: the writer stops here.
        var isReserved: Bool { snapshot.map { !$0.ready } ?? false }
    }

    enum Phase { case open, closing, draining, closed }

    struct State {
        var queue: [Outbound] = []
        var head = 0
        /// Bytes of `queue[head]` already written.
        var headOffset = 0
        /// Entries `[head, inFlightEnd)` are being written right now: never replaced.
        var inFlightEnd = 0
        /// Unwritten bytes of every queued frame, the snapshot's included.
        var queuedBytes = 0
        /// Unwritten bytes of the queued snapshot (there is at most one).
        var snapshotBytes = 0
        /// Frames with a sequence at or below this are already in a snapshot sent.
        var supersededUpTo: UInt64 = 0
        /// A snapshot's place is reserved and its state not yet taken: every
        /// sequenced frame sent now is in it.
        var snapshotNotTaken = false
        var nextSlot: UInt64 = 0
        var flushScheduled = false
        var phase = Phase.open
        var closeCode: WebSocketCloseCode?
        var drainDeadline = 0.0

        /// Recomputes the byte counters from the unwritten entries.
        mutating func recount() {
            queuedBytes = 0
            snapshotBytes = 0
            for i in head..<queue.count {
                let n = queue[i].bytes.count - (i == head ? headOffset : 0)
                queuedBytes += n
                if queue[i].snapshot != nil { snapshotBytes += n }
            }
        }
    }

    /// A place in the outbound queue reserved for a snapshot that is still being built.
    public struct SnapshotSlot: Sendable {
        let id: UInt64
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
    /// unsent earlier frame with the same key (and no snapshot in between) is
    /// replaced instead of queued again. With a `sequence` at or below that of a
    /// snapshot already filled, the frame is dropped: the snapshot reflects it.
    ///
    /// Every frame counts towards the client's limit: the queue may hold one
    /// snapshot plus `maxQueuedBytes` of other frames. A client past that is
    /// closed with 1013. Returns false if the connection is closing.
    @discardableResult
    public func send(frame: [UInt8], coalescingKey: Int64? = nil, sequence: UInt64? = nil) -> Bool {
        enum Outcome { case queued(schedule: Bool), refused, overflow }
        let outcome = state.withLock { s -> Outcome in
            guard s.phase == .open else { return .refused }
            if let sequence, sequence <= s.supersededUpTo || s.snapshotNotTaken { return .queued(schedule: false) }
            if let key = coalescingKey {
                var i = s.queue.count - 1
                while i >= max(s.inFlightEnd, s.head + (s.headOffset > 0 ? 1 : 0)) && s.queue[i].snapshot == nil {
                    if s.queue[i].key == key {
                        s.queuedBytes += frame.count - s.queue[i].bytes.count
                        s.queue[i].bytes = frame
                        s.queue[i].sequence = sequence
                        return .queued(schedule: false)
                    }
                    i -= 1
                }
            }
            if s.queuedBytes - s.snapshotBytes + frame.count > limits.maxQueuedBytes { return .overflow }
            s.queue.append(Outbound(bytes: frame, key: coalescingKey, sequence: sequence))
            s.queuedBytes += frame.count
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

    /// Reserves the place of a full-state frame in the outbound queue: frames
    /// sent from now on go after it, and nothing after it is written until
    /// `fillSnapshot`. Returns nil while an earlier snapshot is reserved or not
    /// yet completely written (that one answers), or once closing.
    public func reserveSnapshot() -> SnapshotSlot? {
        state.withLock { s -> SnapshotSlot? in
            guard s.phase == .open, !s.queue[s.head...].contains(where: { $0.snapshot != nil }) else { return nil }
            s.nextSlot += 1
            s.queue.append(Outbound(bytes: [], snapshot: (s.nextSlot, false)))
            s.snapshotNotTaken = true
            return SnapshotSlot(id: s.nextSlot)
        }
    }

    /// Call right before taking the state for `slot`: sequenced frames sent
    /// until now were dropped (the state will reflect them); from now on they
    /// queue behind the place. False when the place is gone (the connection is
    /// closing): no need to build the snapshot.
    public func beginSnapshot(_ slot: SnapshotSlot) -> Bool {
        state.withLock { s -> Bool in
            guard s.phase == .open, s.queue[s.head...].contains(where: { $0.snapshot?.slot == slot.id && $0.isReserved }) else { return false }
            s.snapshotNotTaken = false
            return true
        }
    }

    /// Puts the snapshot's frame (begun with `beginSnapshot`) in its reserved place. Frames queued after the
    /// place whose `sequence` is at or below `sequence` are dropped, and so are
    /// such frames sent later: the snapshot already reflects them. A no-op once
    /// the connection is closing.
    public func fillSnapshot(_ slot: SnapshotSlot, frame: [UInt8], sequence: UInt64) {
        let schedule = state.withLock { s -> Bool in
            guard s.phase == .open,
                  let at = s.queue[s.head...].firstIndex(where: { $0.snapshot?.slot == slot.id && $0.isReserved }) else { return false }
            s.queue[at].bytes = frame
            s.queue[at].snapshot = (slot.id, true)
            s.supersededUpTo = max(s.supersededUpTo, sequence)
            let threshold = s.supersededUpTo
            s.queue[(at + 1)...].removeAll { $0.sequence.map { $0 <= threshold } ?? false }
            s.recount()
            let schedule = !s.flushScheduled
            s.flushScheduled = true
            return schedule
        }
        if schedule { loop.scheduleFlush(self) }
    }

    /// Starts the closing handshake: the close frame goes after what is queued
    /// (or instead of it with `dropQueued`), then the connection ends. A snapshot
    /// place still unfilled is given up.
    public func close(_ code: WebSocketCloseCode = .normal, reason: String = "", dropQueued: Bool = false) {
        let schedule = state.withLock { s -> Bool in
            guard s.phase == .open else { return false }
            s.phase = .closing
            s.closeCode = code
            if dropQueued {
                // Keep a frame that is partly written, or the stream would be corrupt.
                let keep = s.headOffset > 0 || s.inFlightEnd > s.head ? max(s.inFlightEnd, s.head + 1) : s.head
                s.queue.removeSubrange(keep...)
            }
            s.snapshotNotTaken = false
            if s.queue[s.head...].contains(where: \.isReserved) {
                let head = s.head
                s.queue[head...].removeAll(where: \.isReserved)
            }
            let frame = WebSocketFrame.close(code, reason: reason)
            s.queue.append(Outbound(bytes: frame))
            s.recount()
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
