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
    /// Finished jobs kept in memory with a durable store.
    public let recentFinishedLimit: Int
    /// Bytes of log kept per job (`--max-log-bytes`); past it the oldest lines go.
    public let maxLogBytes: Int
    private let availability = Mutex<[@Sendable () -> Void]>([])

    /// Seconds between progress writes of one job (progress events are not throttled).
    static let progressWriteInterval = 0.25
    public static let interruptedMessage = "Interrupted: the daemon stopped while this job was running"

    /// An in-memory queue.
    public init(maxLogBytes: Int = 1 << 20) {
        store = nil
        recentFinishedLimit = 1000
        self.maxLogBytes = maxLogBytes
    }

    /// A queue over a durable store: loads its jobs. Jobs found running were
    /// interrupted by a stop; they are recorded as failed, and committed, before
    /// this returns.
    public init(store: any JobStore, recentFinishedLimit: Int = 1000, maxLogBytes: Int = 1 << 20) throws(StoreError) {
        self.store = store
        self.recentFinishedLimit = recentFinishedLimit
        self.maxLogBytes = maxLogBytes
        let snapshot = try store.load(recentFinished: recentFinishedLimit)
        store.onBatchDone { [weak self] in self?.batchDone() }
        let interrupted = state.withLock { l -> [Int64] in
            l.q.nextID = snapshot.nextID
            l.q.stats = snapshot.stats
            var interrupted: [Int64] = []
            for job in snapshot.recentFinished + snapshot.active {
                l.q.jobs[job.id] = job
                switch job.status {
                case .pending:
                    l.q.fifo.append(job.id)
                    l.q.runnable += 1
                case .running:
                    l.q.running.insert(job.id)
                    interrupted.append(job.id)
                default:
                    l.q.finished.append(job.id)
                }
            }
            l.q.order = l.q.jobs.keys.sorted()
            l.q.fifo.sort()
            return interrupted
        }
        guard !interrupted.isEmpty else { return }
        for id in interrupted { fail(id, error: Self.interruptedMessage) }
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
        q.countTotal = !query.types.isEmpty
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

    /// Pending jobs the worker can still claim.
    public var pendingCount: Int {
        state.withLock { $0.q.runnable }
    }

    /// Runs `action` whenever committed pending jobs join the queue (the worker's cue).
    public func onJobsAvailable(_ action: @escaping @Sendable () -> Void) {
        availability.withLock { $0.append(action) }
    }

    // MARK: Transitions

    /// Adds a job with validated params. It joins the queue (and `created` is
    /// published) once durable; then `completion` gets it, or the storage error
    /// (and then nothing was added).
    public func enqueue(type: String, params: JSONObject,
                        completion: @escaping @Sendable (Result<Job, StoreError>) -> Void = { _ in }) {
        if let failure = store?.failure {
            completion(.failure(failure))
            return
        }
        transact { q -> ((), Change?) in
            let job = Job(id: q.nextID, type: type, params: params, createdAt: epochNow())
            q.nextID += 1
            return ((), Change(ops: [.upsert(job)], effect: .insert(job),
                               events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job))],
                               retry: false, done: { result in completion(result.map { job }) }))
        }
    }

    /// The synchronous form for the in-memory queue (and tests): the job as created.
    @discardableResult
    public func enqueue(type: String, params: JSONObject) -> Job {
        let result = Mutex<Job?>(nil)
        enqueue(type: type, params: params) { r in result.withLock { $0 = try? r.get() } }
        return result.withLock { $0 } ?? Job(id: 0, type: type, params: params, createdAt: epochNow())
    }

    /// Moves the oldest pending job to `running` and returns it, or `nil` if none waits.
    public func claimNext() -> Job? {
        transact { q -> (Job?, Change?) in
            defer { q.compact() }
            while q.fifoHead < q.fifo.count {
                let id = q.fifo[q.fifoHead]
                q.fifoHead += 1
                guard let before = q.current(id), before.status == .pending else { continue }
                var job = before
                let now = epochNow()
                job.status = .running
                job.startedAt = now
                job.progress = .starting
                job.sequence += 1
                q.stage(job)
                q.runnable -= 1
                return (job, Change(ops: [.upsert(job)], effect: .update([job]),
                                    events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .started(startedAt: now))],
                                    touched: [before]))
            }
            return (nil, nil)
        }
    }

    /// Records progress of a running job; ignored (returns false) once it is not running.
    @discardableResult
    public func updateProgress(_ id: Int64, percent: Int, message: String) -> Bool {
        transact { q -> (Bool, Change?) in
            guard let before = q.current(id), before.status == .running else { return (false, nil) }
            var job = before
            let p = JobProgress(percent: min(max(percent, 0), 100), message: message)
            job.progress = p
            job.sequence += 1
            q.stage(job)
            var ops: [StoreOp] = []
            if store != nil {
                let now = epochNow()
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
    /// Each line takes the job's next sequence number and becomes a `log` event.
    @discardableResult
    public func appendLog(_ id: Int64, _ stream: LogStream, _ lines: [String]) -> Bool {
        guard !lines.isEmpty else { return true }
        return transact { q -> (Bool, Change?) in
            guard let before = q.current(id), before.status == .running else { return (false, nil) }
            var job = before
            let now = epochNow()
            var out: [LogLine] = []
            out.reserveCapacity(lines.count)
            for text in lines {
                job.sequence += 1
                out.append(LogLine(seq: job.sequence, ts: now, stream: stream, text: text))
            }
            q.stage(job)
            var ops: [StoreOp] = []
            if store != nil {
                // Held and written in batches, like progress: a job writing far
                // faster than its budget costs one small write a quarter second.
                q.unwrittenLog[id, default: JobLog()].append(out, maxBytes: maxLogBytes)
                if now - (q.logWritten[id] ?? 0) >= Self.progressWriteInterval, let op = Self.flushLog(&q, id, maxBytes: maxLogBytes) {
                    ops.append(op)
                }
            }
            return (true, Change(ops: ops, effect: .update([job]),
                                 events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .log(out))],
                                 touched: [before], logs: (id, out)))
        }
    }

    /// The store write for a job's held log lines, if any (then none are held).
    static func flushLog(_ q: inout QueueState, _ id: Int64, maxBytes: Int) -> StoreOp? {
        q.logWritten[id] = epochNow()
        guard let held = q.unwrittenLog.removeValue(forKey: id), !held.lines.isEmpty || held.dropped > 0 else { return nil }
        return .appendLog(id: id, lines: held.lines, dropped: held.dropped, maxBytes: maxBytes)
    }

    /// A job's log lines after `seq` (committed), or nil for an unknown job.
    public func log(_ id: Int64, after seq: UInt64 = 0) throws(StoreError) -> JobLog? {
        guard let store else {
            return state.withLock { l in
                guard l.q.jobs[id] != nil else { return nil }
                return (l.q.logs[id] ?? JobLog()).after(seq)
            }
        }
        return try store.log(id, after: seq)
    }

    /// Marks a running job completed with its result.
    @discardableResult
    public func complete(_ id: Int64, result: JSONValue) -> Bool {
        finish(id, QueueState.Finish(status: .completed, result: result, error: nil))
    }

    /// Marks a running job failed with an error message.
    @discardableResult
    public func fail(_ id: Int64, error: String) -> Bool {
        finish(id, QueueState.Finish(status: .failed, result: nil, error: error))
    }

    /// Cancels a pending or running job. The outcome is known at once; for a
    /// cancel that happens, `completion` runs once it is committed (then a running
    /// job's task may be stopped), or gets the storage error and nothing changed.
    public func cancel(_ id: Int64, completion: @escaping @Sendable (Result<CancelOutcome, StoreError>) -> Void) {
        let failing = store?.failure
        let outcome = transact { q -> (CancelOutcome, Change?) in
            guard let before = q.current(id) else { return (.notFound, nil) }
            guard before.status == .pending || before.status == .running else { return (.notCancellable(before.status), nil) }
            if failing != nil { return (.cancelled(wasRunning: before.status == .running), nil) }
            let wasRunning = before.status == .running
            var job = before
            job.status = .cancelled
            job.completedAt = epochNow()
            job.sequence += 1
            q.stage(job)
            if wasRunning { q.cancelling[id] = QueueState.CancelInFlight() } else { q.runnable -= 1 }
            q.progressWritten[id] = nil
            let result = CancelOutcome.cancelled(wasRunning: wasRunning)
            var ops: [StoreOp] = [.upsert(job)]
            if let log = Self.flushLog(&q, id, maxBytes: maxLogBytes) { ops.insert(log, at: 0) }
            return (result, Change(ops: ops, effect: .update([job]),
                                   events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .cancelled)],
                                   touched: [before], retry: false, cancelOf: id,
                                   done: { r in completion(r.map { result }) }))
        }
        switch outcome {
        case .cancelled:
            if let failing { completion(.failure(failing)) }
        case .notFound:
            // Not in memory: finished long ago (read outside the lock), or never existed.
            if let stored = try? store?.job(id) {
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
        let pruned = Cell<[PrunedJob]>([])
        transact { q -> ((), Change?) in
            var ops: [StoreOp] = []
            if store == nil {
                pruned.value = q.pruneCandidates(before: before, keep: keep)
            } else {
                ops = [.prune(before: before, keep: keep, report: { removed in pruned.value = removed })]
            }
            return ((), Change(ops: ops, effect: .prune(pruned), retry: true, done: completion))
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

    private func finish(_ id: Int64, _ end: QueueState.Finish) -> Bool {
        transact { q -> (Bool, Change?) in
            guard let before = q.current(id), before.status == .running else {
                // Its cancel is on the way to the store: keep the outcome in case
                // that cancel fails to commit.
                if q.cancelling[id] != nil { q.cancelling[id] = QueueState.CancelInFlight(finish: end) }
                return (false, nil)
            }
            return (true, finishChange(&q, before, end))
        }
    }

    func finishChange(_ q: inout QueueState, _ before: Job, _ end: QueueState.Finish) -> Change {
        var job = before
        job.status = end.status
        job.completedAt = epochNow()
        let kind: QueueEvent.Kind
        if end.status == .completed {
            let result = end.result ?? .object([:])
            job.result = result
            job.progress = .complete
            kind = .completed(result: result, duration: job.duration ?? 0)
        } else {
            job.error = end.error
            kind = .failed(error: end.error ?? "")
        }
        job.sequence += 1
        q.stage(job)
        q.progressWritten[job.id] = nil
        var ops: [StoreOp] = [.upsert(job)]
        if let log = Self.flushLog(&q, job.id, maxBytes: maxLogBytes) { ops.insert(log, at: 0) }
        q.logWritten[job.id] = nil
        return Change(ops: ops, effect: .update([job]),
                      events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: kind)], touched: [before])
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
