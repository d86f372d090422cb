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
        let address = Listener.address(fd)
        connections.listening.withLock { $0 = address }
        try connections.startWebSockets()
        configuration.tls?.install()
        guard let started = MHDDaemon.start(listenFD: fd, configuration: configuration, connections: connections) else {
            connections.stopWebSockets()
            if configuration.listenSocket == nil { close(fd) }
            throw ServerError("libmicrohttpd failed to start (thread or descriptor limits?)")
        }
        daemon.withLock { $0 = Running(daemon: started, port: address.port) }
        connections.startHeartbeat()
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
