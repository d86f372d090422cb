import HTTPServer
import JSON
import JobEngine
import JobQueue

/// How the daemon is doing: `/healthz`, `/readyz`, `/api/stats` and `/metrics`
/// (the Prometheus text itself is `Metrics.swift`).
extension JobRunnerAPI {
    static let statusRoutes: [APIRoute] = [
        APIRoute("GET", "/api/stats", .scope(.read), handle: { api, _ in api.stats() }, doc: OpenAPI.getStats),
        APIRoute("GET", "/healthz", .open, handle: { _, _ in .json(status("ok")) }, doc: OpenAPI.health),
        APIRoute("GET", "/readyz", .open, handle: { api, _ in api.readiness() }, doc: OpenAPI.ready),
        // Prometheus scrapes with a bearer token (docs/security.md).
        APIRoute("GET", "/metrics", .scope(.read), handle: { api, _ in
            guard api.configuration.metrics else { throw HTTPError(404, "Metrics are turned off (--metrics off)") }
            return api.metrics()
        }, doc: OpenAPI.metrics),
    ]

    func stats() -> HTTPResponse {
        var w = JSONWriter()
        w.object { o in
            o.write("queue") { $0.queueStats(engine.queueStats()) }
            o.write("worker") { $0.workerStats(engine.stats) }
            // Beside the documented queue and worker: live clients by kind.
            o.object("clients") { o in
                o.int("sse", streams.count)
                o.int("websocket", sockets.count)
            }
        }
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
            pending.complete(missing.isEmpty ? .json(Self.status("ready"))
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
        var w = JSONWriter()
        w.object { o in
            o.string("status", "not ready")
            o.string("error", reasons[0])
            o.array("reasons", reasons) { $0.string($1) }
        }
        return .json(w.bytes, status: 503)
    }

    /// `{"status": text}`.
    static func status(_ text: String) -> [UInt8] {
        var w = JSONWriter(capacity: 32)
        w.object { $0.string("status", text) }
        return w.bytes
    }
}

extension OpenAPI {
    static func getStats(_: JobRegistry) -> Doc {
        Doc(id: "getStats", tag: "status", summary: "Job counts and worker figures",
            responses: ["200": response("Counts per status, worker figures, live clients.", ref("Stats"))])
    }

    static func health(_: JobRegistry) -> Doc {
        Doc(id: "health", tag: "status", summary: "Alive",
            responses: ["200": response("The process serves.", ["type": "object", "required": ["status"],
                                                                     "properties": ["status": ["const": "ok"]]])])
    }

    static func ready(_: JobRegistry) -> Doc {
        Doc(id: "ready", tag: "status", summary: "Ready to take work",
            responses: ["200": response("The store commits and the daemon is not draining.", ref("Readiness")),
                        "503": response("Draining, or the store cannot commit.", ref("Readiness"))])
    }

    static func metrics(_: JobRegistry) -> Doc {
        Doc(id: "metrics", tag: "status", summary: "Prometheus metrics",
            description: "The Prometheus text format (version 0.0.4): jobs, run and pickup times, HTTP requests, clients, the store and the process; see docs/metrics.md.",
            responses: ["200": ["description": "The metrics.", "content": ["text/plain": ["schema": ["type": "string"]]]],
                        "404": error("Metrics are turned off (--metrics off).")])
    }
}
