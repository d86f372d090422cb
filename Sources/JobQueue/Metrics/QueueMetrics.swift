import Synchronization

/// A histogram with fixed upper bounds (Prometheus' `le`): a count per bucket
/// (not cumulative; the last bucket is +Inf), the sum and the count.
public struct Histogram: Sendable, Equatable {
    public let bounds: [Double]
    /// One more than `bounds`: the last counts what is above every bound.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ value: Double) {
        let v = value.isFinite ? Swift.max(value, 0) : 0
        // Binary search: the first bound >= v.
        var lo = 0, hi = bounds.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bounds[mid] >= v { hi = mid } else { lo = mid + 1 }
        }
        counts[lo] += 1
        sum += v
        count += 1
    }

    /// Job run time: milliseconds to hours.
    public static let runSeconds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800]
    /// From due to started: microseconds (an idle worker) to an hour (a backlog).
    public static let pickupSeconds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
    /// One store transaction (with its fsync).
    public static let commitSeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    /// Submissions (changes) committed in one transaction.
    public static let batchSizes: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384]
}

/// The labels of the per-job metrics: a queue and a type, each bounded.
public struct JobMetricKey: Hashable, Sendable {
    public let queue: String
    public let type: String

    public init(queue: String, type: String) {
        self.queue = queue
        self.type = type
    }
}

/// Per (queue, type): live jobs (gauges) and transitions since the start (counters).
public struct JobCounters: Sendable, Equatable {
    public var pending = 0
    public var running = 0
    public var created: UInt64 = 0
    /// Attempts started (a job's first run and each retry).
    public var attempts: UInt64 = 0
    /// Failed attempts put back to pending for another attempt (backoff).
    public var automaticRetries: UInt64 = 0
    /// Failed or cancelled jobs put back to pending by a client (`POST .../retry`).
    public var manualRetries: UInt64 = 0
    public var completed: UInt64 = 0
    public var failed: UInt64 = 0
    public var cancelled: UInt64 = 0

    public init() {}
}

/// What `/metrics` shows of the queue, read under the queue's lock.
public struct QueueMetricsSnapshot: Sendable {
    public var jobs: [JobMetricKey: JobCounters]
    /// By type: seconds each attempt ran (started to ended).
    public var runSeconds: [String: Histogram]
    /// By type: seconds from due (created, its `run_at`, or retried) to started.
    public var pickupSeconds: [String: Histogram]
    /// The counts of `/api/stats` (what the store holds, by status).
    public var stats: QueueStats

    public init(jobs: [JobMetricKey: JobCounters] = [:], runSeconds: [String: Histogram] = [:],
                pickupSeconds: [String: Histogram] = [:], stats: QueueStats = QueueStats()) {
        self.jobs = jobs
        self.runSeconds = runSeconds
        self.pickupSeconds = pickupSeconds
        self.stats = stats
    }
}

/// The queue's metrics, kept in the visible layer: updated as committed changes
/// are applied, under the queue's lock that applying already holds (nothing
/// else is locked, nothing is called out). Off until `JobQueue.enableMetrics`.
///
/// Label values are bounded: the first `maxQueues` queue names and `maxTypes`
/// type names seen get their own label, later ones share `overflowLabel`
/// (clients can name queues, so their number is not bounded otherwise).
///
/// Figures sit in arrays by slot (one per queue and type) and by type; the slot
/// of the last job seen is remembered, so a run of jobs of one queue and type
/// (the common case) costs two string comparisons, no hashing.
struct QueueMetrics {
    static let overflowLabel = "~other"

    var enabled = false
    var maxQueues = 100
    var maxTypes = 200
    private var queueLabels: Set<String> = []
    private var typeLabels: Set<String> = []
    /// By slot: its labels, its figures, its type's index.
    private(set) var keys: [JobMetricKey] = []
    private(set) var counters: [JobCounters] = []
    private var slotType: [Int] = []
    private var slotOf: [JobMetricKey: Int] = [:]
    /// By type index: its label and histograms.
    private(set) var types: [String] = []
    private(set) var run: [Histogram] = []
    private(set) var pickup: [Histogram] = []
    private var typeOf: [String: Int] = [:]
    private var lastQueue = ""
    private var lastType = ""
    private var lastSlot = -1
    /// Jobs a client retried: when they became pending again (their pickup starts there).
    private var pendingSince: [Int64: Double] = [:]

