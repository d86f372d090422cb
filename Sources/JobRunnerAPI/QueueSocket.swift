import Dispatch
import HTTPServer
import JSON
import JobEngine
import JobQueue
import Synchronization

extension JobRunnerAPI {
    /// The WebSocket: its handshake needs read; each command is checked as
    /// `AuthPolicy.commands` says.
    static let socketRoutes: [APIRoute] = [
        APIRoute("GET", "/ws/queue", .scope(.read), handle: { api, req in
            try HTTPResponse.webSocket(req, handler: api.sockets.handler(for: req.attachment as? Principal, address: req.remoteAddress))
        }, doc: .webSocket({ OpenAPIRules.queueSocket })),
    ]
}

/// The WebSocket queue protocol (docs/protocol.md): `queue_state` on connect, every
/// broadcast, and the commands with their replies.
final class QueueSocket: Sendable {
    private let engine: JobEngine
    private let limits: JSONLimits
    private let clients = Mutex<[ObjectIdentifier: WebSocket]>([:])
    /// Clients waiting for a `queue_state`, and whether `stateBuilder` is at work.
    private let stateRequests = Mutex<(waiting: [(WebSocket, WebSocket.SnapshotSlot)], building: Bool)>(([], false))
    private let stateBuilder = DispatchQueue(label: "queue-state")
    let shuttingDown = Atomic<Bool>(false)
    private let gate: AuthGate

    init(engine: JobEngine, maxMessageBytes: Int, gate: AuthGate) {
        self.engine = engine
        self.limits = JSONLimits(maxBytes: maxMessageBytes, maxDepth: 16)
        self.gate = gate
    }

