import Dispatch
import JSON
import JobQueue
import Synchronization

/// Worker figures as the API's `worker` object shows them.
public struct WorkerStats: Sendable, Equatable {
    public var active: Int
    public var capacity: Int
    public var processed: Int
    public var isRunning: Bool
}

/// Why a submission was refused.
public enum SubmitError: Error, Sendable, Equatable {
    case unknownType(String)
    case invalid(ValidationError)

    public var message: String {
        switch self {
        case .unknownType(let t): "Unknown job type: \(t.prefix(100))"
        case .invalid(let e): e.message
        }
    }
}

/// The one door to the jobs: every transport (REST, WebSocket, the daemon's own
/// timers) creates, cancels, clears and reads through it. It validates
/// submissions, and runs jobs as Swift tasks, at most `capacity` at once, in FIFO
/// order. Starting is event-driven: a submission or a finished job pumps the
/// queue at once; nothing polls.
///
/// Changes answer through completions: at once in memory, after the commit that
/// holds them with a durable store (then a failure means nothing changed).
public final class JobEngine: Sendable {
    let queue: JobQueue
    /// The job types known now (replaced as a whole when the daemon reloads its
    /// definitions; running jobs keep the type they started with).
    public var registry: JobRegistry { registryBox.withLock { $0.registry } }
    /// The job types with a number that grows each time they are replaced, for
    /// whoever derives something from them once (the OpenAPI document).
    public var versionedRegistry: (registry: JobRegistry, version: UInt64) { registryBox.withLock { $0 } }
    private let registryBox: Mutex<(registry: JobRegistry, version: UInt64)>
    public let capacity: Int

    private struct WorkerState {
        var active = 0
        var processed = 0
        var isRunning = true
        var tasks: [Int64: Task<Void, Never>] = [:]
        /// The attempt each registered task runs: a cancelled run slow to stop
        /// may end after the job's next run started here, and leaves that one's
        /// task registered (a cancel must find it).
        var attempts: [Int64: JobAttempt] = [:]
        /// Cancels that arrived before the job's task was registered.
        var cancelBeforeRegister: Set<Int64> = []
        /// A shared store: a claim is on its way, and whether to claim again after it.
        var claiming = false
        var claimAgain = false
    }

    private let worker = Mutex(WorkerState())
    private let workerObservers = Mutex<[@Sendable (WorkerStats) -> Void]>([])

    public init(queue: JobQueue = JobQueue(), registry: JobRegistry = .builtIn, capacity: Int = 3) {
        self.queue = queue
        self.registryBox = Mutex((registry, 0))
        self.capacity = max(1, capacity)
        queue.onJobsAvailable { [weak self] in self?.pump() }
        queue.setTypeLimits(Self.limits(registry))
        queue.onTaskStop { [weak self] id in self?.stopTask(id) }
        if queue.nodeID != nil { safetyNet() }
    }

