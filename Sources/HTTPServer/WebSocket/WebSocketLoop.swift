import CEpoll
import Essentials
import Glibc
import Synchronization

/// The one thread that does all WebSocket I/O: non-blocking sockets on an
/// edge-triggered epoll set, woken through an eventfd when another thread
/// queues output. Producers never write to sockets and never wait.
///
/// `@unchecked Sendable`: cross-thread requests go through `shared` (a mutex)
/// and the eventfd; `byFD`, `closing` and `scratch` belong to the loop thread.
final class WebSocketLoop: @unchecked Sendable {
    private struct Shared {
        var added: [WebSocket] = []
        var toFlush: [WebSocket] = []
        var toClose: [WebSocket] = []
        /// Run at the loop's next turn (`probe`).
        var probes: [@Sendable () -> Void] = []
        var wakeupPending = false
        var stopping = false
        /// The loop has ended: requests are dropped, not kept (each would hold
        /// its WebSocket, which holds the loop: a cycle nothing frees).
        var ended = false
    }

    let limits: WebSocketLimits
    private let epfd: Int32
    private let wakeFD: Int32
    private let shared = Mutex(Shared())
    private var thread: JoinableThread?
    private let log: @Sendable (ServerConfiguration.LogLevel, String) -> Void

    // Loop thread only.
    private var byFD: [Int32: WebSocket] = [:]
    private var closing: Set<Int32> = []
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var scratch: [UInt8] = []

