import JSON

/// The queue's data, in two layers.
///
/// - **Visible** (`jobs`, `order`, `finished`, `running`, `stats`): what readers
///   see. It changes only when a change is *applied*, which for a durable store
///   happens after the commit that holds it, in commit order. A reader never sees
///   a state that a crash would undo, and the counters always match the file.
/// - **Working** (`working`, `scheduler`): what the state machine decides
///   from. A transition is decided against the newest state (visible, overlaid by
///   the jobs whose changes are still on their way to the store), so a job can be
///   claimed and finished before its start is committed.
///
/// Three parts have rooms of their own: the schedule book (`ScheduleBook`),
/// the cluster book (`ClusterBook`, what agreeing with other nodes takes) and
/// the log buffers (`LogBook`). Applying committed changes to the visible
/// layer is `VisibleLayer.swift`; the claim heaps and limits, `ClaimScheduler.swift`.
struct QueueState: ~Copyable {
    // MARK: Visible (committed)

    var jobs: [Int64: Job] = [:]
    /// Ids in creation order; ids of jobs that left are skipped lazily.
    var order: [Int64] = []
    var orderHoles = 0
    /// Finished ids in the order they finished (for the newest N and eviction).
    var finished: [Int64] = []
    var finishedHead = 0
    var running: Set<Int64> = []
    var stats = QueueStats()
    /// What `/metrics` shows (QueueMetrics.swift), moved with the visible layer.
    var metrics = QueueMetrics()

    // MARK: Working (decided, maybe not yet committed)

    /// Jobs with changes not yet applied, at their newest state.
    var working: [Int64: Job] = [:]
    /// How many unapplied changes touch each job in `working`.
    var inflight: [Int64: Int] = [:]
    /// Committed pending jobs by run order, and the limits on starting them.
    var scheduler = Scheduler()
    /// Idempotency keys of the jobs in memory (a store is asked about the rest).
    var keys: [String: Int64] = [:]
    /// Running jobs whose cancel is not committed yet, with the outcome their task
    /// reported meanwhile (applied if the cancel fails to commit).
    var cancelling: [Int64: CancelInFlight] = [:]
    /// Running jobs of this node that were cancelled (here or by another node)
    /// while their task still runs, as they ran: they keep their place in
    /// their queue's and type's limits until that task has ended (its last
    /// process gone), so a job of a `concurrency: 1` type never runs beside
    /// the one still stopping.
    var stopping: [Int64: Job] = [:]
    var nextID: Int64 = 1
    /// When progress of a job was last written to the store.
    var progressWritten: [Int64: Double] = [:]

    struct CancelInFlight {
        var finish: Finish?
    }

    /// A running job's end as its task reported it.
    struct Finish: Sendable {
        let status: JobStatus
        let result: JSONValue?
        let error: String?
        /// A failure that may be retried (not an interruption by a stop).
        let retryable: Bool
    }

    /// Duplicate submissions waiting for the commit of the job whose key they share.
    var keyWaiters: [Int64: [@Sendable (Result<Job, StoreError>) -> Void]] = [:]
    /// Counts by status per named queue (visible).
    var queueCounts: [String: QueueStats] = [:]
    // MARK: Parts of their own

    /// The schedules (committed, working, by next run).
    var book = ScheduleBook()
    /// What agreeing with other nodes takes (several nodes on one store).
    var cluster = ClusterBook()
    /// Log lines on their way (and every log, in memory without a store).
    var logs = LogBook()

    /// Notes a stored state applied (several nodes); false when a newer one already was.
    mutating func noteStored(_ job: Job) -> Bool {
        let held = jobs
        return cluster.noteStored(job, heldCount: held.count) { held[$0] != nil }
    }

    /// The newest state of a job: its unapplied change, else the visible one.
    func current(_ id: Int64) -> Job? {
        working[id] ?? jobs[id]
    }

    /// Records a decided change of `job` until it is applied (or reverted).
    mutating func stage(_ job: Job) {
        working[job.id] = job
        inflight[job.id, default: 0] += 1
    }

    /// One change of `id` is applied or reverted; `revertTo` is its state before
    /// the change when it was reverted while later ones are still unapplied.
    mutating func release(_ id: Int64, revertTo: Job? = nil) {
        guard let n = inflight[id] else { return }
        if n <= 1 {
            inflight[id] = nil
            working[id] = nil
        } else {
            inflight[id] = n - 1
            if let revertTo { working[id] = revertTo }
        }
    }
}
