import Dispatch
import JSON
import Synchronization

/// The jobs, their state machine, FIFO order, counters and events.
///
/// Every operation is short and synchronous under one `Mutex`, so C callbacks on
/// libmicrohttpd threads can call straight in. A transition is *decided* under
/// the lock (against the newest state) and becomes a `Change`; the change is
/// handed to the store after the lock is released, in the order decided
/// (`CommitPipeline.swift`), and *applied* to what readers see (jobs, counters,
/// snapshot) and published as events only once the store committed it. In
/// memory there is nothing to wait for and a change is applied at once.
///
/// So with a durable store no reader and no event ever shows a state that a
/// crash would undo, and a request that fails to commit changes nothing.
public final class JobQueue: Sendable {
    public typealias Subscriber = @Sendable (QueueEvent) -> Void
    public typealias Completion = @Sendable (Result<Void, StoreError>) -> Void

    let state = Mutex(Locked())
    let hub = EventHub()
    let store: (any JobStore)?
    /// The store, when several nodes share it (ids, claims and changes of others).
    let cluster: (any ClusterStore)?
    /// Ids for new jobs, from a shared store.
    let ids: IDPool?
    /// Now, and the one timer for the earliest delayed job.
    public let clock: any QueueClock
    /// Finished jobs kept in memory with a durable store.
    public let recentFinishedLimit: Int
    /// Bytes of log kept per job (`--max-log-bytes`); past it the oldest lines go.
    public let maxLogBytes: Int
    private let availability = Mutex<[@Sendable () -> Void]>([])
    let taskStopper = Mutex<(@Sendable (Int64) -> Void)?>(nil)
    /// The cron arithmetic, and how to stop a running job (both from the engine).
    let scheduleHooks = Mutex<(next: NextSlot?, cancel: (@Sendable (Int64) -> Void)?)>((nil, nil))

    /// Seconds between progress writes of one job (progress events are not throttled).
    static let progressWriteInterval = 0.25
    public static let interruptedMessage = "Interrupted: the daemon stopped while this job was running"

    /// An in-memory queue.
    public init(maxLogBytes: Int = 1 << 20, clock: any QueueClock = SystemClock()) {
        store = nil
        cluster = nil
        ids = nil
        self.clock = clock
        recentFinishedLimit = 1000
        self.maxLogBytes = maxLogBytes
    }

    /// A queue over a durable store: loads its jobs. Jobs found running were
    /// interrupted by a stop; they are recorded as failed, and committed, before
    /// this returns.
    /// `webhooks` (when given) already hears of jobs recorded as interrupted.
    public init(store: any JobStore, recentFinishedLimit: Int = 1000, maxLogBytes: Int = 1 << 20,
                clock: any QueueClock = SystemClock(), webhooks: WebhookHook? = nil) throws(StoreError) {
        self.store = store
        let cluster = store as? any ClusterStore
        self.cluster = cluster
        ids = cluster.map { IDPool(store: $0) }
        self.clock = clock
        self.recentFinishedLimit = recentFinishedLimit
        self.maxLogBytes = maxLogBytes
        let snapshot = try store.load(recentFinished: recentFinishedLimit)
        store.onBatchDone { [weak self] in self?.batchDone() }
        let now = clock.now()
        let interrupted = state.withLock { l -> [Int64] in
            l.webhooks = webhooks.map { WebhookState(hook: $0) }
            l.q.nextID = snapshot.nextID
            l.q.stats = snapshot.stats
            l.q.queueCounts = snapshot.queueCounts
            l.q.scheduler.queues = snapshot.queues.filter { $0.value != QueueSettings() }
            for schedule in snapshot.schedules {
                l.q.book.committed[schedule.name] = schedule
                l.q.book.noteDue(schedule)
            }
            var interrupted: [Int64] = []
            for job in snapshot.recentFinished + snapshot.active {
                l.q.jobs[job.id] = job
                if let key = job.idempotencyKey { l.q.keys[key] = job.id }
                switch job.status {
                case .pending:
                    l.q.scheduler.schedule(job, now: now)
                case .running:
                    l.q.running.insert(job.id)
                    // Another node's job runs on there; this node's own (from
                    // before its restart) were interrupted.
                    if let cluster, let node = job.node, node != cluster.nodeID { continue }
                    l.q.scheduler.countRunning(job, 1)
                    interrupted.append(job.id)
                default:
                    l.q.finished.append(job.id)
                }
            }
            l.q.order = l.q.jobs.keys.sorted()
            return interrupted
        }
        if let cluster {
            cluster.onRemoteChange { [weak self] change in self?.applyRemote(change) }
            cluster.onSilentNodes { [weak self] nodes in self?.rescue(nodes) }
            cluster.onLeadership { [weak self] leading in
                guard leading, let self else { return }
                // The schedules are this node's to fire now.
                DispatchQueue.global().async {
                    self.fireDueSchedules(now: self.clock.now(), all: true)
                    self.rearm()
                }
            }
        }
        guard !interrupted.isEmpty else {
            rearm()
            return
        }
        for id in interrupted { fail(id, error: Self.interruptedMessage, retryable: false) }
        let outcome = Mutex<Result<Void, StoreError>?>(nil)
        let written = DispatchSemaphore(value: 0)
        whenDurable { result in
            outcome.withLock { $0 = result }
            written.signal()
        }
        written.wait()
        if case .failure(let error)? = outcome.withLock({ $0 }) { throw error }
    }

    public var isDurable: Bool { store != nil }

    /// Whether a running job counts against this node's limits: always on one
    /// node; with several, when it runs on this one.
    func runsHere(_ job: Job) -> Bool {
        guard let cluster else { return true }
        return job.node == cluster.nodeID
    }

    /// Why the store cannot commit now, or nil while it can.
    public var storageFailure: StoreError? { store?.failure }

    /// How to stop a running job's task (another node ended the job).
    public func onTaskStop(_ action: @escaping @Sendable (Int64) -> Void) {
        taskStopper.withLock { $0 = action }
    }

    /// Runs `action` whenever committed pending jobs join the queue (the worker's cue).
    public func onJobsAvailable(_ action: @escaping @Sendable () -> Void) {
        availability.withLock { $0.append(action) }
    }

    /// Runs `completion` once everything decided so far is committed and its
    /// events are published (at once in memory).
    public func whenDurable(_ completion: @escaping Completion) {
        transact { _ -> ((), Change?) in ((), Change(ops: [], effect: .none, retry: false, done: completion)) }
    }

    /// Registers a handler for every event from now on. It runs on whichever thread
    /// applied the change, outside the queue's lock; it must be quick.
    public func subscribe(_ handler: @escaping Subscriber) -> SubscriptionToken {
        hub.subscribe(handler)
    }

    public func unsubscribe(_ token: SubscriptionToken) {
        hub.unsubscribe(token)
    }

    func announceAvailable() {
        for action in availability.withLock({ $0 }) { action() }
    }
}
