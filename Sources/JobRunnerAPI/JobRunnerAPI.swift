import Essentials
import Glibc
import HTTPServer
import JSON
import JobEngine
import JobQueue
import Synchronization

/// The REST API, SSE streams and WebSocket protocol (docs/protocol.md) over an engine,
/// plus the dashboard's static files. Translates HTTP to engine calls and back;
/// owns neither side.
public final class JobRunnerAPI: Sendable {
    public let engine: JobEngine
    public let configuration: APIConfiguration
    let staticFiles: StaticFiles?
    let limits: JSONLimits
    let streams = ProgressStreams()
    let finishedJobs = JobJSONCache()
    let sockets: QueueSocket
    let gate: AuthGate
    /// Sign-in attempts per client address (`POST /api/session`).
    let signIns = RateLimiter.signIns()
    private let pinger = Mutex<Task<Void, Never>?>(nil)
    /// `/api/openapi.json` serialized, and the job types' version it was made from.
    let openAPIDocument = Mutex<(version: UInt64, bytes: [UInt8])?>(nil)
    /// Set by `beginShutdown`: new submissions are refused with 503.
    let shuttingDown = Atomic<Bool>(false)
    /// Requests by route and status, once a router with metrics was made.
    let httpCounters = Mutex<RequestCounters?>(nil)
    /// How `/readyz` asks the server's WebSocket I/O loop to answer (`setEventLoopProbe`).
    let loopProbe = Mutex<(@Sendable (@escaping @Sendable () -> Void) -> Bool)?>(nil)

    /// The routes this API serves, documents and checks (`JobRunnerAPI.routes`).
    let routes: [APIRoute]

    public convenience init(engine: JobEngine, configuration: APIConfiguration) {
        self.init(engine: engine, configuration: configuration, routes: Self.routes)
    }

    /// An API with these routes (tests add some of their own).
    init(engine: JobEngine, configuration: APIConfiguration, routes: [APIRoute]) {
        self.routes = routes
        self.engine = engine
        self.configuration = configuration
        self.staticFiles = configuration.webRoot.map { StaticFiles(root: $0, headers: CrossSite.dashboardHeaders) }
        self.limits = JSONLimits(maxBytes: configuration.maxBodyBytes, maxDepth: 32)
        self.gate = AuthGate(authenticator: configuration.authenticator, limiter: configuration.rateLimiter, audit: configuration.audit,
                            policy: AuthPolicy.Table(routes))
        self.sockets = QueueSocket(engine: engine, maxMessageBytes: configuration.maxWebSocketMessageBytes, gate: gate)
        let streams = self.streams, sockets = self.sockets
        // WebSockets first: queuing their frames is cheap and wakes their I/O
        // thread, which then writes while the SSE streams are resumed here.
        // Held weakly: the sockets hold the engine, so a strong hold here would
        // keep both (and every job in memory) alive after the API goes.
        _ = engine.subscribe { [weak sockets, weak streams] event in
            sockets?.deliver(event)
            streams?.deliver(event)
        }
        engine.observeWorker { [weak sockets] stats in sockets?.workerChanged(stats) }
        if configuration.metrics { engine.enableMetrics(maxQueues: configuration.metricsMaxQueues) }
    }

    /// How `/readyz` checks the server's event loop: `probe` runs its argument on
    /// that loop's thread (false when the loop is not running).
    public func setEventLoopProbe(_ probe: @escaping @Sendable (@escaping @Sendable () -> Void) -> Bool) {
        loopProbe.withLock { $0 = probe }
    }

    public convenience init(engine: JobEngine, webRoot: String?, maxBodyBytes: Int = 1 << 20) {
        var configuration = APIConfiguration(webRoot: webRoot)
        configuration.maxBodyBytes = maxBodyBytes
        self.init(engine: engine, configuration: configuration)
    }

    /// Starts the periodic WebSocket ping.
    public func start() {
        let interval = configuration.pingIntervalSeconds
        let sockets = self.sockets
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                if Task.isCancelled { return }
                sockets.ping()
                self?.revalidate()
            }
        }
        pinger.withLock { $0 = task }
    }

    /// From now on new submissions get 503 `{"error":"Shutting down"}`; reads,
    /// cancels and streams go on while running jobs finish.
    public func beginShutdown() {
        shuttingDown.store(true, ordering: .relaxed)
        sockets.shuttingDown.store(true, ordering: .relaxed)
    }

    /// Installs a reloaded token table: revoked tokens stop working at once, their
    /// sessions end, and their WebSockets are closed with 1008.
    public func replaceTokens(_ tokens: [TokenEntry]) {
        gate.authenticator.replaceTokens(tokens)
        revalidate()
    }

    /// Closes the WebSockets (1008) and SSE streams of callers who may no
    /// longer read: revoked tokens, ended or expired sessions.
    func revalidate() {
        sockets.revalidate()
        let authenticator = gate.authenticator
        streams.revalidate { authenticator.refresh($0)?.has(.read) == true }
    }

    /// Stops the ping and says goodbye (1001) to every WebSocket client.
    public func stop() {
        pinger.withLock { $0?.cancel() }
        sockets.closeAll()
    }


    /// `{"error": ...}` for every error the server or a handler produces.
    public static let renderError: @Sendable (HTTPError) -> HTTPResponse = { error in
        .json(errorBody(error.message), status: error.status, headers: error.headers)
    }

    /// Every route of `routes`, with static files (or a JSON 404) as the fallback.
    public func makeRouter() -> Router {
        var r = Router()
        r.setPreCheck(annotating: { [origins = configuration.allowedOrigins, gate] req in
            CrossSite.refusal(req, allowedOrigins: origins) ?? gate.refusal(&req)
        })
        for route in routes {
            r.add(route.method, route.pattern) { [self] req in try route.handle(self, req) }
        }
        r.setFallback { [self] req in try fallback(req) }
        if configuration.metrics {
            let counters = r.enableCounters()
            httpCounters.withLock { $0 = counters }
        }
        return r
    }

    /// The one way a change is answered: the engine's completion becomes the
    /// response, at once when it already ran (memory), else once the change is
    /// committed (the connection waits suspended, no thread blocks). A storage
    /// failure is a 503, and then nothing changed.
    func answer<T: Sendable>(_ start: (@escaping @Sendable (Result<T, StoreError>) -> Void) throws(HTTPError) -> Void,
                             _ render: @escaping @Sendable (T) throws(HTTPError) -> HTTPResponse) throws(HTTPError) -> HTTPResponse {
        let respond = { @Sendable (result: Result<T, StoreError>) -> HTTPResponse in
            do throws(HTTPError) {
                switch result {
                case .success(let value): return try render(value)
                case .failure(let error): throw HTTPError(503, error.message)
                }
            } catch {
                return Self.renderError(error)
            }
        }
        let pending = PendingAnswer()
        try start { result in pending.complete(respond(result)) }
        if let ready = pending.takeIfReady() { return ready }
        return .deferred { responder in pending.deliver(to: responder) }
    }

    func fallback(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        if request.path == "/api" || request.path.hasPrefix("/api/") || request.path.hasPrefix("/ws/") || staticFiles == nil {
            throw HTTPError.notFound(String(request.path.prefix(200)))
        }
        return try staticFiles!.respond(request)
    }
}