    /// With several nodes, a claim also runs once a second whatever this node
    /// heard (a notification lost while the connection was down, say).
    private func safetyNet() {
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self else { return }
            self.pump(force: true)
            self.safetyNet()
        }
    }

    /// Stops a running job's task (another node ended the job).
    private func stopTask(_ id: Int64) {
        let task: Task<Void, Never>? = worker.withLock { w in w.tasks[id] }
        task?.cancel()
    }

    /// Puts a new set of job types in place.
    public func replaceRegistry(_ registry: JobRegistry) {
        registryBox.withLock { $0 = (registry, $0.version + 1) }
        queue.setTypeLimits(Self.limits(registry))
    }

    static func limits(_ registry: JobRegistry) -> [String: Int] {
        var out: [String: Int] = [:]
        for t in registry.types { if let n = t.defaults.concurrency { out[t.name] = n } }
        return out
    }

    /// Validates a submission: the type and its normalised params.
    public func validate(type: String, params: JSONValue?) throws(SubmitError) -> JSONObject {
        guard let jobType = registry.type(named: type) else { throw .unknownType(type) }
        do { return try jobType.validate(params) } catch { throw .invalid(error) }
    }

    /// Validates (throwing at once) and enqueues a job; `completion` gets it once
    /// it is durable and queued (it starts at once if a slot is free), or the
    /// storage error.
    public func submit(type: String, params: JSONValue?,
                       completion: @escaping @Sendable (Result<Job, StoreError>) -> Void) throws(SubmitError) {
        try submit(type: type, params: params, options: JobOptions()) { result in completion(result.map(\.job)) }
    }

    /// Validates type, params and options (throwing at once) and enqueues the
    /// job with the type's defaults filled in; `completion` gets it once durable
    /// and queued, or the job that already holds its idempotency key.
    public func submit(type: String, params: JSONValue?, options: JobOptions,
                       completion: @escaping @Sendable (Result<JobQueue.Submitted, StoreError>) -> Void) throws(SubmitError) {
        guard let jobType = registry.type(named: type) else { throw .unknownType(type) }
        let normalised: JSONObject
        do { normalised = try jobType.validate(params) } catch { throw .invalid(error) }
        queue.enqueue(type: type, params: normalised, options: options.resolved(with: jobType.defaults), completion: completion)
    }

    /// Puts a failed or cancelled job back to pending (see `JobQueue.retry`).
    public func retry(_ id: Int64, completion: @escaping @Sendable (Result<JobQueue.RetryOutcome, StoreError>) -> Void) {
        queue.retry(id, completion: completion)
    }

    /// The named queues with their settings and counts.
    public func queues() -> [(name: String, settings: QueueSettings, counts: QueueStats)] { queue.queues() }

    /// Changes a queue's settings; in effect at once, kept across restarts.
    public func updateQueue(_ name: String, _ settings: QueueSettings,
                            completion: @escaping @Sendable (Result<QueueSettings, StoreError>) -> Void) {
        queue.updateQueue(name, settings, completion: completion)
    }

    /// This node's id, when several nodes share the store.
    public var nodeID: String? { queue.nodeID }

    /// The nodes sharing the store (nil: the store is not shared).
    public func nodes() throws(StoreError) -> [NodeInfo]? { try queue.nodes() }

    /// The queue's clock (now, in epoch seconds).
    public var now: Double { queue.clock.now() }

    /// The synchronous form for the in-memory queue (and tests).
    @discardableResult
    public func submit(type: String, params: JSONValue?) throws(SubmitError) -> Job {
        let result = Mutex<Job?>(nil)
        try submit(type: type, params: params) { r in result.withLock { $0 = try? r.get() } }
        return result.withLock { $0 } ?? Job(id: 0, type: type, params: [:], createdAt: now)
    }

    /// Starts pending jobs loaded from a durable store (after a restart).
    public func resume() {
        pump()
    }

    /// Cancels a pending or running job. Once the cancel is committed a running
    /// job's task is stopped at its next cancellation point (a sleep ends at
    /// once) and `completion` gets the outcome; a storage error means the job
    /// goes on as before.
    public func cancel(_ id: Int64, completion: @escaping @Sendable (Result<JobQueue.CancelOutcome, StoreError>) -> Void) {
        queue.cancel(id) { [self] result in
            if case .success(.cancelled(wasRunning: true)) = result {
                let task: Task<Void, Never>? = worker.withLock { w in
                    if let t = w.tasks[id] { return t }
                    w.cancelBeforeRegister.insert(id)
                    return nil
                }
                task?.cancel()
            }
            completion(result)
        }
    }

    /// The synchronous form for the in-memory queue (and tests).
    public func cancel(_ id: Int64) -> JobQueue.CancelOutcome {
        let outcome = Mutex<JobQueue.CancelOutcome>(.notFound)
        cancel(id) { r in if case .success(let o) = r { outcome.withLock { $0 = o } } }
        return outcome.withLock { $0 }
    }

    /// Removes every finished job; `completion` gets how many once committed.
    public func clearFinished(completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        queue.clearFinished(completion: completion)
    }

    /// The synchronous form for the in-memory queue (and tests).
    @discardableResult
    public func clearFinished() -> Int {
        queue.clearFinished()
    }

    /// Applies the retention rule (see `JobQueue.pruneFinished`).
    public func pruneFinished(before: Double?, keep: Int?, completion: @escaping JobQueue.Completion = { _ in }) {
        queue.pruneFinished(before: before, keep: keep, completion: completion)
    }

    // MARK: Reads (committed state)

    public var isDurable: Bool { queue.isDurable }

    /// Why the store cannot commit now, or nil while it can (or there is none).
    public var storageFailure: StoreError? { queue.storageFailure }

    public func job(_ id: Int64) -> Job? { queue.job(id) }

    public func list(_ query: JobQuery) throws(StoreError) -> JobPage { try queue.list(query) }

    public func queueStats() -> QueueStats { queue.stats() }

    /// Turns the job metrics on (see `JobQueue.enableMetrics`).
    public func enableMetrics(maxQueues: Int = 100) { queue.enableMetrics(maxQueues: maxQueues) }

    /// The store's commit figures (nil in memory).
    public var storeMetrics: StoreMetrics? { queue.storeMetrics }

    /// The job metrics, or nil while they are off.
    public func metrics() -> QueueMetricsSnapshot? { queue.metrics() }

    /// Bytes of log kept per job.
    public var maxLogBytes: Int { queue.maxLogBytes }

    /// A job's log after `seq` (committed), or nil for an unknown job.
    public func log(_ id: Int64, after seq: UInt64 = 0, limit: Int? = nil) throws(StoreError) -> JobLog? { try queue.log(id, after: seq, limit: limit) }

    /// What a live client starts from (see `JobQueue.snapshot`).
    public func snapshot(pendingLimit: Int = 1000, finishedLimit: Int = 1000) -> QueueSnapshot {
        queue.snapshot(pendingLimit: pendingLimit, finishedLimit: finishedLimit)
    }

    public func subscribe(_ handler: @escaping JobQueue.Subscriber) -> SubscriptionToken { queue.subscribe(handler) }

    public func unsubscribe(_ token: SubscriptionToken) { queue.unsubscribe(token) }

    /// Runs `completion` once everything changed so far is committed and published.
    public func whenDurable(_ completion: @escaping JobQueue.Completion) { queue.whenDurable(completion) }

    public var stats: WorkerStats {
        worker.withLock { WorkerStats(active: $0.active, capacity: capacity, processed: $0.processed, isRunning: $0.isRunning) }
    }

    /// Calls `observer` with fresh worker figures after a job starts or ends.
    /// It runs on the thread that started or ended the job; keep it quick.
    public func observeWorker(_ observer: @escaping @Sendable (WorkerStats) -> Void) {
        workerObservers.withLock { $0.append(observer) }
    }

    /// Tells observers after the job events before it are published (with a
    /// durable store, after their commit), so `worker_stats` follows them.
    private func workerChanged() {
        let observers = workerObservers.withLock { $0 }
        guard !observers.isEmpty else { return }
        queue.whenDurable { [self] _ in
            let current = stats
            for o in observers { o(current) }
        }
    }

    /// Stops starting jobs; the running ones go on. Pending jobs stay pending (a
    /// durable store resumes them at the next start).
    public func pause() {
        worker.withLock { $0.isRunning = false }
        workerChanged()
    }

    /// Stops starting new jobs and cancels the running ones' tasks.
    public func stop() {
        let tasks = worker.withLock { w in
            w.isRunning = false
            return Array(w.tasks.values)
        }
        for t in tasks { t.cancel() }
    }

    /// Starts pending jobs while slots are free.
    func pump(force: Bool = false) {
        if queue.nodeID != nil { return pumpShared(force: force) }
        while true {
            let reserved = worker.withLock { w in
                guard w.isRunning, w.active < capacity else { return false }
                w.active += 1
                return true
            }
            guard reserved else { return }
            guard let job = queue.claimNext() else {
                worker.withLock { $0.active -= 1 }
                // A job that became claimable while the slot was held saw the
                // worker full: look again.
                if queue.hasClaimable { continue }
                return
            }
            start(job)
        }
    }

    /// A shared store: the free slots' worth of jobs is claimed in the
    /// database, one claim at a time; anything announced meanwhile claims again.
    private func pumpShared(force: Bool) {
        guard force || queue.hasClaimable else { return }
        let wanted = worker.withLock { w -> Int in
            guard w.isRunning else { return 0 }
            if w.claiming {
                w.claimAgain = true
                return 0
            }
            let free = capacity - w.active
            guard free > 0 else { return 0 }
            w.claiming = true
            w.claimAgain = false
            w.active += free
            return free
        }
        guard wanted > 0 else { return }
        queue.claim(limit: wanted) { [self] jobs in
            let again = worker.withLock { w -> Bool in
                w.active -= wanted - jobs.count
                w.claiming = false
                return w.claimAgain || jobs.count == wanted
            }
            for job in jobs { start(job) }
            if jobs.isEmpty { workerChanged() }
            if again { pump() }
        }
    }

    private func start(_ job: Job) {
        let task = Task { [self] in await execute(job) }
        let cancelled = worker.withLock { w in
            w.tasks[job.id] = task
            w.attempts[job.id] = JobAttempt(job)
            return w.cancelBeforeRegister.remove(job.id) != nil
        }
        if cancelled { task.cancel() }
        workerChanged()
    }

    /// Runs one attempt of a job. Its progress, log and end are reported for
    /// that attempt: once the job is on another (this node went silent and the
    /// job was retried elsewhere), they change nothing.
    private func execute(_ job: Job) async {
        let queue = self.queue
        let id = job.id
        let attempt = JobAttempt(job)
        if let jobType = registry.type(named: job.type) {
            let context = JobContext(jobID: id, reporter: { percent, message in
                queue.updateProgress(id, percent: percent, message: message, attempt: attempt)
            }, logger: { stream, lines, dropped in
                queue.appendLog(id, stream, lines, dropped: dropped, attempt: attempt)
            })
            // A timeout stops the attempt the way a cancel does (a built-in at its
            // next cancellation point, a command's process group with SIGTERM),
            // and the attempt fails as timed out (and may be retried).
            let timedOut = TimeoutFlag()
            let deadline: Task<Void, Never>? = job.timeout.map { seconds in
                Task { [self] in
                    guard (try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))) != nil else { return }
                    timedOut.value.store(true, ordering: .sequentiallyConsistent)
                    let task: Task<Void, Never>? = worker.withLock { w in
                        if let t = w.tasks[id] { return t }
                        w.cancelBeforeRegister.insert(id)
                        return nil
                    }
                    task?.cancel()
                }
            }
            do {
                let result = try await jobType.run(job.params, context)
                deadline?.cancel()
                if timedOut.value.load(ordering: .sequentiallyConsistent) {
                    queue.fail(id, error: Self.timedOutMessage(job.timeout ?? 0), attempt: attempt)
                } else {
                    queue.complete(id, result: result, attempt: attempt)
                }
            } catch is CancellationError {
                deadline?.cancel()
                if timedOut.value.load(ordering: .sequentiallyConsistent) {
                    queue.fail(id, error: Self.timedOutMessage(job.timeout ?? 0), attempt: attempt)
                } else {
                    // Cancelled through `cancel` (already recorded), by `stop`, or
                    // because another node took the job over. With several nodes a
                    // stopped node's job is retried (while attempts remain) by
                    // another, as the leader does for a silent node's.
                    queue.fail(id, error: JobQueue.interruptedMessage, retryable: queue.nodeID != nil, attempt: attempt)
                }
            } catch let failure as JobFailure {
                deadline?.cancel()
                queue.fail(id, error: failure.message, attempt: attempt)
            } catch {
                deadline?.cancel()
                queue.fail(id, error: String(describing: error), attempt: attempt)
            }
        } else {
            queue.fail(id, error: "Unknown job type: \(job.type)", retryable: false, attempt: attempt)
        }
        worker.withLock { w in
            w.active -= 1
            w.processed += 1
            if w.attempts[id] == attempt {
                w.tasks[id] = nil
                w.attempts[id] = nil
            }
        }
        workerChanged()
        pump()
    }

    /// Set when an attempt's timeout fired (read after its task ended).
    final class TimeoutFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// `Timed out after 3600 seconds` (or `0.5 seconds`).
    static func timedOutMessage(_ seconds: Double) -> String {
        let text = seconds.rounded() == seconds && seconds < 1e15 ? String(Int64(seconds)) : String(seconds)
        return "Timed out after \(text) seconds"
    }
}