    /// The handler for one connection, which remembers who opened it (each
    /// command is checked against that principal's scopes as they are now).
    func handler(for principal: Principal?, address: String?) -> WebSocketHandler {
        WebSocketHandler(
            onOpen: { [weak self] ws in
                ws.userInfo.withLock { $0["principal"] = principal; $0["address"] = address }
                self?.opened(ws)
            },
            onText: { [weak self] ws, text in self?.received(ws, text) },
            onClose: { [weak self] ws in self?.clients.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(ws)) } }
        )
    }

    var count: Int { clients.withLock { $0.count } }

    // MARK: Broadcasts

    /// Sends a queue event to every client. Its position is its sequence: a
    /// client's `queue_state` drops the events it already reflects. Progress
    /// frames of one job replace each other while unsent.
    func deliver(_ event: QueueEvent) {
        let targets = clients.withLock { Array($0.values) }
        guard !targets.isEmpty else { return }
        guard let body = EventEncoding.broadcast(event) else { return }
        let frame = WebSocketFrame.text(body)
        let key: Int64? = if case .progress = event.kind { event.jobID } else { nil }
        for ws in targets {
            ws.send(frame: frame, coalescingKey: key, sequence: event.position)
        }
    }

    func workerChanged(_ stats: WorkerStats) {
        broadcast(WebSocketFrame.text(EventEncoding.workerStats(stats)), key: -1)
    }

    /// The application-level `{"type":"ping","ts":X}`.
    func ping() {
        var w = JSONWriter()
        w.object { o in
            o.string("type", "ping")
            o.double("ts", epochNow())
        }
        broadcast(WebSocketFrame.text(w.bytes), key: nil)
    }

    private func broadcast(_ frame: [UInt8], key: Int64?) {
        for ws in clients.withLock({ Array($0.values) }) { ws.send(frame: frame, coalescingKey: key) }
    }

    /// Closes with 1008 every client whose token was revoked, whose session
    /// ended, or that lost the read scope.
    func revalidate() {
        for ws in clients.withLock({ Array($0.values) }) {
            let principal = ws.userInfo.withLock { $0["principal"] as? Principal }
            guard let principal else { continue }
            if gate.authenticator.refresh(principal)?.has(.read) != true {
                ws.close(.policyViolation, reason: "token revoked or session ended")
            }
        }
    }

    /// Ends every client with 1001.
    func closeAll() {
        for ws in clients.withLock({ Array($0.values) }) { ws.close(.goingAway, reason: "server shutting down") }
    }

    // MARK: Connection

    private func opened(_ ws: WebSocket) {
        // The snapshot's place is reserved before the client is registered, so
        // every event delivered to it goes after the snapshot; the snapshot is
        // taken after registration, so an event it misses is delivered.
        let slot = ws.reserveSnapshot()
        clients.withLock { $0[ObjectIdentifier(ws)] = ws }
        if let slot { fill(slot, of: ws) }
    }

    /// Sends `queue_state`: at most one per client at a time (a `get_state` while
    /// one is unsent is answered by that one).
    private func sendState(_ ws: WebSocket) {
        if let slot = ws.reserveSnapshot() { fill(slot, of: ws) }
    }

    /// Queues a client for the next snapshot. One thread (not the WebSocket
    /// thread, not the job workers' pool) takes every waiting client at once,
    /// takes one snapshot, writes its JSON once, outside every lock, and puts the
    /// same bytes in each client's place: a hundred dashboards connecting
    /// together cost one snapshot. Events delivered to a client before its state
    /// is taken are dropped (the snapshot reflects them), and so are those queued
    /// behind its place that it reflects.
    private func fill(_ slot: WebSocket.SnapshotSlot, of ws: WebSocket) {
        let start = stateRequests.withLock { r -> Bool in
            r.waiting.append((ws, slot))
            defer { r.building = true }
            return !r.building
        }
        if start { stateBuilder.async { [self] in buildStates() } }
    }

    private func buildStates() {
        while true {
            let waiting = stateRequests.withLock { r -> [(WebSocket, WebSocket.SnapshotSlot)] in
                defer { r.waiting = [] }
                if r.waiting.isEmpty { r.building = false }
                return r.waiting
            }
            if waiting.isEmpty { return }
            let started = waiting.filter { ws, slot in ws.beginSnapshot(slot) }
            if started.isEmpty { continue }
            let snapshot = engine.snapshot(pendingLimit: Self.stateLimit, finishedLimit: Self.stateLimit)
            let frame = WebSocketFrame.text(queueState(snapshot))
            for (ws, slot) in started { ws.fillSnapshot(slot, frame: frame, sequence: snapshot.position) }
        }
    }

    /// Pending jobs (from the head of the queue) and finished jobs (newest) in `queue_state`.
    static let stateLimit = 1000

    private func queueState(_ snapshot: QueueSnapshot) -> [UInt8] {
        var w = JSONWriter(capacity: 512 + snapshot.jobs.count * 256)
        w.object { o in
            o.string("type", "queue_state")
            o.write("jobs") { $0.jobs(snapshot.jobs) }
            o.bool("truncated", snapshot.truncated)
            o.write("stats") { $0.queueStats(snapshot.stats) }
            o.write("worker") { $0.workerStats(engine.stats) }
            o.write("job_types") { $0.jobTypes(engine.registry) }
        }
        return w.bytes
    }

    // MARK: Commands

    private func received(_ ws: WebSocket, _ text: String) {
        guard let message = try? JSONValue.parse(Array(text.utf8), limits: limits),
              case .object(let command) = message else { return }
        if let type = command["type"]?.stringValue {
            let (principal, address) = ws.userInfo.withLock { ($0["principal"] as? Principal, $0["address"] as? String) }
            switch gate.verdict(command: type, principal: principal, address: address) {
            case .allowed: break
            case .refused(let message): return send(ws, error(message))
            case .revoked: return ws.close(.policyViolation, reason: "token revoked or session ended")
            }
        }
        let reply: JSONValue
        switch command["type"]?.stringValue {
        case "create_job":
            createJob(command, ws)
            return
        case "cancel_job":
            cancelJob(command, ws)
            return
        case "retry_job":
            retryJob(command, ws)
            return
        case "clear_completed":
            engine.clearFinished { [self] result in
                switch result {
                case .success(let n): send(ws, ["type": "jobs_cleared_ack", "cleared": .int(Int64(n))])
                case .failure(let failure): send(ws, error(failure.message))
                }
            }
            return
        case "get_state":
            sendState(ws)
            return
        case "get_job_types":
            var w = JSONWriter(capacity: 2048)
            w.object { o in
                o.string("type", "job_types")
                o.write("job_types") { $0.jobTypes(engine.registry) }
            }
            ws.send(frame: WebSocketFrame.text(w.bytes))
            return
        case "ping":
            reply = ["type": "pong", "ts": command["ts"] ?? .null]
        case "pong":
            return
        case let other?:
            reply = error("Unknown message type: \(other.prefix(100))")
        case nil:
            reply = error("Missing 'type' field")
        }
        ws.send(frame: WebSocketFrame.text(reply.serialized()))
    }

    /// Replies once the job is durable and queued (its `job_created` broadcast
    /// goes out first), or with the validation or storage error.
    private func createJob(_ command: JSONObject, _ ws: WebSocket) {
        let reply = { @Sendable (value: JSONValue) -> Void in ws.send(frame: WebSocketFrame.text(value.serialized())) }
        guard !shuttingDown.load(ordering: .relaxed) else {
            reply(error("Shutting down"))
            return
        }
        guard let type = command["job_type"], !type.isNull else {
            reply(error("Missing 'job_type' field"))
            return
        }
        guard case .string(let name) = type else {
            reply(error("Invalid 'job_type' field: must be a string"))
            return
        }
        let options: JobOptions
        do { options = try JobOptions.parse(command, now: engine.now) } catch {
            reply(self.error(error.message))
            return
        }
        do {
            try engine.submit(type: name, params: command["params"], options: options) { result in
                switch result {
                case .success(let submitted):
                    var ack: JSONObject = ["type": "job_created_ack", "job_id": .int(submitted.job.id)]
                    if submitted.duplicate { ack["duplicate"] = true }
                    reply(.object(ack))
                case .failure(let failure): reply(["type": "error", "message": .string(failure.message)])
                }
            }
        } catch {
            reply(self.error(error.message))
        }
    }

    /// `{"type":"retry_job","job_id":ID}` → `job_retried_ack` once committed.
    private func retryJob(_ command: JSONObject, _ ws: WebSocket) {
        guard case .int(let id)? = command["job_id"], id > 0 else { return send(ws, error("Missing or invalid 'job_id' field")) }
        engine.retry(id) { [self] result in
            switch result {
            case .success(.retried): send(ws, ["type": "job_retried_ack", "job_id": .int(id)])
            case .success(.notFound): send(ws, error("Job not found: \(id)"))
            case .success(.notRetryable(let status)): send(ws, error("Cannot retry job in status: \(status.rawValue)"))
            case .failure(let failure): send(ws, error(failure.message))
            }
        }
    }

    private func send(_ ws: WebSocket, _ reply: JSONValue) {
        ws.send(frame: WebSocketFrame.text(reply.serialized()))
    }

    /// Replies once the cancel is committed, or with why it did not happen.
    private func cancelJob(_ command: JSONObject, _ ws: WebSocket) {
        guard let raw = command["job_id"], !raw.isNull else { return send(ws, error("Missing 'job_id' field")) }
        let id: Int64?
        switch raw {
        case .int(let i): id = i
        case .string(let s): id = Int64(s)
        default: id = nil
        }
        guard let id, id > 0 else { return send(ws, error("Job not found: \(raw.jsonString.prefix(100))")) }
        engine.cancel(id) { [self] result in
            switch result {
            case .success(.cancelled): send(ws, ["type": "job_cancelled_ack", "job_id": .int(id), "success": true])
            case .success(.notFound): send(ws, error("Job not found: \(id)"))
            case .success(.notCancellable(let status)): send(ws, error("Cannot cancel job in status: \(status.rawValue)"))
            case .failure(let failure): send(ws, error(failure.message))
            }
        }
    }

    private func error(_ message: String) -> JSONValue {
        ["type": "error", "message": .string(message)]
    }
}
