import Essentials
import HTTPServer
import JobEngine
import JobQueue

/// The Prometheus text format (version 0.0.4), written straight into bytes.
struct PrometheusWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 16 * 1024) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// `# HELP` and `# TYPE` of a family; its samples follow.
    mutating func family(_ name: String, _ type: String, _ help: String) {
        raw("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: String) {
        raw(name)
        if !labels.isEmpty {
            raw("{")
            for (i, (k, v)) in labels.enumerated() {
                if i > 0 { raw(",") }
                raw(k)
                raw("=\"")
                escape(v)
                raw("\"")
            }
            raw("}")
        }
        raw(" ")
        raw(value)
        raw("\n")
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) { sample(name, labels, String(value)) }
    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: UInt64) { sample(name, labels, String(value)) }
    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) { sample(name, labels, Self.number(value)) }

    /// `_bucket` (cumulative, `le`), `_sum` and `_count` of one histogram.
    mutating func histogram(_ name: String, _ labels: [(String, String)], _ h: Histogram) {
        var cumulative: UInt64 = 0
        for (i, bound) in h.bounds.enumerated() {
            cumulative += h.counts[i]
            sample(name + "_bucket", labels + [("le", Self.number(bound))], cumulative)
        }
        sample(name + "_bucket", labels + [("le", "+Inf")], h.count)
        sample(name + "_sum", labels, h.sum)
        sample(name + "_count", labels, h.count)
    }

    /// Label values escape backslash, double quote and newline.
    private mutating func escape(_ value: String) {
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\n"): raw("\\n")
            default: bytes.append(b)
            }
        }
    }

    /// Integers without a fraction (`1`, not `1.0`); others as Swift prints them.
    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}

