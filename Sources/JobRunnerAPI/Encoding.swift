import JSON
import JobEngine
import JobQueue

/// The JSON shapes of the API (docs/protocol.md), written straight into a `JSONWriter`.
extension JSONWriter {
    mutating func optionalDouble(_ value: Double?) {
        if let value { double(value) } else { raw("null") }
    }

    /// `{"seq":N,"ts":T,"stream":"stdout","line":"..."}`
    mutating func logLine(_ line: LogLine) {
        raw("{\"seq\":")
        int(Int64(line.seq))
        raw(",\"ts\":")
        double(line.ts)
        raw(",\"stream\":")
        string(line.stream.rawValue)
        raw(",\"line\":")
        string(line.text)
        raw("}")
    }

    mutating func progress(_ p: JobProgress) {
        raw("{\"percent\":")
        int(Int64(p.percent))
        raw(",\"message\":")
        string(p.message)
        raw("}")
    }

    /// The full job model.
    mutating func job(_ job: Job) {
        raw("{\"id\":")
        int(job.id)
        raw(",\"type\":")
        string(job.type)
        raw(",\"params\":")
        write(.object(job.params))
        raw(",\"status\":")
        string(job.status.rawValue)
        raw(",\"progress\":")
        progress(job.progress)
        raw(",\"result\":")
        write(job.result ?? .null)
        raw(",\"error\":")
        if let e = job.error { string(e) } else { raw("null") }
        raw(",\"created_at\":")
        double(job.createdAt)
        raw(",\"started_at\":")
        optionalDouble(job.startedAt)
        raw(",\"completed_at\":")
        optionalDouble(job.completedAt)
        raw(",\"queue\":")
        string(job.queue)
        raw(",\"priority\":")
        int(Int64(job.priority))
        raw(",\"run_at\":")
        optionalDouble(job.runAt)
        raw(",\"attempt\":")
        int(Int64(job.attempt))
        raw(",\"max_attempts\":")
        int(Int64(job.maxAttempts))
        raw(",\"timeout\":")
        optionalDouble(job.timeout)
        raw(",\"idempotency_key\":")
        if let k = job.idempotencyKey { string(k) } else { raw("null") }
        raw(",\"schedule\":")
        if let sch = job.schedule { string(sch) } else { raw("null") }
        // Several nodes on PostgreSQL: the node that runs (or ran) it; else null.
        raw(",\"node\":")
        if let node = job.node { string(node) } else { raw("null") }
        raw(",\"errors\":[")
        for (i, e) in job.errors.enumerated() {
            if i > 0 { raw(",") }
            raw("{\"attempt\":")
            int(Int64(e.attempt))
            raw(",\"error\":")
            string(e.error)
            raw(",\"at\":")
            double(e.at)
            raw("}")
        }
        raw("]}")
    }

    /// `{"name":..,"paused":..,"concurrency":..[,"counts":{...}]}`
    mutating func queueSettings(_ name: String, _ settings: QueueSettings, counts: QueueStats?) {
        raw("{\"name\":")
        string(name)
        raw(",\"paused\":")
        raw(settings.paused ? "true" : "false")
        raw(",\"concurrency\":")
        if let c = settings.concurrency { int(Int64(c)) } else { raw("null") }
        if let counts {
            raw(",\"counts\":")
            queueStats(counts)
        }
        raw("}")
    }

    mutating func jobs(_ jobs: [Job]) {
        raw("[")
        for (i, j) in jobs.enumerated() {
            if i > 0 { raw(",") }
            job(j)
        }
        raw("]")
    }

    mutating func queueStats(_ s: QueueStats) {
        raw("{\"pending\":")
        int(Int64(s.pending))
        raw(",\"running\":")
        int(Int64(s.running))
        raw(",\"completed\":")
        int(Int64(s.completed))
        raw(",\"failed\":")
        int(Int64(s.failed))
        raw(",\"cancelled\":")
        int(Int64(s.cancelled))
        raw(",\"total\":")
        int(Int64(s.total))
        raw("}")
    }

    mutating func workerStats(_ w: WorkerStats) {
        raw("{\"active\":")
        int(Int64(w.active))
        raw(",\"capacity\":")
        int(Int64(w.capacity))
        raw(",\"processed\":")
        int(Int64(w.processed))
        raw(",\"is_running\":")
        raw(w.isRunning ? "true" : "false")
        raw("}")
    }

    mutating func jobTypes(_ registry: JobRegistry) {
        write(.array(registry.types.map(\.schema)))
    }
}

/// `{"error": message}`, the one place error bodies are made.
func errorBody(_ message: String, extra: JSONObject = JSONObject()) -> [UInt8] {
    var object = JSONObject()
    object["error"] = .string(message)
    for m in extra { object[m.key] = m.value }
    return JSONValue.object(object).serialized()
}
