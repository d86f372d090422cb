import Essentials
import Glibc
import HTTPServer
import JSON
import JobEngine
import JobQueue
import Synchronization

/// What the API serves and accepts.
public struct APIConfiguration: Sendable {
    /// Directory of the dashboard's files; nil serves none.
    public var webRoot: String?
    /// This daemon's name in `GET /api/nodes` when it shares no store (with
    /// PostgreSQL the store's node id is used); nil: the host name.
    public var nodeName: String?
    public var maxBodyBytes = 1 << 20
    /// Largest WebSocket command accepted.
    public var maxWebSocketMessageBytes = 64 * 1024
    /// Origins besides the daemon's own that may open the WebSocket (`CrossSite`).
    public var allowedOrigins: [String] = []
    /// Seconds between `{"type":"ping"}` messages to WebSocket clients.
    public var pingIntervalSeconds = 25.0
    /// Tokens and sessions (docs/security.md); open by default.
    public var authenticator = Authenticator(mode: .open, tokens: [])
    /// `--rate-limit`: submissions per second per caller; nil: no limit.
    public var rateLimiter: RateLimiter?
    /// One line per state-changing WebSocket command (HTTP requests are audited by the server).
    public var audit: (@Sendable (AuditRecord) -> Void)?
    /// The daemon's version, as `/api/openapi.json` names it.
    public var version = "0.0.0"
    /// Recent webhook deliveries for `GET /api/webhooks/deliveries` (limit,
    /// before-cursor); nil: the list is empty.
    public var webhookDeliveries: (@Sendable (Int, Int64?) throws(StoreError) -> [WebhookDeliveryRecord])?
    /// `--metrics`: serve `GET /metrics` and keep its counters (docs/metrics.md).
    public var metrics = true
    /// Queue names that get a label of their own in the metrics; later ones share `~other`.
    public var metricsMaxQueues = 100