    init(limits: WebSocketLimits, log: @escaping @Sendable (ServerConfiguration.LogLevel, String) -> Void) throws(ServerError) {
        self.limits = limits
        self.log = log
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard epfd >= 0, wakeFD >= 0 else { throw ServerError("cannot create the WebSocket event loop: \(String(cString: strerror(errno)))") }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = wakeFD
        epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &ev)
    }

    deinit {
        close(epfd)
        close(wakeFD)
    }

    func start() throws(ThreadLaunchError) {
        thread = try ThreadLauncher.joinable(name: "websocket loop") { [self] in run() }
    }

    /// Closes every connection with 1001 and ends the thread.
    func stop() {
        shared.withLock { $0.stopping = true }
        wake()
        thread?.join()
        thread = nil
    }

    // MARK: Requests from other threads

    func add(_ ws: WebSocket) {
        let refused = shared.withLock { s -> Bool in
            if s.stopping { return true }
            s.added.append(ws)
            return false
        }
        if refused {
            ws.upgrade.close()
            return
        }
        wake()
    }

    func scheduleFlush(_ ws: WebSocket) { request { $0.toFlush.append(ws) } }

    func scheduleClose(_ ws: WebSocket) { request { $0.toClose.append(ws) } }

    /// Runs `done` on the loop's thread at its next turn (readiness: the loop answers).
    /// False, and `done` is not called, once the loop is stopping.
    func probe(_ done: @escaping @Sendable () -> Void) -> Bool {
        let stopping = shared.withLock { $0.stopping }
        if stopping { return false }
        request { $0.probes.append(done) }
        return true
    }

    /// Records a request for the loop; only the first since the loop last looked
    /// writes to the eventfd, so a broadcast to thousands costs one wake-up.
    private func request(_ record: (inout Shared) -> Void) {
        let needWake = shared.withLock { s -> Bool in
            if s.ended { return false }
            record(&s)
            defer { s.wakeupPending = true }
            return !s.wakeupPending
        }
        if needWake { wake() }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: The loop

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var nextTick = monotonicNow() + limits.pingIntervalSeconds
        while true {
            let now = monotonicNow()
            let untilTick = max(0, nextTick - now)
            let timeout = closing.isEmpty ? untilTick : min(untilTick, 0.25)
            let n = epoll_wait(epfd, &events, Int32(events.count), Int32(timeout * 1000) + 1)
            for i in 0..<max(0, Int(n)) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == wakeFD { continue }
                guard let ws = byFD[fd] else { continue }
                if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
                    readAll(ws)
                }
                if flags & EPOLLOUT.rawValue != 0, byFD[fd] != nil { flush(ws) }
            }
            if takeRequests() { break }
            let after = monotonicNow()
            if after >= nextTick {
                tick(after)
                nextTick = after + limits.pingIntervalSeconds
            }
            if !closing.isEmpty { expireClosing(after) }
        }
        shutdownAll()
    }

    /// Handles what other threads asked for; true when the loop must stop.
    private func takeRequests() -> Bool {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        let (added, toFlush, toClose, probes, stopping) = shared.withLock { s in
            defer {
                s.added = []
                s.toFlush = []
                s.toClose = []
                s.probes = []
                s.wakeupPending = false
            }
            return (s.added, s.toFlush, s.toClose, s.probes, s.stopping)
        }
        for p in probes { p() }
        for ws in added { open(ws) }
        for ws in toClose where byFD[ws.fd] === ws { closing.insert(ws.fd) }
        for ws in toFlush where byFD[ws.fd] === ws { flush(ws) }
        return stopping
    }

    private func open(_ ws: WebSocket) {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        ev.data.fd = ws.fd
        guard epoll_ctl(epfd, EPOLL_CTL_ADD, ws.fd, &ev) == 0 else {
            log(.error, "WebSocket: epoll_ctl failed: \(String(cString: strerror(errno)))")
            ws.upgrade.close()
            return
        }
        byFD[ws.fd] = ws
        ws.handler.onOpen(ws)
        if !ws.pending.isEmpty {
            let early = ws.pending
            ws.pending = []
            consume(ws, early)
        }
        if byFD[ws.fd] === ws { readAll(ws) }
    }

    private func readAll(_ ws: WebSocket) {
        while byFD[ws.fd] === ws {
            let n = readBuffer.withUnsafeMutableBytes { recv(ws.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                consume(ws, readBuffer[0..<n])
            } else if n == 0 {
                finalize(ws)
                return
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { finalize(ws) }
                return
            }
        }
    }

    private func consume(_ ws: WebSocket, _ bytes: some Collection<UInt8>) {
        let phase = ws.state.withLock { $0.phase }
        guard phase == .open || phase == .closing else { return }
        ws.lastHeard = monotonicNow()
        let events: [WebSocketEvent]
        do {
            events = try ws.parser.feed(bytes)
        } catch {
            ws.close(error.code, reason: error.reason)
            closing.insert(ws.fd)
            return
        }
        for event in events {
            let open = ws.state.withLock { $0.phase == .open }
            switch event {
            case .text(let text):
                if open { ws.handler.onText(ws, text) }
            case .binary:
                break
            case .ping(let payload):
                if open { _ = ws.send(frame: WebSocketFrame.encode(.pong, payload)) }
            case .pong:
                break
            case .close(let code, _):
                if open {
                    ws.close(code ?? .normal)
                    closing.insert(ws.fd)
                } else {
                    // The peer answered our close: done.
                    finalize(ws)
                    return
                }
            }
        }
        // Frames before a violation in the same read were handled; now fail.
        if let failure = ws.parser.failure {
            ws.close(failure.code, reason: failure.reason)
            closing.insert(ws.fd)
        }
    }

    private func flush(_ ws: WebSocket) {
        while true {
            let batch = ws.state.withLock { s -> Int in
                scratch.removeAll(keepingCapacity: true)
                var i = s.head
                var skip = s.headOffset
                // A snapshot still being built holds back everything after it.
                while i < s.queue.count && scratch.count < 256 * 1024 && !s.queue[i].isReserved {
                    let bytes = s.queue[i].bytes
                    scratch.append(contentsOf: bytes[skip...])
                    skip = 0
                    i += 1
                }
                s.inFlightEnd = i
                if scratch.isEmpty {
                    s.flushScheduled = false
                    if s.phase == .closing { s.phase = .draining }
                }
                return scratch.count
            }
            if batch == 0 {
                if ws.state.withLock({ $0.phase == .draining }) {
                    shutdown(ws.fd, Int32(SHUT_WR))
                    closing.insert(ws.fd)
                }
                return
            }
            let n = scratch.withUnsafeBytes { send(ws.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 {
                let err = errno
                ws.state.withLock { $0.inFlightEnd = $0.head }
                if err == EAGAIN || err == EWOULDBLOCK || err == EINTR { return }
                finalize(ws)
                return
            }
            ws.state.withLock { s in
                var left = n
                while left > 0 && s.head < s.queue.count {
                    let remaining = s.queue[s.head].bytes.count - s.headOffset
                    let written = min(left, remaining)
                    s.queuedBytes -= written
                    if s.queue[s.head].snapshot != nil { s.snapshotBytes -= written }
                    left -= written
                    if written == remaining {
                        s.head += 1
                        s.headOffset = 0
                    } else {
                        s.headOffset += written
                    }
                }
                s.inFlightEnd = s.head
                if s.head > 64 && s.head * 2 > s.queue.count {
                    s.queue.removeFirst(s.head)
                    s.head = 0
                    s.inFlightEnd = 0
                }
            }
            if n < batch { return }
        }
    }

    /// Protocol pings, and dropping peers that stopped answering.
    private func tick(_ now: Double) {
        let ping = WebSocketFrame.encode(.ping, [UInt8]())
        for ws in byFD.values where ws.isOpen {
            if now - ws.lastHeard > 2 * limits.pingIntervalSeconds {
                ws.close(.goingAway, reason: "ping timeout")
                closing.insert(ws.fd)
            } else {
                ws.send(frame: ping)
            }
        }
    }

    private func expireClosing(_ now: Double) {
        for fd in closing {
            guard let ws = byFD[fd] else {
                closing.remove(fd)
                continue
            }
            let expired = ws.state.withLock { $0.phase != .open && now >= $0.drainDeadline }
            if expired { finalize(ws) }
        }
    }

    private func finalize(_ ws: WebSocket) {
        guard byFD[ws.fd] === ws else { return }
        byFD[ws.fd] = nil
        closing.remove(ws.fd)
        ws.state.withLock { s in
            s.phase = .closed
            s.queue = []
            s.head = 0
            s.headOffset = 0
            s.inFlightEnd = 0
            s.queuedBytes = 0
            s.snapshotBytes = 0
        }
        epoll_ctl(epfd, EPOLL_CTL_DEL, ws.fd, nil)
        ws.upgrade.close()
        ws.handler.onClose(ws)
    }

    private func shutdownAll() {
        _ = takeRequests()
        for ws in Array(byFD.values) {
            ws.close(.goingAway, reason: "server shutting down")
            flush(ws)
            finalize(ws)
        }
        // The closes above asked for turns that will not come.
        shared.withLock { s in
            s.ended = true
            s.toFlush = []
            s.toClose = []
            s.probes = []
        }
    }
}
