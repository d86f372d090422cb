import Essentials
import Glibc
import HTTPServer
import JSON
import JobEngine
import JobQueue

/// Where work runs: the named queues (`/api/queues`, their pause and
/// concurrency) and the nodes sharing the store (`/api/nodes`).
extension JobRunnerAPI {
    static let queueRoutes: [APIRoute] = [
        APIRoute("GET", "/api/queues", .scope(.read), handle: { api, _ in api.listQueues() }, doc: OpenAPI.listQueues),
        APIRoute("GET", "/api/nodes", .scope(.read), handle: { api, req in try api.listNodes(req) }, doc: OpenAPI.listNodes),
        APIRoute("PUT", "/api/queues/:name", .scope(.admin), handle: { api, req in try api.updateQueue(req) }, doc: OpenAPI.updateQueue),
    ]

    /// `GET /api/queues`: every named queue with its settings and counts.
    func listQueues() -> HTTPResponse {
        var w = JSONWriter(capacity: 256)
        w.array(engine.queues()) { w, q in w.queueSettings(q.name, q.settings, counts: q.counts) }
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
        w.array(nodes) { w, n in
            w.object { o in
                o.string("id", n.id)
                o.string("address", n.address)
                o.int("pid", n.pid)
                o.double("started_at", n.startedAt)
                o.double("heartbeat_at", n.heartbeatAt)
                o.int("running", n.running)
                o.bool("leader", n.leader)
                o.bool("self", shared == nil || n.id == me)
                o.bool("alive", n.alive)
            }
        }
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
}

extension OpenAPI {
    static func listQueues(_: JobRegistry) -> Doc {
        Doc(id: "listQueues", tag: "queues", summary: "Every named queue with its settings and counts",
            responses: ["200": response("The queues.", ["type": "array", "items": ref("Queue")])])
    }

    static func listNodes(_: JobRegistry) -> Doc {
        Doc(id: "listNodes", tag: "status", summary: "The nodes sharing the store",
            description: "Every daemon on the same PostgreSQL database, by id; one entry, this daemon, otherwise.",
            responses: ["200": response("The nodes.", ["type": "array", "items": ref("Node")]),
                        "503": error("The store cannot be read.")])
    }

    static func updateQueue(_: JobRegistry) -> Doc {
        Doc(id: "updateQueue", tag: "queues", summary: "Pause, resume or limit a queue",
            description: "Takes effect at once and is kept across restarts; a paused queue starts nothing (its running jobs go on).",
            parameters: [queueName], body: ref("QueueUpdate"),
            responses: ["200": response("The queue's settings.", ref("Queue")),
                        "400": error("Invalid JSON, a bad value, or an unknown field (the message names it).")])
    }
}