extension JobRunnerAPI {
    /// `GET /metrics`: every family of docs/metrics.md, read at the scrape (the
    /// hot paths only bump counters).
    func metrics() -> HTTPResponse {
        var w = PrometheusWriter()
        let empty = QueueMetricsSnapshot(jobs: [:], runSeconds: [:], pickupSeconds: [:], stats: engine.queueStats())
        let q = engine.metrics() ?? empty
        let keys = q.jobs.keys.sorted { ($0.queue, $0.type) < ($1.queue, $1.type) }
        func labels(_ k: JobMetricKey) -> [(String, String)] { [("queue", k.queue), ("type", k.type)] }

        w.family("jobrunner_jobs", "gauge", "Jobs pending or running now, by queue, type and state.")
        for k in keys {
            let c = q.jobs[k]!
            w.sample("jobrunner_jobs", labels(k) + [("state", "pending")], c.pending)
            w.sample("jobrunner_jobs", labels(k) + [("state", "running")], c.running)
        }
        w.family("jobrunner_jobs_held", "gauge", "Jobs the daemon holds by state, as /api/stats counts them (finished ones until cleared or pruned).")
        for status in JobStatus.allCases { w.sample("jobrunner_jobs_held", [("state", status.rawValue)], q.stats[status]) }
        w.family("jobrunner_jobs_created_total", "counter", "Jobs created since the daemon started, by queue and type.")
        for k in keys { w.sample("jobrunner_jobs_created_total", labels(k), q.jobs[k]!.created) }
        w.family("jobrunner_jobs_finished_total", "counter", "Jobs that reached a final state since the daemon started, by queue, type and state.")
        for k in keys {
            let c = q.jobs[k]!
            w.sample("jobrunner_jobs_finished_total", labels(k) + [("state", "completed")], c.completed)
            w.sample("jobrunner_jobs_finished_total", labels(k) + [("state", "failed")], c.failed)
            w.sample("jobrunner_jobs_finished_total", labels(k) + [("state", "cancelled")], c.cancelled)
        }
        w.family("jobrunner_job_attempts_total", "counter", "Attempts started (first runs and retries), by queue and type.")
        for k in keys { w.sample("jobrunner_job_attempts_total", labels(k), q.jobs[k]!.attempts) }
        w.family("jobrunner_job_retries_total", "counter",
                 "Jobs put back to pending: after a failed attempt with attempts left (automatic) or by POST /api/jobs/:id/retry (manual).")
        for k in keys {
            let c = q.jobs[k]!
            w.sample("jobrunner_job_retries_total", labels(k) + [("kind", "automatic")], c.automaticRetries)
            w.sample("jobrunner_job_retries_total", labels(k) + [("kind", "manual")], c.manualRetries)
        }
        w.family("jobrunner_job_run_seconds", "histogram", "Run time of each attempt that ended (started to completed, failed or cancelled), by type.")
        for type in q.runSeconds.keys.sorted() { w.histogram("jobrunner_job_run_seconds", [("type", type)], q.runSeconds[type]!) }
        w.family("jobrunner_job_pickup_latency_seconds", "histogram",
                 "Seconds from a job being due (created, its run_at, or retried) to its attempt starting, by type.")
        for type in q.pickupSeconds.keys.sorted() {
            w.histogram("jobrunner_job_pickup_latency_seconds", [("type", type)], q.pickupSeconds[type]!)
        }

        let worker = engine.stats
        w.family("jobrunner_worker_slots", "gauge", "Jobs that may run at once (--concurrency).")
        w.sample("jobrunner_worker_slots", [], worker.capacity)
        w.family("jobrunner_worker_busy_slots", "gauge", "Job slots in use now.")
        w.sample("jobrunner_worker_busy_slots", [], worker.active)

        w.family("jobrunner_http_requests_total", "counter",
                 "HTTP responses by method, route pattern and status code (route 'other': static files and unknown paths).")
        if let counters = httpCounters.withLock({ $0 }) {
            for c in counters.snapshot() {
                w.sample("jobrunner_http_requests_total", [("method", c.method), ("route", c.route), ("code", c.code)], c.count)
            }
        }
        w.family("jobrunner_live_clients", "gauge", "Live clients: SSE streams and WebSocket connections.")
        w.sample("jobrunner_live_clients", [("kind", "sse")], streams.count)
        w.sample("jobrunner_live_clients", [("kind", "websocket")], sockets.count)

        w.family("jobrunner_store_failing", "gauge", "1 while the store cannot commit (changes are refused with 503), else 0.")
        w.sample("jobrunner_store_failing", [], engine.storageFailure == nil ? 0 : 1)
        w.family("jobrunner_draining", "gauge", "1 once the daemon is shutting down (new submissions refused), else 0.")
        w.sample("jobrunner_draining", [], shuttingDown.load(ordering: .relaxed) ? 1 : 0)
        if let store = engine.storeMetrics?.snapshot {
            w.family("jobrunner_store_commit_seconds", "histogram", "Time of each store transaction (writes and fsync).")
            w.histogram("jobrunner_store_commit_seconds", [], store.commitSeconds)
            w.family("jobrunner_store_commit_batch_size", "histogram", "Changes committed together in one store transaction (group commit).")
            w.histogram("jobrunner_store_commit_batch_size", [], store.batchSize)
            w.family("jobrunner_store_commit_failures_total", "counter", "Store transactions that failed (each retry counts).")
            w.sample("jobrunner_store_commit_failures_total", [], store.failures)
        }

        let p = ProcessStats.current()
        w.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
        w.sample("process_cpu_seconds_total", [], p.cpuSeconds)
        w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        w.sample("process_resident_memory_bytes", [], p.residentBytes)
        w.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
        w.sample("process_virtual_memory_bytes", [], p.virtualBytes)
        w.family("process_open_fds", "gauge", "Number of open file descriptors.")
        w.sample("process_open_fds", [], p.openFDs)
        w.family("process_max_fds", "gauge", "Maximum number of open file descriptors.")
        w.sample("process_max_fds", [], p.maxFDs)
        w.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        w.sample("process_start_time_seconds", [], p.startTimeSeconds)
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                                                   ("Cache-Control", "no-store")], body: .bytes(w.bytes))
    }
}
