/// Why storage failed; `message` is safe to show to clients.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A write the queue asks the store to make durable.
public enum StoreOp: Sendable {
    /// The whole row: new jobs and state transitions.
    case upsert(Job)
    /// Progress only (coalesced by the queue).
    case progress(id: Int64, progress: JobProgress, sequence: UInt64)
    /// Removes every completed, failed and cancelled job (and their logs).
    case deleteFinished
    /// Creates or replaces a schedule (with its next and last run).
    case upsertSchedule(Schedule)
    /// Deletes a schedule.
    case deleteSchedule(name: String)
    /// Records a named queue's settings.
    case queueSettings(name: String, QueueSettings)
    /// Appends lines to a job's log, which keeps at most `maxBytes` (the oldest
    /// go); `dropped` lines were already let go before reaching the store.
    case appendLog(id: Int64, lines: [LogLine], dropped: Int, maxBytes: Int)
    /// Removes finished jobs completed before `before` (epoch seconds) or not
    /// among the newest `keep` finished jobs by id. `report` gets the jobs removed,
    /// inside the transaction (again on a retry); the queue uses the last report
    /// only once the commit succeeded.
    case prune(before: Double?, keep: Int?, report: @Sendable ([PrunedJob]) -> Void)
    /// Adds a webhook delivery to the outbox (written with the transition it reports).
    case webhookOutbox(WebhookDelivery)
    /// Records one delivery attempt's outcome.
    case webhookAttempt(WebhookAttempt)
    /// Keeps the newest `keep` delivered or dead deliveries; pending deliveries
    /// to URLs not in `configured` become dead (their endpoint was removed).
    case webhookMaintenance(keep: Int, configured: [String], at: Double)
    /// Removes the listed jobs that are finished (completed, failed, cancelled),
    /// with their logs; others stay. `report` as for `prune`.
    case deleteJobs(ids: [Int64], report: @Sendable ([PrunedJob]) -> Void)
}

/// A finished job removed by a prune.
public struct PrunedJob: Sendable, Equatable {
    public let id: Int64
    public let status: JobStatus
    public let queue: String
    public init(id: Int64, status: JobStatus, queue: String = "default") {
        self.id = id
        self.status = status
        self.queue = queue
    }
}

/// What a store holds when the daemon starts.
public struct StoreSnapshot: Sendable {
    /// Pending and running jobs, oldest first.
    public var active: [Job]
    /// The newest finished jobs, oldest first.
    public var recentFinished: [Job]
    public var stats: QueueStats
    /// The counts per named queue.
    public var queueCounts: [String: QueueStats]
    /// Named queues' settings.
    public var queues: [String: QueueSettings]
    /// Every schedule.
    public var schedules: [Schedule] = []
    /// The id the next job gets; never lower than any id ever handed out.
    public var nextID: Int64

    public init(active: [Job] = [], recentFinished: [Job] = [], stats: QueueStats = QueueStats(),
                queueCounts: [String: QueueStats] = [:], queues: [String: QueueSettings] = [:], nextID: Int64 = 1) {
        self.active = active
        self.recentFinished = recentFinished
        self.stats = stats
        self.queueCounts = queueCounts
        self.queues = queues
        self.nextID = nextID
    }
}

/// Durable storage behind the queue. Writes are asynchronous and grouped: the
/// store commits whatever was submitted since its last commit in one transaction
/// and then calls each submission's completion, in submission order, on its
/// writer thread. A completion never runs inside `submit` (not even when the
/// store is closed), so a caller may hold its own lock around bookkeeping.
public protocol JobStore: AnyObject, Sendable {
    /// Reads the state to start from.
    func load(recentFinished: Int) throws(StoreError) -> StoreSnapshot
    /// Queues writes. An empty list is a barrier: its completion runs once
    /// everything submitted before it is committed. When a commit fails, writes
    /// with `retry` are kept and tried again (their completion waits for success);
    /// the others fail at once.
    func submit(_ ops: [StoreOp], retry: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void)
    /// Called on the writer thread after the completions of each commit (or
    /// failed attempt) have run: the queue publishes their events in one go.
    func onBatchDone(_ action: @escaping @Sendable () -> Void)
    /// Nil while writes succeed; the last error while they fail.
    var failure: StoreError? { get }
    /// Called (on the writer thread) when writes start failing, with the error,
    /// and when they succeed again, with nil: the daemon logs both.
    func onFailureChange(_ action: @escaping @Sendable (StoreError?) -> Void)
    /// One job by id (committed state).
    func job(_ id: Int64) throws(StoreError) -> Job?
    /// The job holding an idempotency key (committed state).
    func job(idempotencyKey: String) throws(StoreError) -> Job?
    /// A page of jobs (committed state).
    func query(_ query: JobQuery) throws(StoreError) -> JobPage
    /// A job's log lines after `seq` (committed state); nil for a job that is not stored.
    func log(_ id: Int64, after seq: UInt64) throws(StoreError) -> JobLog?
    /// Commits what is queued and stops the writer.
    func close()
    /// Commit latency and batch sizes for `/metrics`; nil for a store that keeps none.
    var metrics: StoreMetrics? { get }
}

extension JobStore {
    public var metrics: StoreMetrics? { nil }
}
