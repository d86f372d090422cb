import Synchronization
/// Why storage failed; `message` is safe to show to clients.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// A guarded write found the job changed by another node since this one read
    /// it (a store shared by several daemons): nothing of that write happened.
    public static let conflict = StoreError("Conflict: the job was changed by another node")
    public var isConflict: Bool { message == Self.conflict.message }
}

/// A write the queue asks the store to make durable.
public enum StoreOp: Sendable {
    /// The whole row: new jobs and state transitions.
    case upsert(Job)
    /// A transition of an existing job, made only if its row still has the
    /// status, node and attempt of `expect` (a store shared by several daemons).
    /// When it does not, the transaction goes on without it and the submission
    /// gets `StoreError.conflict`.
    case update(Job, expect: JobGuard)
    /// Claims pending jobs for a node (`FOR UPDATE SKIP LOCKED`, shared stores
    /// only); the request gets the jobs claimed, inside the transaction.
    case claim(ClaimRequest)
    /// Takes over the running jobs of a node that went silent (the leader
    /// rescuing them); the request gets them, now owned by `node`.
    case adopt(from: String, node: String, report: @Sendable ([Job]) -> Void)
    /// Leader work (shared stores): the ops after it in the same submission are
    /// made only while `epoch` is still the leader lease's and this node's;
    /// otherwise none of them is and the submission gets `StoreError.conflict`.
    /// A leader that was deposed while it was frozen changes nothing when it
    /// wakes up and acts on what it last knew.
    case fence(epoch: Int64)
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
    /// go); `dropped` lines were already let go before reaching the store. With
    /// `expect` (several daemons) only while the row is still that attempt:
    /// else nothing is written and the submission gets `StoreError.conflict`.
    case appendLog(id: Int64, lines: [LogLine], dropped: Int, maxBytes: Int, expect: JobGuard? = nil)
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

/// What a guarded write expects the row to hold: its status and node, and
/// (when `attempt` is given) which attempt: its number and when it started. An
/// attempt is one run of a job by one node; a job retried after its node went
/// silent has a new one, so a write of the silent node's attempt finds the row
/// changed even where the new attempt has the same status.
public struct JobGuard: Sendable, Equatable {
    public let status: JobStatus
    public let node: String?
    public let attempt: Int?
    /// Checked with `attempt` (nil there: the row has no start either).
    public let startedAt: Double?
    public init(status: JobStatus, node: String?, attempt: Int? = nil, startedAt: Double? = nil) {
        self.status = status
        self.node = node
        self.attempt = attempt
        self.startedAt = startedAt
    }

    /// The state `job` is in, attempt included.
    public init(_ job: Job) {
        self.init(status: job.status, node: job.node, attempt: job.attempt, startedAt: job.startedAt)
    }
}

/// A node's claim: at most `limit` pending jobs due at `now`, best first
/// (priority, then id), none of `excludedQueues`/`excludedTypes` and at most
/// `budgets` more of a queue or type with a per-node limit.
public final class ClaimRequest: Sendable {
    public let node: String
    public let limit: Int
    public let now: Double
    public let excludedQueues: [String]
    public let excludedTypes: [String]
    public let queueBudgets: [String: Int]
    public let typeBudgets: [String: Int]
    /// The jobs claimed, set by the store inside its transaction.
    public let claimed = Mutex<[Job]>([])

    public init(node: String, limit: Int, now: Double, excludedQueues: [String], excludedTypes: [String],
                queueBudgets: [String: Int], typeBudgets: [String: Int]) {
        self.node = node
        self.limit = limit
        self.now = now
        self.excludedQueues = excludedQueues
        self.excludedTypes = excludedTypes
        self.queueBudgets = queueBudgets
        self.typeBudgets = typeBudgets
    }

