import JSON
import JobEngine
import JobQueue

/// The JSON shapes of the API (docs/protocol.md), written straight into a `JSONWriter`.
extension JSONWriter {
    /// `{"seq":N,"ts":T,"stream":"stdout","line":"..."}`
    mutating func logLine(_ line: LogLine) {
        object { o in
            o.int("seq", Int64(line.seq))
            o.double("ts", line.ts)
            o.string("stream", line.stream.rawValue)
            o.string("line", line.text)
        }
    }

    mutating func progress(_ p: JobProgress) {
        object { o in
            o.int("percent", p.percent)
            o.string("message", p.message)
        }
    }

    /// The full job model.
    mutating func job(_ job: Job) {
        object { o in
            o.int("id", job.id)
            o.string("type", job.type)
            o.write("params", .object(job.params))
            o.string("status", job.status.rawValue)
            o.write("progress") { $0.progress(job.progress) }
            o.write("result", job.result ?? .null)
            o.string("error", job.error)
            o.double("created_at", job.createdAt)
            o.double("started_at", job.startedAt)
            o.double("completed_at", job.completedAt)
            o.string("queue", job.queue)
            o.int("priority", job.priority)
            o.double("run_at", job.runAt)
            o.int("attempt", job.attempt)
            o.int("max_attempts", job.maxAttempts)
            o.double("timeout", job.timeout)
            o.string("idempotency_key", job.idempotencyKey)
            o.string("schedule", job.schedule)
            // Several nodes on PostgreSQL: the node that runs (or ran) it; else null.
            o.string("node", job.node)
            o.array("errors", job.errors) { w, e in
                w.object { o in
                    o.int("attempt", e.attempt)
                    o.string("error", e.error)
                    o.double("at", e.at)
                }
            }
        }
    }

    /// `{"name":..,"paused":..,"concurrency":..[,"counts":{...}]}`
    mutating func queueSettings(_ name: String, _ settings: QueueSettings, counts: QueueStats?) {
        object { o in
            o.string("name", name)
            o.bool("paused", settings.paused)
            o.int("concurrency", settings.concurrency.map(Int64.init))
            if let counts { o.write("counts") { $0.queueStats(counts) } }
        }
    }

    mutating func jobs(_ jobs: [Job]) {
        array(jobs) { w, j in w.job(j) }
    }

    mutating func queueStats(_ s: QueueStats) {
        object { o in
            o.int("pending", s.pending)
            o.int("running", s.running)
            o.int("completed", s.completed)
            o.int("failed", s.failed)
            o.int("cancelled", s.cancelled)
            o.int("total", s.total)
        }
    }

    mutating func workerStats(_ w: WorkerStats) {
        object { o in
            o.int("active", w.active)
            o.int("capacity", w.capacity)
            o.int("processed", w.processed)
            o.bool("is_running", w.isRunning)
        }
    }

    mutating func jobTypes(_ registry: JobRegistry) {
        write(.array(registry.types.map(\.schema)))
    }
}

/// `{"error": message}`, the one place error bodies are made; `extra` adds
/// members after it (`job_id`, `count`).
func errorBody(_ message: String, extra: (inout JSONWriter.Members) -> Void = { _ in }) -> [UInt8] {
    var w = JSONWriter(capacity: 64 + message.utf8.count)
    w.object { o in
        o.string("error", message)
        extra(&o)
    }
    return w.bytes
}