    public init(webRoot: String? = nil) {
        self.webRoot = webRoot
    }
}

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
    private let openAPIDocument = Mutex<(version: UInt64, bytes: [UInt8])?>(nil)
    /// Set by `beginShutdown`: new submissions are refused with 503.
    let shuttingDown = Atomic<Bool>(false)
    /// Requests by route and status, once a router with metrics was made.
    let httpCounters = Mutex<RequestCounters?>(nil)
    /// How `/readyz` asks the server's WebSocket I/O loop to answer (`setEventLoopProbe`).
    let loopProbe = Mutex<(@Sendable (@escaping @Sendable () -> Void) -> Bool)?>(nil)

    public init(engine: JobEngine, configuration: APIConfiguration) {
        self.engine = engine
        self.configuration = configuration
        self.staticFiles = configuration.webRoot.map { StaticFiles(root: $0, headers: CrossSite.dashboardHeaders) }
        self.limits = JSONLimits(maxBytes: configuration.maxBodyBytes, maxDepth: 32)
        self.gate = AuthGate(authenticator: configuration.authenticator, limiter: configuration.rateLimiter, audit: configuration.audit)
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

    /// Every route of the API, with static files (or a JSON 404) as the fallback.
    public func makeRouter() -> Router {
        var r = Router()
        r.setPreCheck(annotating: { [origins = configuration.allowedOrigins, gate] req in
            CrossSite.refusal(req, allowedOrigins: origins) ?? gate.refusal(&req)
        })
        r.get("/api/session") { [self] req in try sessionInfo(req) }
        r.post("/api/session") { [self] req in try signIn(req) }
        r.delete("/api/session") { [self] req in signOut(req) }
        r.get("/api/stats") { [self] _ in stats() }
        r.get("/healthz") { _ in .json(Array(#"{"status":"ok"}"#.utf8)) }
        r.get("/readyz") { [self] _ in readiness() }
        if configuration.metrics {
            r.get("/metrics") { [self] _ in metrics() }
        } else {
            r.get("/metrics") { _ in throw HTTPError(404, "Metrics are turned off (--metrics off)") }
        }
        r.get("/api/job-types") { [self] _ in jobTypes() }
        r.get("/api/jobs") { [self] req in try listJobs(req) }
        r.post("/api/jobs") { [self] req in try createJob(req) }
        r.post("/api/jobs/clear-completed") { [self] _ in try clearCompleted() }
        addBulkRoutes(&r)
        r.get("/api/jobs/:id") { [self] req in try getJob(req) }
        r.delete("/api/jobs/:id") { [self] req in try cancelJob(req) }
        r.get("/api/jobs/:id/progress") { [self] req in try progress(req) }
        r.get("/api/jobs/:id/log") { [self] req in try log(req) }
        r.post("/api/jobs/:id/retry") { [self] req in try retryJob(req) }
        r.get("/api/queues") { [self] _ in listQueues() }
        r.get("/api/nodes") { [self] req in try listNodes(req) }
        r.put("/api/queues/:name") { [self] req in try updateQueue(req) }
        addScheduleRoutes(&r)
        r.get("/api/openapi.json") { [self] _ in .json(openAPIBytes()) }
        r.get("/api/docs") { [self] req in try apiDocsPage(req) }
        addWebhookRoutes(&r)
        r.get("/ws/queue") { [self] req in
            try HTTPResponse.webSocket(req, handler: sockets.handler(for: req.attachment as? Principal, address: req.remoteAddress))
        }
        r.setFallback { [self] req in try fallback(req) }
        if configuration.metrics {
            let counters = r.enableCounters()
            httpCounters.withLock { $0 = counters }
        }
        return r
    }

    // MARK: Handlers

    /// The OpenAPI document for the job types in place now: made once per set of
    /// types (they change on SIGHUP), outside the lock.
    func openAPIBytes() -> [UInt8] {
        let (registry, version) = engine.versionedRegistry
        if let cached = openAPIDocument.withLock({ $0 }), cached.version == version { return cached.bytes }
        let bytes = OpenAPI.document(registry: registry, version: configuration.version, signIn: gate.authenticator.mode == .tokens).serialized()
        openAPIDocument.withLock { current in
            if (current?.version ?? 0) <= version { current = (version, bytes) }
        }
        return bytes
    }

    /// `GET /api/docs`: the dashboard's page that renders `/api/openapi.json`.
    func apiDocsPage(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard let staticFiles else { throw HTTPError.notFound(request.path) }
        return try staticFiles.respond(HTTPRequest(method: request.method, path: "/api-docs.html"))
    }

    func stats() -> HTTPResponse {
        var w = JSONWriter()
        w.raw("{\"queue\":")
        w.queueStats(engine.queueStats())
        w.raw(",\"worker\":")
        w.workerStats(engine.stats)
        // Beside the documented queue and worker: live clients by kind.
        w.raw(",\"clients\":{\"sse\":")
        w.int(Int64(streams.count))
        w.raw(",\"websocket\":")
        w.int(Int64(sockets.count))
        w.raw("}}")
        return .json(w.bytes)
    }

    /// `GET /readyz`: 200 while the daemon takes work (the store commits, it is
    /// not draining, the event loop answers), else 503 with the reasons, for load
    /// balancers and probes. The HTTP threads answer this request themselves; the
    /// WebSocket I/O thread must run a no-op within `ReadinessProbe.deadline`.
    /// The answer waits for it with the connection suspended, never a thread.
    /// (The job executor is not asked: CPU-bound jobs may rightly keep it busy.)
    func readiness() -> HTTPResponse {
        var reasons: [String] = []
        if shuttingDown.load(ordering: .relaxed) { reasons.append("shutting down") }
        if let failure = engine.storageFailure { reasons.append(failure.message) }
        guard reasons.isEmpty else { return Self.notReady(reasons) }
        let probe = ReadinessProbe(loops: ["the WebSocket I/O loop"])
        let pending = PendingAnswer()
        probe.onEnd { missing in
            pending.complete(missing.isEmpty ? .json(Array(#"{"status":"ready"}"#.utf8))
                : Self.notReady(missing.map { "\($0) is not answering" }))
        }
        if let loop = loopProbe.withLock({ $0 }) {
            if !loop({ probe.answered("the WebSocket I/O loop") }) { probe.finish() }
        } else {
            probe.answered("the WebSocket I/O loop")  // No server: nothing to ask.
        }
        probe.startDeadline()
        if let ready = pending.takeIfReady() { return ready }
        return .deferred { responder in pending.deliver(to: responder) }
    }

    static func notReady(_ reasons: [String]) -> HTTPResponse {
        let body = JSONValue.object(JSONObject([
            ("status", "not ready"), ("error", .string(reasons[0])), ("reasons", .array(reasons.map { .string($0) })),
        ]))
        return .json(body.serialized(), status: 503)
    }

    func jobTypes() -> HTTPResponse {
        var w = JSONWriter(capacity: 2048)
        w.jobTypes(engine.registry)
        return .json(w.bytes)
    }

    /// `GET /api/jobs`: a page of history, filtered; a JSON array,
    /// with `X-Total-Count` and a `Link` to the next page.
    func listJobs(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let query = try JobsQueryParser.parse(request, registry: engine.registry)
        let page: JobPage
        do { page = try engine.list(query) } catch { throw HTTPError(503, error.message) }
        var w = JSONWriter(capacity: 64 + page.jobs.count * 256)
        w.jobs(page.jobs)
        var headers = [("X-Total-Count", String(page.total))]
        // A search or time range counts up to JobQuery.countCap matches.
        if page.totalCapped { headers.append(("X-Total-Count-Capped", "true")) }
        if let link = JobsQueryParser.nextLink(query, page, request) { headers.append(("Link", link)) }
        return .json(w.bytes, headers: headers)
    }

    func createJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard !shuttingDown.load(ordering: .relaxed) else { throw HTTPError(503, "Shutting down") }
        guard let body = try? JSONValue.parse(request.body, limits: limits), case .object(let object) = body else {
            throw HTTPError(400, "Invalid JSON body")
        }
        let type: String
        switch object["job_type"] {
        case nil, .null?: throw HTTPError(400, "Missing 'job_type' field")
        case .string(let s)?: type = s
        default: throw HTTPError(400, "Invalid 'job_type' field: must be a string")
        }
        let params = object["params"]
        let options: JobOptions
        do { options = try JobOptions.parse(object, header: request.header("Idempotency-Key"), now: engine.now) } catch {
            throw HTTPError(400, error.message)
        }
        return try answer({ [engine] done throws(HTTPError) in
            do throws(SubmitError) { try engine.submit(type: type, params: params, options: options, completion: done) } catch {
                throw HTTPError(400, error.message)
            }
        }, { submitted in Self.created(submitted.job, duplicate: submitted.duplicate) })
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

    /// 201 with the new job, or 200 with the job that already holds the
    /// submission's idempotency key.
    static func created(_ job: Job, duplicate: Bool = false) -> HTTPResponse {
        var w = JSONWriter(capacity: 512)
        w.job(job)
        return .json(w.bytes, status: duplicate ? 200 : 201, headers: [("Location", "/api/jobs/\(job.id)")])
    }

    /// `POST /api/jobs/:id/retry`: a failed or cancelled job back to pending.
    func retryJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard !shuttingDown.load(ordering: .relaxed) else { throw HTTPError(503, "Shutting down") }
        let id = try jobID(request)
        let missing = notFound(request)
        return try answer({ [engine] done in engine.retry(id, completion: done) }) { outcome throws(HTTPError) in
            switch outcome {
            case .retried(let job):
                var w = JSONWriter(capacity: 512)
                w.job(job)
                return .json(w.bytes)
            case .notFound:
                throw missing
            case .notRetryable(let status):
                return .json(errorBody("Cannot retry job in status: \(status.rawValue)", extra: JSONObject([("job_id", .int(id))])),
                             status: 409)
            }
        }
    }

    /// `GET /api/queues`: every named queue with its settings and counts.
    func listQueues() -> HTTPResponse {
        var w = JSONWriter(capacity: 256)
        w.raw("[")
        for (i, q) in engine.queues().enumerated() {
            if i > 0 { w.raw(",") }
            w.queueSettings(q.name, q.settings, counts: q.counts)
        }
        w.raw("]")
        return .json(w.bytes)
    }

    /// `GET /api/nodes`: the nodes sharing the store, or this daemon alone.
    func listNodes(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let shared: [NodeInfo]?
        do { shared = try engine.nodes() } catch { throw HTTPError(503, error.message) }
        let me = engine.nodeID
        let nodes = shared ?? [NodeInfo(id: configuration.nodeName ?? hostName(), address: request.header("host") ?? "", pid: Int64(getpid()),
                                        startedAt: ProcessStats.current().startTimeSeconds, heartbeatAt: engine.now,
                                        running: engine.stats.active, leader: true, alive: true)]
        var w = JSONWriter(capacity: 256)
        w.raw("[")
        for (i, n) in nodes.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{\"id\":")
            w.string(n.id)
            w.raw(",\"address\":")
            w.string(n.address)
            w.raw(",\"pid\":")
            w.int(n.pid)
            w.raw(",\"started_at\":")
            w.double(n.startedAt)
            w.raw(",\"heartbeat_at\":")
            w.double(n.heartbeatAt)
            w.raw(",\"running\":")
            w.int(Int64(n.running))
            w.raw(",\"leader\":")
            w.raw(n.leader ? "true" : "false")
            w.raw(",\"self\":")
            w.raw(shared == nil || n.id == me ? "true" : "false")
            w.raw(",\"alive\":")
            w.raw(n.alive ? "true" : "false")
            w.raw("}")
        }
        w.raw("]")
        return .json(w.bytes)
    }

    /// `PUT /api/queues/:name` with `{"paused": bool}` and/or `{"concurrency": n|null}`.
    func updateQueue(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let name = request.parameter("name") ?? ""
        guard JobOptions.isQueueName(name) else { throw HTTPError(400, "Invalid queue name: must match ^[a-z0-9_-]{1,64}$") }
        guard let body = try? JSONValue.parse(request.body, limits: limits), case .object(let object) = body else {
            throw HTTPError(400, "Invalid JSON body")
        }
        var settings = engine.queues().first { $0.name == name }?.settings ?? QueueSettings()
        for member in object {
            switch (member.key, member.value) {
            case ("paused", .bool(let b)): settings.paused = b
            case ("paused", _): throw HTTPError(400, "Invalid 'paused' field: must be true or false")
            case ("concurrency", .null): settings.concurrency = nil
            case ("concurrency", let v):
                guard let n = v.wholeNumber, (1...10_000).contains(n) else {
                    throw HTTPError(400, "Invalid 'concurrency' field: must be an integer from 1 to 10000, or null")
                }
                settings.concurrency = Int(n)
            default: throw HTTPError(400, "Unknown field: \(member.key.prefix(100)) (known: paused, concurrency)")
            }
        }
        let final = settings
        return try answer({ [engine] done in engine.updateQueue(name, final, completion: done) }) { s in
            var w = JSONWriter(capacity: 128)
            w.queueSettings(name, s, counts: nil)
            return .json(w.bytes)
        }
    }

    func getJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        guard let job = engine.job(id) else { throw notFound(request) }
        return .json(finishedJobs.bytes(for: job))
    }

    func cancelJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        let missing = notFound(request)
        return try answer({ [engine] done in engine.cancel(id, completion: done) }) { outcome throws(HTTPError) in
            switch outcome {
            case .cancelled:
                return .json(JSONValue.object(JSONObject([("success", .bool(true)), ("job_id", .int(id))])).serialized())
            case .notFound:
                throw missing
            case .notCancellable(let status):
                // The request is sound; the job's state refuses it (like a retry's 409).
                return .json(errorBody("Cannot cancel job in status: \(status.rawValue)", extra: JSONObject([("job_id", .int(id))])),
                             status: 409)
            }
        }
    }

    /// `GET /api/jobs/:id/progress`: the job's Server-Sent Events stream.
    func progress(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        guard let job = engine.job(id) else { throw notFound(request) }
        // A client that already saw the end (EventSource reconnecting after the
        // final event): 204 tells it to stop reconnecting.
        // Where the client resumes: `Last-Event-ID` (EventSource reconnecting) or
        // `?after=SEQ` (a first connection that already read the log up to SEQ).
        var resume = request.header("Last-Event-ID").flatMap(UInt64.init)
        if resume == nil { resume = try sequence(request, "after") }
        if job.status.isFinished, let last = resume, last >= job.sequence {
            return HTTPResponse(status: 204)
        }
        guard let stream = streams.open(jobID: id, engine: engine, resumeAfter: resume,
                                        principal: request.attachment as? Principal) else { throw notFound(request) }
        return HTTPResponse(status: 200, headers: [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
        ], body: .stream(stream))
    }

    /// `GET /api/jobs/:id/log`: the job's log as text (one line each; a first line
    /// says how many older lines were dropped), or `?format=jsonl` one JSON object
    /// per line; `?after=SEQ` for the lines after a sequence number.
    func log(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        let after = try sequence(request, "after") ?? 0
        let jsonl: Bool
        switch request.queryValue("format") {
        case nil, "text"?: jsonl = false
        case "jsonl"?: jsonl = true
        case let other?: throw HTTPError(400, "Invalid 'format' value '\(other.prefix(50))': use text or jsonl")
        }
        let found: JobLog?
        do { found = try engine.log(id, after: after) } catch { throw HTTPError(503, error.message) }
        guard let log = found else { throw notFound(request) }
        var body: [UInt8]
        if jsonl {
            var w = JSONWriter(capacity: log.bytes + log.lines.count * 64)
            for line in log.lines {
                w.logLine(line)
                w.raw("\n")
            }
            body = w.bytes
        } else {
            body = []
            body.reserveCapacity(log.bytes + 80)
            if log.dropped > 0 && after == 0 {
                body += Array("[\(log.dropped) earlier lines dropped: the log keeps the newest \(engine.maxLogBytes) bytes]\n".utf8)
            }
            for line in log.lines {
                body += line.text.utf8
                body.append(UInt8(ascii: "\n"))
            }
        }
        var headers = [("X-Log-Dropped", String(log.dropped))]
        if let last = log.lines.last { headers.append(("X-Log-Last-Seq", String(last.seq))) }
        return HTTPResponse(status: 200, headers: [("Content-Type", jsonl ? "application/x-ndjson" : "text/plain; charset=utf-8")] + headers,
                            body: .bytes(body))
    }

    /// A sequence number from the query (`after`), or nil when absent.
    func sequence(_ request: HTTPRequest, _ name: String) throws(HTTPError) -> UInt64? {
        guard let text = request.queryValue(name) else { return nil }
        guard text.utf8.count <= 19, let n = UInt64(text) else {
            throw HTTPError(400, "Invalid '\(name)' value '\(text.prefix(50))': must be a non-negative integer")
        }
        return n
    }

    func clearCompleted() throws(HTTPError) -> HTTPResponse {
        try answer({ [engine] done in engine.clearFinished(completion: done) }) { n in
            .json(JSONValue.object(JSONObject([("cleared", .int(Int64(n)))])).serialized())
        }
    }

    func fallback(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        if request.path == "/api" || request.path.hasPrefix("/api/") || request.path.hasPrefix("/ws/") || staticFiles == nil {
            throw HTTPError.notFound(String(request.path.prefix(200)))
        }
        return try staticFiles!.respond(request)
    }

    // MARK: Helpers

    /// A positive decimal id; anything else is a job that does not exist.
    func jobID(_ request: HTTPRequest) throws(HTTPError) -> Int64 {
        let text = request.parameter("id") ?? ""
        guard !text.isEmpty, text.utf8.count <= 18,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let id = Int64(text), id > 0 else { throw notFound(request) }
        return id
    }

    func notFound(_ request: HTTPRequest) -> HTTPError {
        HTTPError(404, "Job not found: \((request.parameter("id") ?? "").prefix(100))")
    }
}
