import JSON
import JobEngine
import JobQueue

/// The wire forms of queue events: WebSocket broadcasts and SSE events, each
/// written once per event and shared by every client.
enum EventEncoding {
    /// `{"type":T,"data":{...}}` for the WebSocket, or nil for events not
    /// broadcast (log lines go to the job's SSE stream only).
    static func broadcast(_ event: QueueEvent) -> [UInt8]? {
        switch event.kind {
        case .log:
            return nil
        case .retrying(let attempt, let runAt, let error):
            return message("job_retrying") { o in
                o.int("job_id", event.jobID)
                o.int("attempt", attempt)
                o.double("run_at", runAt)
                o.string("error", error)
            }
        case .retried(let job):
            return message("job_retried", data: { $0.job(job) })
        case .scheduleUpdated(let schedule):
            return message("schedule_updated", data: { $0.write(.object(schedule.json)) })
        case .scheduleDeleted(let name):
            return message("schedule_deleted") { $0.string("name", name) }
        case .queueUpdated(let name, let settings):
            return message("queue_updated", data: { $0.queueSettings(name, settings, counts: nil) })
        case .pruned(let counts):
            return message("jobs_pruned") { o in
                o.int("count", counts.total)
                o.int("completed", counts.completed)
                o.int("failed", counts.failed)
                o.int("cancelled", counts.cancelled)
            }
        case .created(let job):
            return message("job_created", data: { $0.job(job) })
        case .started(let startedAt, let node):
            return message("job_started") { o in
                o.int("job_id", event.jobID)
                o.double("started_at", startedAt)
                o.string("node", node)
            }
        case .progress(let p):
            return message("job_progress") { o in
                o.int("job_id", event.jobID)
                o.int("percent", p.percent)
                o.string("message", p.message)
            }
        case .completed(let result, let duration):
            return message("job_completed") { o in
                o.int("job_id", event.jobID)
                o.write("result", result)
                o.double("duration", duration)
            }
        case .failed(let error):
            return message("job_failed") { o in
                o.int("job_id", event.jobID)
                o.string("error", error)
            }
        case .cancelled:
            return message("job_cancelled") { $0.int("job_id", event.jobID) }
        case .cleared(let count, _):
            return message("jobs_cleared") { $0.int("count", count) }
        }
    }

    static func workerStats(_ stats: WorkerStats) -> [UInt8] {
        message("worker_stats", capacity: 128, data: { $0.workerStats(stats) })
    }

    /// `{"type":TYPE,"data":{...members}}`.
    static func message(_ type: String, capacity: Int = 192, _ data: (inout JSONWriter.Members) -> Void) -> [UInt8] {
        message(type, capacity: capacity, data: { $0.object(data) })
    }

    /// `{"type":TYPE,"data":DATA}` with the data `data` writes.
    static func message(_ type: String, capacity: Int = 192, data: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: capacity)
        w.object { o in
            o.string("type", type)
            o.write("data", data)
        }
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
            return sse(id: event.sequence, event: "cancelled") { $0.object { $0.int("job_id", event.jobID) } }
        case .log(let lines):
            var bytes: [UInt8] = []
            for line in lines { bytes += sseLog(line) }
            return bytes
        case .retrying(let attempt, let runAt, let error):
            return sse(id: event.sequence, event: "retrying") { w in
                w.object { o in
                    o.int("attempt", attempt)
                    o.double("run_at", runAt)
                    o.string("error", error)
                }
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
            w.object { o in
                o.string("status", "completed")
                o.write("result", result)
                o.double("duration", duration)
            }
        }
    }

    static func sseFailed(id: UInt64, error: String) -> [UInt8] {
        sse(id: id, event: "failed") { w in
            w.object { o in
                o.string("status", "failed")
                o.string("error", error)
            }
        }
    }

    /// The first event of every stream: where the job stands now.
    static func sseStatus(_ job: Job, withID: Bool = true) -> [UInt8] {
        sse(id: withID ? job.sequence : nil, event: "status") { w in
            w.object { o in
                o.int("id", job.id)
                o.string("type", job.type)
                o.string("status", job.status.rawValue)
                o.write("progress") { $0.progress(job.progress) }
                o.double("started_at", job.startedAt)
            }
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
            return sse(id: job.sequence, event: "cancelled") { $0.object { $0.string("status", "cancelled") } }
        case .pending, .running:
            return nil
        }
    }
}
