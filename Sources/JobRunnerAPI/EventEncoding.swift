import JSON
import JobEngine
import JobQueue

/// The wire forms of queue events: WebSocket broadcasts and SSE events, each
/// written once per event and shared by every client.
enum EventEncoding {
    /// `{"type":T,"data":{...}}` for the WebSocket, or nil for events not
    /// broadcast (log lines go to the job's SSE stream only).
    static func broadcast(_ event: QueueEvent) -> [UInt8]? {
        var w = JSONWriter(capacity: 192)
        switch event.kind {
        case .log:
            return nil
        case .retrying(let attempt, let runAt, let error):
            w.raw("{\"type\":\"job_retrying\",\"data\":{\"job_id\":")
            w.int(event.jobID)
            w.raw(",\"attempt\":")
            w.int(Int64(attempt))
            w.raw(",\"run_at\":")
            w.double(runAt)
            w.raw(",\"error\":")
            w.string(error)
            w.raw("}}")
        case .retried(let job):
            w.raw("{\"type\":\"job_retried\",\"data\":")
            w.job(job)
            w.raw("}")
        case .scheduleUpdated(let schedule):
            w.raw("{\"type\":\"schedule_updated\",\"data\":")
            w.write(.object(schedule.json))
            w.raw("}")
        case .scheduleDeleted(let name):
            w.raw("{\"type\":\"schedule_deleted\",\"data\":{\"name\":")
            w.string(name)
            w.raw("}}")
        case .queueUpdated(let name, let settings):
            w.raw("{\"type\":\"queue_updated\",\"data\":")
            w.queueSettings(name, settings, counts: nil)
            w.raw("}")
        case .pruned(let counts):
            w.raw("{\"type\":\"jobs_pruned\",\"data\":{\"count\":")
            w.int(Int64(counts.total))
            w.raw(",\"completed\":")
            w.int(Int64(counts.completed))
            w.raw(",\"failed\":")
            w.int(Int64(counts.failed))
            w.raw(",\"cancelled\":")
            w.int(Int64(counts.cancelled))
            w.raw("}}")
        case .created(let job):
            w.raw("{\"type\":\"job_created\",\"data\":")
            w.job(job)
            w.raw("}")
        case .started(let startedAt, let node):
            w.raw("{\"type\":\"job_started\",\"data\":{\"job_id\":")
            w.int(event.jobID)
            w.raw(",\"started_at\":")
            w.double(startedAt)
            w.raw(",\"node\":")
            if let node { w.string(node) } else { w.raw("null") }
            w.raw("}}")
        case .progress(let p):
            w.raw("{\"type\":\"job_progress\",\"data\":{\"job_id\":")
            w.int(event.jobID)
            w.raw(",\"percent\":")
            w.int(Int64(p.percent))
            w.raw(",\"message\":")
            w.string(p.message)
            w.raw("}}")
        case .completed(let result, let duration):
            w.raw("{\"type\":\"job_completed\",\"data\":{\"job_id\":")
            w.int(event.jobID)
            w.raw(",\"result\":")
            w.write(result)
            w.raw(",\"duration\":")
            w.double(duration)
            w.raw("}}")
        case .failed(let error):
            w.raw("{\"type\":\"job_failed\",\"data\":{\"job_id\":")
            w.int(event.jobID)
            w.raw(",\"error\":")
            w.string(error)
            w.raw("}}")
        case .cancelled:
            w.raw("{\"type\":\"job_cancelled\",\"data\":{\"job_id\":")
            w.int(event.jobID)
            w.raw("}}")
        case .cleared(let count, _):
            w.raw("{\"type\":\"jobs_cleared\",\"data\":{\"count\":")
            w.int(Int64(count))
            w.raw("}}")
        }
        return w.bytes
    }

    static func workerStats(_ stats: WorkerStats) -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.raw("{\"type\":\"worker_stats\",\"data\":")
        w.workerStats(stats)
        w.raw("}")
        return w.bytes
    }

    // MARK: SSE

    /// `id: N\nevent: NAME\ndata: JSON\n\n` (no `id:` line for a nil id).
    static func sse(id: UInt64?, event name: StaticString, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 160)
        if let id {
            w.raw("id: ")
            w.int(Int64(id))
            w.raw("\n")
        }
        w.raw("event: ")
        w.raw(name)
        w.raw("\ndata: ")
        body(&w)
        w.raw("\n\n")
        return w.bytes
    }

    /// The SSE form of a live event about one job, or nil if the stream does not carry it.
    static func sse(_ event: QueueEvent) -> [UInt8]? {
        switch event.kind {
        case .progress(let p):
            return sse(id: event.sequence, event: "progress") { $0.progress(p) }
        case .completed(let result, let duration):
            return sseComplete(id: event.sequence, result: result, duration: duration)
        case .failed(let error):
            return sseFailed(id: event.sequence, error: error)
        case .cancelled:
            return sse(id: event.sequence, event: "cancelled") { w in
                w.raw("{\"job_id\":")
                w.int(event.jobID)
                w.raw("}")
            }
        case .log(let lines):
            var bytes: [UInt8] = []
            for line in lines { bytes += sseLog(line) }
            return bytes
        case .retrying(let attempt, let runAt, let error):
            return sse(id: event.sequence, event: "retrying") { w in
                w.raw("{\"attempt\":")
                w.int(Int64(attempt))
                w.raw(",\"run_at\":")
                w.double(runAt)
                w.raw(",\"error\":")
                w.string(error)
                w.raw("}")
            }
        case .started, .created, .cleared, .pruned, .retried, .queueUpdated, .scheduleUpdated, .scheduleDeleted:
            return nil
        }
    }

    /// `event: log` with the line's JSON; its `id:` is the line's sequence number.
    static func sseLog(_ line: LogLine) -> [UInt8] {
        sse(id: line.seq, event: "log") { $0.logLine(line) }
    }

    static func sseComplete(id: UInt64, result: JSONValue, duration: Double) -> [UInt8] {
        sse(id: id, event: "complete") { w in
            w.raw("{\"status\":\"completed\",\"result\":")
            w.write(result)
            w.raw(",\"duration\":")
            w.double(duration)
            w.raw("}")
        }
    }

    static func sseFailed(id: UInt64, error: String) -> [UInt8] {
        sse(id: id, event: "failed") { w in
            w.raw("{\"status\":\"failed\",\"error\":")
            w.string(error)
            w.raw("}")
        }
    }

    /// The first event of every stream: where the job stands now.
    static func sseStatus(_ job: Job, withID: Bool = true) -> [UInt8] {
        sse(id: withID ? job.sequence : nil, event: "status") { w in
            w.raw("{\"id\":")
            w.int(job.id)
            w.raw(",\"type\":")
            w.string(job.type)
            w.raw(",\"status\":")
            w.string(job.status.rawValue)
            w.raw(",\"progress\":")
            w.progress(job.progress)
            w.raw(",\"started_at\":")
            w.optionalDouble(job.startedAt)
            w.raw("}")
        }
    }

    /// The final event for a job that had already finished when the client connected.
    static func sseFinal(_ job: Job) -> [UInt8]? {
        switch job.status {
        case .completed:
            return sseComplete(id: job.sequence, result: job.result ?? .null, duration: job.duration ?? 0)
        case .failed:
            return sseFailed(id: job.sequence, error: job.error ?? "")
        case .cancelled:
            return sse(id: job.sequence, event: "cancelled") { $0.raw("{\"status\":\"cancelled\"}") }
        case .pending, .running:
            return nil
        }
    }
}
