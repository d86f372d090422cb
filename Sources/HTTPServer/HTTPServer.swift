import Glibc
import Synchronization

/// The HTTP server: binds (or takes an inherited socket), starts libmicrohttpd
/// (`LibMicroHTTPD.swift`) with `ServerConnections` behind its callbacks, and
/// stops it all again. It knows nothing of jobs.
public final class HTTPServer: Sendable {
    public let configuration: ServerConfiguration
    let router: Router

    /// The C side holds an unretained pointer to `connections` for as long as the daemon runs.
    private let connections: ServerConnections
    private let daemon = Mutex<Running?>(nil)

    private struct Running {
        let daemon: MHDDaemon
        let port: Int
    }

    public init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
        self.connections = ServerConnections(configuration: configuration, router: router)
    }

    /// The port the server listens on (the real one when configured with 0).
    public var port: Int { daemon.withLock { $0?.port ?? 0 } }

    /// The address the server listens on, once started.
    public var listening: ListeningAddress? { connections.listening.withLock { $0 } }

    /// Binds and starts serving on libmicrohttpd's threads.
    public func start() throws(ServerError) {
        let fd: Int32
        if let inherited = configuration.listenSocket {
            fd = inherited
        } else {
            fd = try Listener.bind(host: configuration.host, port: configuration.port)
        }
        // A socket we bound is ours to close when starting fails; an inherited
        // one stays its owner's.
        let ours = configuration.listenSocket == nil
        let address = Listener.address(fd)
        connections.listening.withLock { $0 = address }
        do {
            try connections.startWebSockets()
        } catch {
            if ours { close(fd) }
            throw error
        }
        do {
            try connections.startPeerWatch()
        } catch {
            connections.stopWebSockets()
            if ours { close(fd) }
            throw error
        }
        configuration.tls?.install()
        // libmicrohttpd gets a descriptor of its own: when it fails to start,
        // 0.9.75 has closed the socket it was given on some paths (threads, TLS,
        // mutexes) and not on others (bad options, where its copy stays open
        // until the process ends), so closing the one it was given could close
        // that number twice, the second time as another thread's new descriptor
        // (a job's pipe, a client's socket). Here each number is closed once.
        let given = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard given >= 0, let started = MHDDaemon.start(listenFD: given, configuration: configuration, connections: connections) else {
            let reason = given < 0 ? String(cString: strerror(errno)) : "thread or descriptor limits?"
            connections.stopWebSockets()
            connections.stopPeerWatch()
            if ours { close(fd) }
            throw ServerError("libmicrohttpd failed to start (\(reason))")
        }
        // Running, libmicrohttpd owns its copy and closes it in `stop`.
        close(fd)
        daemon.withLock { $0 = Running(daemon: started, port: address.port) }
        connections.startHeartbeat()
        connections.headerDeadlines?.start()
    }

    /// Runs `done` on the WebSocket I/O thread at its next turn, to show that the
    /// loop answers (readiness). False at once when the server is not serving.
    public func probeEventLoop(_ done: @escaping @Sendable () -> Void) -> Bool {
        connections.probeWebSocketLoop(done)
    }

    /// Ends open streams, answers deferred requests with 503, and stops the daemon.
    public func stop() {
        guard let running = daemon.withLock({ d -> Running? in
            defer { d = nil }
            return d
        }) else { return }
        connections.shutdown()
        running.daemon.stop()
    }
}
