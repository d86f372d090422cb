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

    public enum CancelOutcome: Sendable, Equatable {
        case cancelled(wasRunning: Bool)
        case notFound
        case notCancellable(JobStatus)
    }

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
                l.q.schedules[schedule.name] = schedule
                l.q.noteScheduleDue(schedule)
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

    // MARK: Reads (the committed state)

    /// A job from memory, else (durable) from the store.
    public func job(_ id: Int64) -> Job? {
        if let job = state.withLock({ $0.q.jobs[id] }) { return job }
        return try? store?.job(id)
    }

    /// Every job in memory, oldest first.
    public func allJobs() -> [Job] {
        state.withLock { l in l.q.order.compactMap { l.q.jobs[$0] } }
    }

    /// A page of jobs: from memory, or (durable) from the store's committed state.
    public func list(_ query: JobQuery) throws(StoreError) -> JobPage {
        guard let store else { return query.run(over: allJobs()) }
        var q = query
        q.countTotal = query.needsCount
        var page = try store.query(q)
        if !q.countTotal {
            let stats = self.stats()
            page.total = query.statuses.isEmpty ? stats.total : query.statuses.reduce(0) { $0 + stats[$1] }
        }
        return page
    }

    /// The jobs a live client starts from: every running job, the first
    /// `pendingLimit` pending in run order and the newest `finishedLimit` finished,
    /// oldest first, with the counters and the event position, all read under one
    /// lock. `truncated` says jobs were left out (they are read through `list`).
    public func snapshot(pendingLimit: Int = 1000, finishedLimit: Int = 1000) -> QueueSnapshot {
        state.withLock { l in
            let (jobs, truncated) = l.q.live(pendingLimit: pendingLimit, finishedLimit: finishedLimit)
            return QueueSnapshot(jobs: jobs, stats: l.q.stats, position: hub.position, truncated: truncated)
        }
    }

    public func stats() -> QueueStats {
        state.withLock { $0.q.stats }
    }

    /// Starts keeping the job metrics (`metrics()`); until then applying a change
    /// costs nothing extra. Jobs pending or running now are counted at once.
    /// The first `maxQueues` queue names get a label of their own (Metrics.swift).
    public func enableMetrics(maxQueues: Int = 100) {
        state.withLock { l in
            guard !l.q.metrics.enabled else { return }
            l.q.metrics.enabled = true
            l.q.metrics.maxQueues = maxQueues
            for job in l.q.jobs.values where !job.status.isFinished { l.q.metrics.count(existing: job) }
        }
    }

    /// The store's commit figures (nil in memory).
    public var storeMetrics: StoreMetrics? { store?.metrics }

    /// The job metrics and counters, read under one lock; nil while they are off.
    public func metrics() -> QueueMetricsSnapshot? {
        // A copy under the lock (its arrays are shared until the next change), the rest after.
        let copy = state.withLock { l -> (QueueMetrics, QueueStats)? in
            l.q.metrics.enabled ? (l.q.metrics, l.q.stats) : nil
        }
        return copy.map { $0.0.snapshot(stats: $0.1) }
    }


    /// How to stop a running job's task (another node ended the job).
    public func onTaskStop(_ action: @escaping @Sendable (Int64) -> Void) {
        taskStopper.withLock { $0 = action }
    }

    /// Runs `action` whenever committed pending jobs join the queue (the worker's cue).
    public func onJobsAvailable(_ action: @escaping @Sendable () -> Void) {
        availability.withLock { $0.append(action) }
    }

    // MARK: Transitions

    /// A submission's outcome: the new job, or (same idempotency key) the existing one.
    public struct Submitted: Sendable {
        public let job: Job
        public let duplicate: Bool
    }

    /// Adds a job with validated params and resolved options. It joins the queue
    /// (and `created` is published) once durable; then `completion` gets it, or
    /// the storage error (and then nothing was added). A submission whose
    /// idempotency key belongs to a job that still exists gets that job instead,
    /// once it is committed; concurrent identical submissions make exactly one job.
    public func enqueue(type: String, params: JSONObject, options: JobOptions,
                        completion: @escaping @Sendable (Result<Submitted, StoreError>) -> Void) {
        enqueue(type: type, params: params, options: options, id: nil, completion: completion)
    }

    private func enqueue(type: String, params: JSONObject, options: JobOptions, id: Int64?,
                         completion: @escaping @Sendable (Result<Submitted, StoreError>) -> Void) {
        if let failure = store?.failure {
            completion(.failure(failure))
            return
        }
        if id == nil, let ids {
            // A shared store hands out the id (at once, or after a refill elsewhere).
            ids.take { [self] result in
                switch result {
                case .success(let id): enqueue(type: type, params: params, options: options, id: id, completion: completion)
                case .failure(let error): completion(.failure(error))
                }
            }
            return
        }
        // A key not held in memory may belong to an older job in the store.
        var stored: Job?
        if let key = options.idempotencyKey, let store, state.withLock({ $0.q.keys[key] == nil }) {
            do { stored = try store.job(idempotencyKey: key) } catch {
                completion(.failure(error))
                return
            }
        }
        let duplicate = transact { q -> (Job?, Change?) in
            if let key = options.idempotencyKey {
                if let id = q.keys[key] {
                    if let existing = q.current(id) { return (existing, nil) }
                    // Its first submission is still on the way to the store: this
                    // one is answered with that job once it is committed.
                    q.keyWaiters[id, default: []].append { result in completion(result.map { Submitted(job: $0, duplicate: true) }) }
                    return (nil, nil)
                }
                if let stored { return (stored, nil) }
            }
            let now = clock.now()
            var job = Job(id: id ?? q.nextID, type: type, params: params, createdAt: now)
            if id == nil { q.nextID += 1 }
            job.queue = options.queue ?? "default"
            job.priority = options.priority ?? 0
            job.runAt = options.runAt
            job.timeout = options.timeout
            job.maxAttempts = options.maxAttempts ?? 1
            job.backoff = options.backoff ?? Backoff()
            job.idempotencyKey = options.idempotencyKey
            if let key = options.idempotencyKey { q.keys[key] = job.id }
            if cluster != nil { q.creating.insert(job.id) }
            let created = job
            return (nil, Change(ops: [.upsert(job)], effect: .insert(job),
                                events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job))],
                                retry: false, done: { result in completion(result.map { Submitted(job: created, duplicate: false) }) }))
        }
        if let duplicate { completion(.success(Submitted(job: duplicate, duplicate: true))) }
    }

    /// Adds a job with the default options (see the other `enqueue`).
    public func enqueue(type: String, params: JSONObject,
                        completion: @escaping @Sendable (Result<Job, StoreError>) -> Void = { _ in }) {
        enqueue(type: type, params: params, options: JobOptions()) { result in completion(result.map(\.job)) }
    }

    /// The synchronous form for the in-memory queue (and tests): the job as created.
    @discardableResult
    public func enqueue(type: String, params: JSONObject) -> Job {
        let result = Mutex<Job?>(nil)
        enqueue(type: type, params: params) { r in result.withLock { $0 = try? r.get() } }
        return result.withLock { $0 } ?? Job(id: 0, type: type, params: params, createdAt: clock.now())
    }

    /// Moves the next pending job (highest priority, then oldest; its queue not
    /// paused or full, its type under its limit, its time come) to `running` and
    /// returns it, or `nil` if none may start now.
    public func claimNext() -> Job? {
        transact { q -> (Job?, Change?) in
            let now = clock.now()
            guard let before = q.nextClaim(now: now) else { return (nil, nil) }
            var job = before
            job.status = .running
            job.startedAt = now
            job.progress = .starting
            job.sequence += 1
            q.stage(job)
            q.scheduler.countRunning(job, 1)
            return (job, Change(ops: [write(job, from: before)], effect: .update([job]),
                                events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .started(startedAt: now, node: job.node))],
                                touched: [before]))
        }
    }

    /// Whether a job could start now (after a claim came back empty, the worker
    /// looks again in case one became claimable meanwhile).
    public var hasClaimable: Bool {
        let now = clock.now()
        return state.withLock { $0.q.hasClaimable(now: now) }
    }

    /// Sets the most jobs of one type that may run at once (nil: no limit of its own).
    public func setTypeLimits(_ limits: [String: Int]) {
        state.withLock { $0.q.scheduler.typeLimits = limits }
        announceAvailable()
    }

    /// Records progress of a running job; ignored (returns false) once it is not
    /// running, or not on `attempt` (when given: the task's own) anymore.
    @discardableResult
    public func updateProgress(_ id: Int64, percent: Int, message: String, attempt: JobAttempt? = nil) -> Bool {
        transact { q -> (Bool, Change?) in
            guard let before = q.current(id), before.status == .running, attempt?.matches(before) ?? true else { return (false, nil) }
            var job = before
            let p = JobProgress(percent: min(max(percent, 0), 100), message: message)
            job.progress = p
            job.sequence += 1
            q.stage(job)
            var ops: [StoreOp] = []
            if store != nil {
                let now = clock.now()
                if now - (q.progressWritten[id] ?? 0) >= Self.progressWriteInterval {
                    q.progressWritten[id] = now
                    ops.append(.progress(id: id, progress: p, sequence: job.sequence))
                }
            }
            return (true, Change(ops: ops, effect: .update([job]),
                                 events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .progress(p))],
                                 touched: [before]))
        }
    }

    /// Appends lines to a running job's log; ignored (false) once it is not running.
    /// Lines wait in a per-job buffer (bounded by `maxLogBytes`: past it the
    /// oldest go, counted as dropped) while the job's previous batch is on its
    /// way to the store, so a job writing faster than the store commits is never
    /// slowed and memory stays bounded. Each emitted line takes the job's next
    /// sequence number; a batch is one `log` event. `dropped` counts lines the
    /// job wrote before these that its writer already let go (they count as
    /// dropped from the log).
    /// With `attempt` (a task's own), ignored once the job is on another attempt.
    @discardableResult
    public func appendLog(_ id: Int64, _ stream: LogStream, _ lines: [String], dropped: Int = 0, attempt: JobAttempt? = nil) -> Bool {
        guard !lines.isEmpty || dropped > 0 else { return true }
        let now = clock.now()
        return transact { q -> (Bool, Change?) in
            guard let job = q.current(id), job.status == .running, attempt?.matches(job) ?? true else { return (false, nil) }
            q.logBuffer[id, default: PendingLog()].add(lines, stream: stream, at: now, maxBytes: maxLogBytes, dropped: dropped)
            guard !q.logInFlight.contains(id) else { return (true, nil) }
            return (true, logChange(&q, id))
        }
    }

    /// The change that emits a job's buffered lines (nil when there are none).
    func logChange(_ q: inout QueueState, _ id: Int64) -> Change? {
        guard let pending = q.logBuffer.removeValue(forKey: id), !pending.isEmpty, let before = q.current(id) else { return nil }
        var job = before
        let out = pending.numbered(after: &job.sequence)
        q.stage(job)
        if store != nil { q.logInFlight.insert(id) }
        let ops: [StoreOp] = store == nil ? [] : [.appendLog(id: id, lines: out, dropped: pending.dropped, maxBytes: maxLogBytes,
                                                             expect: logGuard(before))]
        return Change(ops: ops, effect: .update([job]), events: out.isEmpty ? [] : [QueueEvent(jobID: id, sequence: job.sequence, kind: .log(out))],
                      touched: [before], logs: (id, out, pending.dropped), logOf: id)
    }

    /// A job's log lines after `seq` (committed), at most `limit` of them (nil:
    /// all), or nil for an unknown job.
    public func log(_ id: Int64, after seq: UInt64 = 0, limit: Int? = nil) throws(StoreError) -> JobLog? {
        guard let store else {
            return state.withLock { l in
                guard l.q.jobs[id] != nil else { return nil }
                return (l.q.logs[id] ?? JobLog()).after(seq, limit: limit)
            }
        }
        return try store.log(id, after: seq, limit: limit)
    }

    /// Marks a running job completed with its result. With `attempt` (a task
    /// reporting its end) only while the job is still on that attempt: a task
    /// of an attempt that was taken over (its node went silent and another runs
    /// the job now) ends without changing the job.
    @discardableResult
    public func complete(_ id: Int64, result: JSONValue, attempt: JobAttempt? = nil) -> Bool {
        finish(id, QueueState.Finish(status: .completed, result: result, error: nil, retryable: false), attempt)
    }

    /// Marks a running job's attempt failed with an error message: it is retried
    /// after its backoff while attempts remain (unless `retryable` is false, as
    /// for an interruption by a stop), else it fails. `attempt` as for `complete`.
    @discardableResult
    public func fail(_ id: Int64, error: String, retryable: Bool = true, attempt: JobAttempt? = nil) -> Bool {
        finish(id, QueueState.Finish(status: .failed, result: nil, error: error, retryable: retryable), attempt)
    }

    /// Cancels a pending or running job. The outcome is known at once; for a
    /// cancel that happens, `completion` runs once it is committed (then a running
    /// job's task may be stopped), or gets the storage error and nothing changed.
    public func cancel(_ id: Int64, completion: @escaping @Sendable (Result<CancelOutcome, StoreError>) -> Void) {
        cancel(id, tries: 3, completion: completion)
    }

    /// A cancel that lost to another node's change (a shared store) is decided
    /// again from the job as that node left it.
    private func cancel(_ id: Int64, tries: Int, completion: @escaping @Sendable (Result<CancelOutcome, StoreError>) -> Void) {
        let completion: @Sendable (Result<CancelOutcome, StoreError>) -> Void = { [self] result in
            if case .failure(let error) = result, error.isConflict, tries > 1 {
                cancel(id, tries: tries - 1, completion: completion)
            } else {
                completion(result)
            }
        }
        let failing = store?.failure
        let outcome = transact { q -> (CancelOutcome, Change?) in
            guard let before = q.current(id) else { return (.notFound, nil) }
            guard before.status == .pending || before.status == .running else { return (.notCancellable(before.status), nil) }
            if failing != nil { return (.cancelled(wasRunning: before.status == .running), nil) }
            let wasRunning = before.status == .running
            var job = before
            job.status = .cancelled
            job.completedAt = clock.now()
            job.sequence += 1
            q.stage(job)
            if wasRunning {
                q.cancelling[id] = QueueState.CancelInFlight()
                // Its place in the queue's and type's limits is kept until the
                // task has ended (`finish`).
                if runsHere(before) { q.stopping[id] = before }
            }
            q.progressWritten[id] = nil
            let result = CancelOutcome.cancelled(wasRunning: wasRunning)
            let ops: [StoreOp] = [write(job, from: before)]
            q.logBuffer[id] = nil
            return (result, Change(ops: ops, effect: .update([job]),
                                   events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .cancelled)],
                                   touched: [before], retry: false, cancelOf: id,
                                   done: { r in completion(r.map { result }) }))
        }
        switch outcome {
        case .cancelled:
            if let failing { completion(.failure(failing)) }
        case .notFound:
            // Not in memory: finished long ago (read outside the lock), or never
            // existed, or (several nodes) made on another node a moment ago and
            // not heard of yet: then it is taken in and the cancel decided again.
            if let stored = try? store?.job(id) {
                if cluster != nil, !stored.status.isFinished, tries > 1 {
                    var change = RemoteChange()
                    change.jobs = [stored]
                    applyRemote(change)
                    return cancel(id, tries: tries - 1, completion: completion)
                }
                completion(.success(.notCancellable(stored.status)))
            } else {
                completion(.success(.notFound))
            }
        case .notCancellable:
            completion(.success(outcome))
        }
    }

    /// The synchronous form for the in-memory queue (and tests).
    public func cancel(_ id: Int64) -> CancelOutcome {
        let result = Mutex<CancelOutcome>(.notFound)
        cancel(id) { r in if case .success(let o) = r { result.withLock { $0 = o } } }
        return result.withLock { $0 }
    }

    /// Removes every completed, failed and cancelled job; `completion` gets how
    /// many once committed, or the storage error (and nothing was removed).
    public func clearFinished(completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        if let failure = store?.failure {
            completion(.failure(failure))
            return
        }
        let count = Cell<Int>(0)
        transact { _ -> ((), Change?) in
            ((), Change(ops: [.deleteFinished], effect: .clear(count), retry: false,
                        done: { r in completion(r.map { count.value }) }))
        }
    }

    /// The synchronous form for the in-memory queue (and tests).
    @discardableResult
    public func clearFinished() -> Int {
        let result = Mutex(0)
        clearFinished { r in if case .success(let n) = r { result.withLock { $0 = n } } }
        return result.withLock { $0 }
    }

    /// Removes finished jobs that finished before `before` or are not among the
    /// newest `keep` by id (`--retain-finished`). One rule for memory and store:
    /// with a durable store the store picks the jobs inside its transaction, and
    /// memory and counters follow once that commit succeeded.
    public func pruneFinished(before: Double?, keep: Int?, completion: @escaping Completion = { _ in }) {
        guard before != nil || keep != nil else { return completion(.success(())) }
        // With several nodes, the leader prunes for all (the others hear of it),
        // fenced by its lease.
        var fence: [StoreOp] = []
        if let cluster {
            guard let epoch = cluster.leaderEpoch else { return completion(.success(())) }
            fence = [.fence(epoch: epoch)]
        }
        let pruned = Cell<[PrunedJob]>([])
        transact { q -> ((), Change?) in
            var ops: [StoreOp] = []
            if store == nil {
                pruned.value = q.pruneCandidates(before: before, keep: keep)
            } else {
                ops = fence + [.prune(before: before, keep: keep, report: { removed in pruned.value = removed })]
            }
            return ((), Change(ops: ops, effect: .prune(pruned), retry: true, done: completion))
        }
    }

    /// Removes the listed jobs that are finished, with their logs (pending and
    /// running ones stay); `completion` gets how many went once committed, or the
    /// storage error (and nothing was removed). Counters follow and one
    /// `pruned` event says how many left, as for a prune.
    public func deleteFinished(ids: [Int64], completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        let removed = Cell<[PrunedJob]>([])
        // What the store removed (memory may keep a job a retry is on its way
        // for until that retry finds the row gone).
        let count = Cell<Int>(0)
        transact { q -> ((), Change?) in
            var ops: [StoreOp] = []
            if store == nil {
                removed.value = ids.compactMap { q.finishedForRemoval($0) }
                count.value = removed.value.count
            } else {
                ops = [.deleteJobs(ids: ids, report: { removed.value = $0; count.value = $0.count })]
            }
            return ((), Change(ops: ops, effect: .prune(removed), retry: false,
                               done: { r in completion(r.map { count.value }) }))
        }
    }

    /// Runs `completion` once everything decided so far is committed and its
    /// events are published (at once in memory).
    public func whenDurable(_ completion: @escaping Completion) {
        transact { _ -> ((), Change?) in ((), Change(ops: [], effect: .none, retry: false, done: completion)) }
    }

    // MARK: Events

    /// Registers a handler for every event from now on. It runs on whichever thread
    /// applied the change, outside the queue's lock; it must be quick.
    public func subscribe(_ handler: @escaping Subscriber) -> SubscriptionToken {
        hub.subscribe(handler)
    }

    public func unsubscribe(_ token: SubscriptionToken) {
        hub.unsubscribe(token)
    }

    // MARK: Internals

    private func finish(_ id: Int64, _ end: QueueState.Finish, _ attempt: JobAttempt?) -> Bool {
        transact { q -> (Bool, Change?) in
            // A cancelled task has ended: its place in the limits is free now.
            if let held = q.stopping[id], attempt?.matches(held) ?? true {
                q.stopping[id] = nil
                q.scheduler.countRunning(held, -1)
            }
            // Another attempt's end (an older one, taken over): nothing to record.
            guard let before = q.current(id), attempt?.matches(before) ?? true else { return (false, nil) }
            guard before.status == .running else {
                // Its cancel is on the way to the store: keep the outcome in case
                // that cancel fails to commit.
                if q.cancelling[id] != nil { q.cancelling[id] = QueueState.CancelInFlight(finish: end) }
                return (false, nil)
            }
            return (true, finishChange(&q, before, end))
        }
    }

    func finishChange(_ q: inout QueueState, _ before: Job, _ end: QueueState.Finish) -> Change {
        // Lines still buffered go first, in the same change: the log is whole
        // before the final event.
        var job = before
        let pending = q.logBuffer.removeValue(forKey: before.id) ?? PendingLog()
        let lines = pending.numbered(after: &job.sequence)
        let now = clock.now()
        job.completedAt = now
        let kind: QueueEvent.Kind
        q.scheduler.countRunning(job, -1)
        // A rescued attempt ends as the silent node's, which ran it.
        if let from = q.adoptedFrom.removeValue(forKey: job.id) { job.node = from }
        if end.status == .completed {
            job.status = .completed
            let result = end.result ?? .object([:])
            job.result = result
            job.progress = .complete
            kind = .completed(result: result, duration: job.duration ?? 0)
        } else if end.retryable && job.attempt < job.maxAttempts {
            // Another attempt after the backoff; the error is kept.
            let error = end.error ?? ""
            job.errors.append(AttemptError(attempt: job.attempt, error: error, at: now))
            let runAt = now + job.backoff.delay(after: job.attempt, random: Double.random(in: 0..<1))
            job.status = .pending
            job.attempt += 1
            job.runAt = runAt
            job.startedAt = nil
            job.completedAt = nil
            job.progress = .queued
            kind = .retrying(attempt: job.attempt, runAt: runAt, error: error)
        } else {
            job.status = .failed
            let error = end.error ?? ""
            job.error = error
            if job.maxAttempts > 1 || !job.errors.isEmpty { job.errors.append(AttemptError(attempt: job.attempt, error: error, at: now)) }
            kind = .failed(error: error)
        }
        job.sequence += 1
        q.stage(job)
        q.progressWritten[job.id] = nil
        var ops: [StoreOp] = [write(job, from: before)]
        var events = [QueueEvent(jobID: job.id, sequence: job.sequence, kind: kind)]
        if !lines.isEmpty || pending.dropped > 0 {
            if store != nil {
                ops.insert(.appendLog(id: job.id, lines: lines, dropped: pending.dropped, maxBytes: maxLogBytes, expect: logGuard(before)), at: 0)
            }
            if let last = lines.last { events.insert(QueueEvent(jobID: job.id, sequence: last.seq, kind: .log(lines)), at: 0) }
        }
        return Change(ops: ops, effect: .update([job]), events: events, touched: [before],
                      logs: lines.isEmpty && pending.dropped == 0 ? nil : (job.id, lines, pending.dropped))
    }

    /// Puts a failed or cancelled job back to pending for a fresh set of attempts
    /// (its earlier errors are kept). `completion` gets the job once committed;
    /// `nil` when there is no such job; `.notRetryable` for any other status.
    public func retry(_ id: Int64, completion: @escaping @Sendable (Result<RetryOutcome, StoreError>) -> Void) {
        retry(id, tries: 3, completion: completion)
    }

    private func retry(_ id: Int64, tries: Int, completion: @escaping @Sendable (Result<RetryOutcome, StoreError>) -> Void) {
        let completion: @Sendable (Result<RetryOutcome, StoreError>) -> Void = { [self] result in
            if case .failure(let error) = result, error.isConflict, tries > 1 {
                retry(id, tries: tries - 1, completion: completion)
            } else {
                completion(result)
            }
        }
        if let failure = store?.failure { return completion(.failure(failure)) }
        // A finished job may be old enough to be in the store only.
        var stored: Job?
        if state.withLock({ $0.q.current(id) == nil }) {
            do { stored = try store?.job(id) } catch { return completion(.failure(error)) }
        }
        let refusal = transact { q -> (RetryOutcome?, Change?) in
            guard let before = q.current(id) ?? stored else { return (.notFound, nil) }
            guard before.status == .failed || before.status == .cancelled else { return (.notRetryable(before.status), nil) }
            if q.jobs[id] == nil { q.jobs[id] = before }
            var job = before
            job.status = .pending
            job.attempt = 1
            job.runAt = nil
            job.error = nil
            job.result = nil
            job.startedAt = nil
            job.completedAt = nil
            job.progress = .queued
            job.sequence += 1
            q.stage(job)
            let queued = job
            // Guarded in every store: a delete (bulk, clear, prune) committed
            // first leaves no row, and the retry then writes nothing back.
            let op = StoreOp.update(job, expect: JobGuard(before))
            return (nil, Change(ops: [op], effect: .update([job]),
                                events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .retried(job))], touched: [before],
                                retry: false, done: { result in completion(result.map { .retried(queued) }) }))
        }
        if let refusal { completion(.success(refusal)) }
    }

    public enum RetryOutcome: Sendable {
        case retried(Job)
        case notFound
        case notRetryable(JobStatus)
    }

    /// Every named queue that has settings or jobs: settings and counts by status.
    public func queues() -> [(name: String, settings: QueueSettings, counts: QueueStats)] {
        state.withLock { l in
            var names = Set(l.q.queueCounts.keys).union(l.q.scheduler.queues.keys)
            names.insert("default")
            return names.sorted().map { name in
                (name, l.q.scheduler.queues[name] ?? QueueSettings(), l.q.queueCounts[name] ?? QueueStats())
            }
        }
    }

    /// Changes a queue's settings (pause, resume, concurrency): in effect at once
    /// once committed, and kept across restarts.
    public func updateQueue(_ name: String, _ settings: QueueSettings,
                            completion: @escaping @Sendable (Result<QueueSettings, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        transact { _ -> ((), Change?) in
            ((), Change(ops: [.queueSettings(name: name, settings)], effect: .queue(name, settings),
                        events: [QueueEvent(jobID: 0, sequence: 0, kind: .queueUpdated(name: name, settings))],
                        retry: false, done: { result in completion(result.map { settings }) }))
        }
    }

    // MARK: Schedules

    /// Hands in the cron arithmetic and the way to stop a running job; then
    /// brings every schedule up to date (slots missed while the daemon was down
    /// follow the schedule's catch-up rule) and sets the timer.
    public func setScheduleHooks(next: @escaping NextSlot, cancel: @escaping @Sendable (Int64) -> Void) {
        scheduleHooks.withLock { $0 = (next, cancel) }
        fireDueSchedules(now: clock.now(), all: true)
        rearm()
    }

    public func schedules() -> [Schedule] {
        state.withLock { l in
            Set(l.q.schedules.keys).union(l.q.schedulesWorking.keys).sorted().compactMap { name in
                l.q.schedulesDeleting.contains(name) ? nil : l.q.schedules[name]
            }
        }
    }

    public func schedule(_ name: String) -> Schedule? {
        state.withLock { $0.q.schedules[$0.q.schedulesDeleting.contains(name) ? "" : name] }
    }

    /// Creates or replaces a schedule; its next run is computed from now (a
    /// changed cron or zone starts afresh; an unchanged one keeps its next run).
    public func upsertSchedule(_ schedule: Schedule, completion: @escaping @Sendable (Result<Schedule, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        let next = scheduleHooks.withLock { $0.next }
        let now = clock.now()
        transact { q -> ((), Change?) in
            var s = schedule
            if let old = q.currentSchedule(s.name) {
                s.createdAt = old.createdAt
                s.lastRunAt = old.lastRunAt
                s.lastJobID = old.lastJobID
                s.nextRunAt = old.cron == s.cron && old.timezone == s.timezone ? old.nextRunAt : nil
            }
            if s.nextRunAt == nil { s.nextRunAt = next?(s, now) }
            q.stageSchedule(s)
            let saved = s
            return ((), Change(ops: [.upsertSchedule(s)], effect: .schedule(s, job: nil),
                               events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))], retry: false,
                               done: { r in completion(r.map { saved }) }))
        }
    }

    /// Deletes a schedule (its jobs stay); false when there is none.
    public func deleteSchedule(_ name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        let found = transact { q -> (Bool, Change?) in
            guard q.currentSchedule(name) != nil else { return (false, nil) }
            q.schedulesDeleting.insert(name)
            return (true, Change(ops: [.deleteSchedule(name: name)], effect: .scheduleDeleted(name),
                                 events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleDeleted(name: name))], retry: false,
                                 done: { r in completion(r.map { true }) }))
        }
        if !found { completion(.success(false)) }
    }

    /// Makes the schedule's job now (its slots stay as they are); nil when there
    /// is no such schedule.
    public func runScheduleNow(_ name: String, completion: @escaping @Sendable (Result<Job?, StoreError>) -> Void) {
        runScheduleNow(name, id: nil, completion: completion)
    }

    private func runScheduleNow(_ name: String, id: Int64?, completion: @escaping @Sendable (Result<Job?, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        if id == nil, let ids {
            ids.take { [self] result in
                switch result {
                case .success(let id): runScheduleNow(name, id: id, completion: completion)
                case .failure(let error): completion(.failure(error))
                }
            }
            return
        }
        let now = clock.now()
        let found = transact { q -> (Bool, Change?) in
            guard let s = q.currentSchedule(name) else { return (false, nil) }
            var change = fire(&q, s, slot: now, advance: false, id: id)
            let job = change.effect.firedJob
            change.retry = false
            change.done = { r in completion(r.map { job }) }
            return (true, change)
        }
        if !found { completion(.success(nil)) }
    }

    /// Fires every schedule whose time came, each in its own change (its job and
    /// its new `lastRunAt`/`nextRunAt` committed together, so a slot fires once
    /// even across a crash).
    func fireDueSchedules(now: Double, all: Bool = false) {
        let hooks = scheduleHooks.withLock { $0 }
        guard let next = hooks.next else { return }
        // With several nodes, the leader alone fires (each slot once), every
        // change fenced by the lease it leads under. Another node lets the due
        // schedules go (the leader's firing brings their next run); should it
        // come to lead, it looks at every schedule then (`all`).
        var fence: [StoreOp] = []
        if let cluster {
            guard let epoch = cluster.leaderEpoch else {
                state.withLock { _ = $0.q.takeDueSchedules(now: now) }
                return
            }
            fence = [.fence(epoch: epoch)]
        }
        let due = state.withLock { l -> [String] in
            // At start and when this node comes to lead: schedules without a
            // next run yet (made before the cron arithmetic was handed in) get
            // one, and those whose time came fire.
            var names = !all ? Set<String>() : Set(l.q.schedules.keys).union(l.q.schedulesWorking.keys).filter { name in
                guard let s = l.q.currentSchedule(name) else { return false }
                return !s.paused && (s.nextRunAt.map { $0 <= now } ?? true)
            }
            names.formUnion(l.q.takeDueSchedules(now: now))
            return names.sorted()
        }
        for name in due {
            var cancel: Int64?
            var id: Int64?
            if let ids {
                guard case .success(let taken) = ids.takeNow() else { continue }
                id = taken
            }
            transact { q -> ((), Change?) in
                guard var s = q.currentSchedule(name), !s.paused else { return ((), nil) }
                guard let slot = s.nextRunAt else {
                    s.nextRunAt = next(s, now)
                    q.stageSchedule(s)
                    return ((), Change(ops: fence + [.upsertSchedule(s)], effect: .schedule(s, job: nil)))
                }
                guard slot <= now else { return ((), nil) }
                // Slots missed while the daemon was down: none, or the latest once.
                let following = next(s, slot)
                let missed = following.map { $0 <= now } ?? false
                if missed && s.catchUp == .none {
                    s.nextRunAt = next(s, now)
                    q.stageSchedule(s)
                    return ((), Change(ops: fence + [.upsertSchedule(s)], effect: .schedule(s, job: nil),
                                       events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))]))
                }
                let previous = s.lastJobID.flatMap { q.current($0) }
                let busy = previous.map { $0.status == .pending || $0.status == .running } ?? false
                if busy && s.overlap == .skip {
                    s.nextRunAt = next(s, now)
                    q.stageSchedule(s)
                    return ((), Change(ops: fence + [.upsertSchedule(s)], effect: .schedule(s, job: nil),
                                       events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))]))
                }
                if busy && s.overlap == .cancelPrevious { cancel = previous?.id }
                s.nextRunAt = next(s, now)
                var change = fire(&q, s, slot: missed ? now : slot, advance: true, id: id)
                change.ops = fence + change.ops
                return ((), change)
            }
            if let cancel, let stop = hooks.cancel { stop(cancel) }
        }
    }

    /// The change that makes a schedule's job, with the schedule's new last run.
    func fire(_ q: inout QueueState, _ schedule: Schedule, slot: Double, advance: Bool, id: Int64? = nil) -> Change {
        var s = schedule
        let o = s.jobOptions
        var job = Job(id: id ?? q.nextID, type: s.jobType, params: s.params, createdAt: clock.now())
        if id == nil { q.nextID += 1 }
        job.queue = o.queue ?? "default"
        job.priority = o.priority ?? 0
        job.timeout = o.timeout
        job.maxAttempts = o.maxAttempts ?? 1
        job.backoff = o.backoff ?? Backoff()
        job.schedule = s.name
        if cluster != nil { q.creating.insert(job.id) }
        s.lastRunAt = slot
        s.lastJobID = job.id
        q.stageSchedule(s)
        return Change(ops: [.upsert(job), .upsertSchedule(s)], effect: .schedule(s, job: job),
                      events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job)),
                               QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))])
    }

    /// Sets the timer for the earliest delayed job (after any change).
    func rearm() {
        let next: Double?? = state.withLock { l in
            let due = [l.q.scheduler.nextDue, l.q.nextScheduleDue()].compactMap { $0 }.min()
            guard due != l.q.scheduler.armedAt else { return .none }
            l.q.scheduler.armedAt = due
            return .some(due)
        }
        guard case .some(let time) = next else { return }
        clock.wake(at: time) { [weak self] in self?.timerFired() }
    }

    /// The earliest delayed job's time came: move what is due to the ready
    /// heaps, tell the worker, set the timer for the next.
    func timerFired() {
        let now = clock.now()
        let moved = state.withLock { l in
            l.q.scheduler.armedAt = nil
            return l.q.promoteDue(now: now)
        }
        fireDueSchedules(now: now)
        rearm()
        if moved > 0 { announceAvailable() }
    }

    func announceAvailable() {
        for action in availability.withLock({ $0 }) { action() }
    }
}

/// A value written by one thread and read by another after a commit.
final class Cell<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