    private static func label(_ value: String, _ set: inout Set<String>, _ max: Int) -> String {
        if set.contains(value) { return value }
        if set.count < max {
            set.insert(value)
            return value
        }
        return Self.overflowLabel
    }

    private mutating func slot(_ job: Job) -> Int {
        if lastSlot >= 0 && job.queue == lastQueue && job.type == lastType { return lastSlot }
        let key = JobMetricKey(queue: Self.label(job.queue, &queueLabels, maxQueues),
                               type: Self.label(job.type, &typeLabels, maxTypes))
        let s: Int
        if let found = slotOf[key] {
            s = found
        } else {
            s = keys.count
            slotOf[key] = s
            keys.append(key)
            counters.append(JobCounters())
            if let t = typeOf[key.type] {
                slotType.append(t)
            } else {
                typeOf[key.type] = types.count
                slotType.append(types.count)
                types.append(key.type)
                run.append(Histogram(bounds: Histogram.runSeconds))
                pickup.append(Histogram(bounds: Histogram.pickupSeconds))
            }
        }
        lastQueue = job.queue
        lastType = job.type
        lastSlot = s
        return s
    }

    /// Counts a job in memory as metrics are turned on (pending and running ones are all in memory).
    mutating func count(existing job: Job) {
        switch job.status {
        case .pending: counters[slot(job)].pending += 1
        case .running: counters[slot(job)].running += 1
        default: break
        }
    }

    /// A committed new job.
    mutating func created(_ job: Job) {
        guard enabled else { return }
        let s = slot(job)
        counters[s].created += 1
        counters[s].pending += 1
    }

    /// A committed change of status.
    mutating func moved(from old: Job, to job: Job, now: Double) {
        guard enabled else { return }
        let s = slot(job)
        let t = slotType[s]
        switch old.status {
        case .pending: counters[s].pending -= 1
        case .running:
            counters[s].running -= 1
            // The attempt ended: as the change says (finished, or the retry's error), else now.
            let end = job.completedAt ?? job.errors.last?.at ?? now
            if let started = old.startedAt { run[t].observe(end - started) }
        case .completed, .failed, .cancelled: break
        }
        switch job.status {
        case .pending:
            counters[s].pending += 1
            if old.status == .running {
                counters[s].automaticRetries += 1
            } else {
                counters[s].manualRetries += 1
                pendingSince[job.id] = now
            }
        case .running:
            counters[s].running += 1
            counters[s].attempts += 1
            var due = Swift.max(old.createdAt, old.runAt ?? 0)
            if !pendingSince.isEmpty, let since = pendingSince.removeValue(forKey: job.id) { due = since }
            pickup[t].observe((job.startedAt ?? now) - due)
        case .completed: counters[s].completed += 1
        case .failed: counters[s].failed += 1
        case .cancelled:
            counters[s].cancelled += 1
            if !pendingSince.isEmpty { pendingSince[job.id] = nil }
        }
    }

    /// The figures by label (built outside the queue's lock from a copy).
    func snapshot(stats: QueueStats) -> QueueMetricsSnapshot {
        var jobs: [JobMetricKey: JobCounters] = [:]
        for (k, c) in zip(keys, counters) { jobs[k] = c }
        var runSeconds: [String: Histogram] = [:], pickupSeconds: [String: Histogram] = [:]
        for (i, type) in types.enumerated() {
            if run[i].count > 0 { runSeconds[type] = run[i] }
            if pickup[i].count > 0 { pickupSeconds[type] = pickup[i] }
        }
        return QueueMetricsSnapshot(jobs: jobs, runSeconds: runSeconds, pickupSeconds: pickupSeconds, stats: stats)
    }
}

/// The store's commit figures, written by its writer thread once per
/// transaction and read by `/metrics`.
public final class StoreMetrics: Sendable {
    public struct Snapshot: Sendable {
        public var commitSeconds = Histogram(bounds: Histogram.commitSeconds)
        public var batchSize = Histogram(bounds: Histogram.batchSizes)
        /// Transactions that failed (each retry counts).
        public var failures: UInt64 = 0
    }

    private let state = Mutex(Snapshot())

    public init() {}

    /// One committed transaction: how long it took and how many submissions it held.
    public func committed(seconds: Double, submissions: Int) {
        state.withLock { s in
            s.commitSeconds.observe(seconds)
            s.batchSize.observe(Double(submissions))
        }
    }

    public func failed() {
        state.withLock { $0.failures += 1 }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}
