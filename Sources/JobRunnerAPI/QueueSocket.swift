import HTTPServer
import JSON
import JobEngine
import JobQueue
import Synchronization

/// The WebSocket queue protocol (docs/protocol.md): `queue_state` on connect, every
/// broadcast, and the commands with their replies.
final class QueueSocket: Sendable {
    private struct Client {
        let socket: WebSocket
        /// Broadcasts at or before this queue position are already in its `queue_state`.
        let position: UInt64
    }

    private let engine: JobEngine
    private let limits: JSONLimits
    private let clients = Mutex<[ObjectIdentifier: Client]>([:])
    let shuttingDown = Atomic<Bool>(false)

    init(engine: JobEngine, maxMessageBytes: Int) {
        self.engine = engine
        self.limits = JSONLimits(maxBytes: maxMessageBytes, maxDepth: 16)
    }

    var handler: WebSocketHandler {
        WebSocketHandler(
            onOpen: { [weak self] ws in self?.opened(ws) },
            onText: { [weak self] ws, text in self?.received(ws, text) },
            onClose: { [weak self] ws in self?.clients.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(ws)) } }
        )
    }

    var count: Int { clients.withLock { $0.count } }

    // MARK: Broadcasts

    /// Sends a queue event to every client whose snapshot predates it. Progress
    /// frames of one job replace each other while unsent.
    func deliver(_ event: QueueEvent) {
        let targets = clients.withLock { Array($0.values) }
        guard !targets.isEmpty else { return }
        guard let body = EventEncoding.broadcast(event) else { return }
        let frame = WebSocketFrame.text(body)
        let key: Int64? = if case .progress = event.kind { event.jobID } else { nil }
        for c in targets where event.position > c.position {
            c.socket.send(frame: frame, coalescingKey: key)
        }
    }

    func workerChanged(_ stats: WorkerStats) {
        broadcast(WebSocketFrame.text(EventEncoding.workerStats(stats)), key: -1)
    }

    /// The application-level `{"type":"ping","ts":X}`.
    func ping() {
        var w = JSONWriter()
        w.raw("{\"type\":\"ping\",\"ts\":")
        w.double(epochNow())
        w.raw("}")
        broadcast(WebSocketFrame.text(w.bytes), key: nil)
    }

    private func broadcast(_ frame: [UInt8], key: Int64?) {
        for c in clients.withLock({ Array($0.values) }) { c.socket.send(frame: frame, coalescingKey: key) }
    }

    /// Ends every client with 1001.
    func closeAll() {
        for c in clients.withLock({ Array($0.values) }) { c.socket.close(.goingAway, reason: "server shutting down") }
    }

    // MARK: Connection

    private func opened(_ ws: WebSocket) {
        // Snapshot and registration under one lock: every later event is either
        // in the snapshot or delivered after it, never both, never neither.
        clients.withLock { all in
            let snapshot = engine.snapshot()
            ws.send(frame: WebSocketFrame.text(queueState(snapshot)), exempt: true)
            all[ObjectIdentifier(ws)] = Client(socket: ws, position: snapshot.position)
        }
    }

    private func queueState(_ snapshot: QueueSnapshot) -> [UInt8] {
        var w = JSONWriter(capacity: 512 + snapshot.jobs.count * 256)
        w.raw("{\"type\":\"queue_state\",\"jobs\":")
        w.jobs(snapshot.jobs)
        w.raw(",\"stats\":")
        w.queueStats(snapshot.stats)
        w.raw(",\"worker\":")
        w.workerStats(engine.stats)
        w.raw(",\"job_types\":")
        w.jobTypes(engine.registry)
        w.raw("}")
        return w.bytes
    }

    // MARK: Commands

    private func received(_ ws: WebSocket, _ text: String) {
        guard let message = try? JSONValue.parse(Array(text.utf8), limits: limits),
              case .object(let command) = message else { return }
        let reply: JSONValue
        switch command["type"]?.stringValue {
        case "create_job":
            createJob(command, ws)
            return
        case "cancel_job":
            cancelJob(command, ws)
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
            ws.send(frame: WebSocketFrame.text(queueState(engine.snapshot())), exempt: true)
            return
        case "get_job_types":
            var w = JSONWriter(capacity: 2048)
            w.raw("{\"type\":\"job_types\",\"job_types\":")
            w.jobTypes(engine.registry)
            w.raw("}")
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
        do {
            try engine.submit(type: name, params: command["params"]) { result in
                switch result {
                case .success(let job): reply(["type": "job_created_ack", "job_id": .int(job.id)])
                case .failure(let failure): reply(["type": "error", "message": .string(failure.message)])
                }
            }
        } catch {
            reply(self.error(error.message))
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
