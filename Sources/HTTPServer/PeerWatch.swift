import CEpoll
import Essentials
import Glibc
import Synchronization

/// Notices clients that hang up while their stream waits for data.
///
/// A suspended connection is out of libmicrohttpd's poll set, so a client that
/// closes an idle stream would otherwise keep its descriptor (and the stream's
/// memory) until the next write fails: the heartbeat, 15 s later by default. A
/// stream about to be suspended registers its socket here for `EPOLLRDHUP`; one
/// thread waits on the set and ends the streams whose peer is gone.
///
/// The rule that keeps descriptors apart: a stream unregisters its socket
/// *before* it resumes the connection (only then may libmicrohttpd close it and
/// the number be reused). Each registration also carries a token of its own, so
/// an event read just before an unregistration can never reach a later stream
/// that got the same descriptor number.
final class PeerWatch: Sendable {
    private struct Watched {
        var streams: [UInt64: WeakStream] = [:]
        /// 0 is the wake-up eventfd's token.
        var nextToken: UInt64 = 1
        var stopping = false
    }

    private struct WeakStream {
        weak var stream: ByteStream?
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private let watched = Mutex(Watched())
    private let thread = Mutex<JoinableThread?>(nil)

    init() throws(ServerError) {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard epfd >= 0, wakeFD >= 0 else {
            let reason = String(cString: strerror(errno))
            if epfd >= 0 { close(epfd) }
            if wakeFD >= 0 { close(wakeFD) }
            throw ServerError("cannot create the stream hang-up watch: \(reason)")
        }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = 0
        epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &ev)
    }

    deinit {
        close(epfd)
        close(wakeFD)
    }

    func start() throws(ServerError) {
        do {
            let started = try ThreadLauncher.joinable(name: "stream hang-ups") { [self] in run() }
            thread.withLock { $0 = started }
        } catch {
            throw ServerError("\(error)")
        }
    }

    /// Ends the thread; registrations left are dropped with the set.
    func stop() {
        watched.withLock { $0.stopping = true }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        let t = thread.withLock { t -> JoinableThread? in
            defer { t = nil }
            return t
        }
        t?.join()
    }

    /// Watches `fd` for a hang-up on behalf of `stream`; the token, or nil when
    /// it could not (then the next write finds out, as before).
    func watch(_ fd: Int32, for stream: ByteStream) -> UInt64? {
        let token = watched.withLock { w -> UInt64? in
            guard !w.stopping else { return nil }
            let token = w.nextToken
            w.nextToken += 1
            w.streams[token] = WeakStream(stream: stream)
            return token
        }
        guard let token else { return nil }
        var ev = epoll_event()
        ev.events = EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        ev.data.u64 = token
        if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 {
            forget(token)
            return nil
        }
        return token
    }

    /// Stops watching `fd`. Called while the connection is still suspended, so
    /// the descriptor is still the stream's.
    func unwatch(_ fd: Int32, token: UInt64) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
        forget(token)
    }

    /// Drops a registration without touching the set: for a stream libmicrohttpd
    /// is done with, whose descriptor may be closed already (closing it took it
    /// out of the set).
    func forget(_ token: UInt64) {
        watched.withLock { _ = $0.streams.removeValue(forKey: token) }
    }

    /// How many sockets are watched now.
    var count: Int { watched.withLock { $0.streams.count } }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let n = epoll_wait(epfd, &events, Int32(events.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            for i in 0..<Int(n) {
                let token = events[i].data.u64
                if token == 0 {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    if watched.withLock({ $0.stopping }) { return }
                    continue
                }
                let stream = watched.withLock { $0.streams[token]?.stream }
                stream?.peerHungUp(token: token)
            }
        }
    }
}