    /// Picks from candidates in run order, within the budgets.
    public func pick(_ candidates: [(id: Int64, queue: String, type: String)]) -> [Int64] {
        var queues = queueBudgets
        var types = typeBudgets
        var out: [Int64] = []
        for c in candidates where out.count < limit {
            if let q = queues[c.queue], q <= 0 { continue }
            if let t = types[c.type], t <= 0 { continue }
            if queues[c.queue] != nil { queues[c.queue]! -= 1 }
            if types[c.type] != nil { types[c.type]! -= 1 }
            out.append(c.id)
        }
        return out
    }
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
    /// A job's log lines after `seq` (committed state), at most `limit` of them
    /// (nil: all), oldest first; nil for a job that is not stored. A page costs
    /// what it returns, not what the log holds.
    func log(_ id: Int64, after seq: UInt64, limit: Int?) throws(StoreError) -> JobLog?
    /// Commits what is queued and stops the writer.
    func close()
    /// Commit latency and batch sizes for `/metrics`; nil for a store that keeps none.
    var metrics: StoreMetrics? { get }
}

extension JobStore {
    public var metrics: StoreMetrics? { nil }

    /// Every log line after `seq`.
    public func log(_ id: Int64, after seq: UInt64) throws(StoreError) -> JobLog? {
        try log(id, after: seq, limit: nil)
    }
}

/// What changed in a store shared by several daemons, as another node's
/// notification tells it.
public struct RemoteChange: Sendable {
    /// Jobs created or changed (their rows as committed).
    public var jobs: [Job] = []
    /// Finished jobs removed (pruned, deleted).
    public var deleted: [PrunedJob] = []
    /// Every finished job was removed (clear-completed).
    public var cleared = false
    /// Log lines added, by job.
    public var logs: [Int64: [LogLine]] = [:]
    /// Queues whose settings changed, with the settings now.
    public var queues: [String: QueueSettings] = [:]
    /// Schedules changed (nil: deleted).
    public var schedules: [String: Schedule?] = [:]
    /// The connection was lost and is back (notifications may have been missed):
    /// `jobs` holds every pending and running job, and those made or ended since.
    public var refreshed = false
    public init() {}
}

/// One node as the database knows it (`GET /api/nodes`).
public struct NodeInfo: Sendable, Equatable {
    public let id: String
    public let address: String
    public let pid: Int64
    public let startedAt: Double
    public let heartbeatAt: Double
    public let running: Int
    public let leader: Bool
    public let alive: Bool

    public init(id: String, address: String, pid: Int64, startedAt: Double, heartbeatAt: Double, running: Int, leader: Bool, alive: Bool) {
        self.id = id
        self.address = address
        self.pid = pid
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.running = running
        self.leader = leader
        self.alive = alive
    }
}

/// A store several daemons share (PostgreSQL): ids come from the database,
/// claims are decided there, and every node hears of the others' changes.
public protocol ClusterStore: JobStore {
    /// This daemon's node id.
    var nodeID: String { get }
    /// Fresh job ids, unique across nodes (blocking: never under a lock).
    func takeIDs(_ count: Int) throws(StoreError) -> [Int64]
    /// Called (on the listener's thread) with what other nodes committed.
    func onRemoteChange(_ action: @escaping @Sendable (RemoteChange) -> Void)
    /// Reads jobs by id (committed state).
    func jobs(_ ids: [Int64]) throws(StoreError) -> [Job]
    /// Whether this node leads now (fires schedules, prunes, rescues).
    var isLeader: Bool { get }
    /// The leader lease's epoch while this node leads (nil otherwise): leader
    /// work decided now is submitted behind `StoreOp.fence` with it.
    var leaderEpoch: Int64? { get }
    /// Whether no other node was alive at the last heartbeat.
    var isAlone: Bool { get }
    /// Called when this node starts (true) or stops (false) leading.
    func onLeadership(_ action: @escaping @Sendable (Bool) -> Void)
    /// Called while this node leads with the nodes silent for too long.
    func onSilentNodes(_ action: @escaping @Sendable ([String]) -> Void)
    /// Every node the store knows, by id.
    func nodes() throws(StoreError) -> [NodeInfo]
}
