import JSON
import Synchronization

/// The jobs, their state machine, FIFO order, counters and the event hub.
///
/// Every operation is short and synchronous under one `Mutex`, so C callbacks on
/// libmicrohttpd threads can call straight in. Events go to an outbox under the
/// lock and are delivered after it is released, by one thread at a time, so
/// subscribers see them in exactly the order of the changes and never run under
/// the queue's lock.
///
/// With a durable store every change is also handed to the store, in the same
/// order, and its events (and the completions of whoever asked for it) wait for
/// the commit that holds it: no client sees a state that a crash would undo. A
/// new job joins the queue only once committed. Memory then holds the pending and
/// running jobs and the newest finished ones; older ones are read from the store.
public final class JobQueue: Sendable {
    public typealias Subscriber = @Sendable (QueueEvent) -> Void
    public typealias Completion = @Sendable (Result<Void, StoreError>) -> Void

    public enum CancelOutcome: Sendable, Equatable {
        case cancelled(wasRunning: Bool)
        case notFound
        case notCancellable(JobStatus)
    }

    struct State: ~Copyable {
        var jobs: [Int64: Job] = [:]
        /// Ids in creation order (ids of evicted or cleared jobs are skipped lazily).
        var order: [Int64] = []
        var orderHoles = 0
        /// Pending ids in FIFO order; cancelled ones are skipped lazily.
        var fifo: [Int64] = []
        var fifoHead = 0
        /// Finished ids in the order they finished, for evicting the oldest (durable only).
        var finished: [Int64] = []
        var finishedHead = 0
        var nextID: Int64 = 1
        var stats = QueueStats()
        var outbox: [QueueEvent] = []
        /// Position of the newest event recorded.
        var position: UInt64 = 0
        var delivering = false
        var subscribers: [(token: Int, handler: Subscriber)] = []
        var nextToken = 0
        /// When progress of a job was last written to the store.
        var progressWritten: [Int64: Double] = [:]
        /// Durable: completions of committed submissions, run after the batch's
        /// events are published; and whether new jobs joined the queue.
        var committed: [@Sendable () -> Void] = []
        var jobsJoined = false
    }

    let state = Mutex(State())
    let store: (any JobStore)?
    /// Finished jobs kept in memory with a durable store (and sent in `queue_state`).
    public let recentFinishedLimit: Int
    private let availability = Mutex<[@Sendable () -> Void]>([])

    /// Seconds between progress writes of one job (progress events are not throttled).
    static let progressWriteInterval = 0.25
    public static let interruptedMessage = "Interrupted: the daemon stopped while this job was running"

    /// An in-memory queue.
    public init() {
        store = nil
        recentFinishedLimit = 1000
    }

    /// A queue over a durable store: loads its jobs; jobs found running were
    /// interrupted by a stop and are recorded as failed.
    public init(store: any JobStore, recentFinishedLimit: Int = 1000) throws(StoreError) {
        self.store = store
        self.recentFinishedLimit = recentFinishedLimit
        let snapshot = try store.load(recentFinished: recentFinishedLimit)
        store.onBatchDone { [weak self] in self?.batchDone() }
        var interrupted: [Job] = []
        state.withLock { s in
            s.nextID = snapshot.nextID
            s.stats = snapshot.stats
            let now = epochNow()
            for var job in snapshot.recentFinished + snapshot.active {
                if job.status == .running {
                    job.status = .failed
                    job.error = Self.interruptedMessage
                    job.completedAt = now
                    job.sequence += 1
                    s.stats.running -= 1
                    s.stats.failed += 1
                    interrupted.append(job)
                }
                s.jobs[job.id] = job
                if job.status.isFinished { s.finished.append(job.id) }
                if job.status == .pending { s.fifo.append(job.id) }
            }
            s.order = s.jobs.keys.sorted()
        }
        if !interrupted.isEmpty { store.submit(interrupted.map(StoreOp.upsert), retry: true) { _ in } }
    }

    public var isDurable: Bool { store != nil }

    // MARK: Reads

    /// A job from memory, else (durable) from the store.
    public func job(_ id: Int64) -> Job? {
        if let job = state.withLock({ $0.jobs[id] }) { return job }
        return try? store?.job(id)
    }

    /// Every job in memory, oldest first.
    public func allJobs() -> [Job] {
        state.withLock { s in s.order.compactMap { s.jobs[$0] } }
    }

    /// A page of jobs: from memory, or (durable) from the store's committed state.
    public func list(_ query: JobQuery) throws(StoreError) -> JobPage {
        guard let store else { return query.run(over: allJobs()) }
        var q = query
        q.countTotal = query.type != nil
        var page = try store.query(q)
        if !q.countTotal {
            let stats = self.stats()
            page.total = query.statuses.isEmpty ? stats.total : query.statuses.reduce(0) { $0 + stats[$1] }
        }
        return page
    }

    /// A bounded view for `queue_state`: every running job, the first
    /// `pendingLimit` pending ones in run order and the newest `finishedLimit`
    /// finished ones (with a store: the most recently finished, which memory
    /// holds; in memory: the highest ids), sorted by id, with the exact counters,
    /// the event position and whether jobs were left out.
    ///
    /// Under the lock it visits the pending FIFO from its head, the finished list
    /// from its end, and `order` backwards only until every running job (and, in
    /// memory, enough finished ones) is found; sorting happens after the lock.
    public func snapshot(pendingLimit: Int = 1000, finishedLimit: Int = 1000) -> QueueSnapshot {
        let taken = state.withLock { s -> (jobs: [Job], stats: QueueStats, position: UInt64, truncated: Bool) in
            var jobs: [Job] = []
            jobs.reserveCapacity(min(s.stats.pending, pendingLimit) + s.stats.running + finishedLimit)
            var pending = 0
            var firstPending: Int64?
            var i = s.fifoHead
            while i < s.fifo.count && pending < pendingLimit {
                if let job = s.jobs[s.fifo[i]], job.status == .pending {
                    if firstPending == nil { firstPending = job.id }
                    jobs.append(job)
                    pending += 1
                }
                i += 1
            }
            let finishedTotal = s.stats.completed + s.stats.failed + s.stats.cancelled
            let finishedWanted = min(finishedLimit, finishedTotal)
            var finished = 0
            if store != nil {
                var k = s.finished.count - 1
                while k >= s.finishedHead && finished < finishedWanted {
                    if let job = s.jobs[s.finished[k]], job.status.isFinished {
                        jobs.append(job)
                        finished += 1
                    }
                    k -= 1
                }
            }
            // Running jobs (and, in memory, finished ones) by walking `order`
            // (ids ascending) backwards. Jobs run in FIFO order, so running ones
            // lie just below the first pending id: start there when only running
            // ones are sought, then cover the rest in case they are elsewhere.
            let collectFinished = store == nil && finishedWanted > 0
            var split = s.order.count
            if !collectFinished, let firstPending {
                var lo = 0, hi = s.order.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if s.order[mid] < firstPending { lo = mid + 1 } else { hi = mid }
                }
                split = lo
            }
            var running = 0
            let runningTotal = s.stats.running
            func done() -> Bool { running >= runningTotal && (!collectFinished || finished >= finishedWanted) }
            for range in [0..<split, split..<s.order.count] where !done() {
                var k = range.upperBound - 1
                while k >= range.lowerBound && !done() {
                    if let job = s.jobs[s.order[k]] {
                        if job.status == .running {
                            jobs.append(job)
                            running += 1
                        } else if collectFinished && finished < finishedWanted && job.status.isFinished {
                            jobs.append(job)
                            finished += 1
                        }
                    }
                    k -= 1
                }
            }
            let truncated = pending < s.stats.pending || finished < finishedTotal
            return (jobs, s.stats, s.position, truncated)
        }
        var jobs = taken.jobs
        jobs.sort { $0.id < $1.id }
        return QueueSnapshot(jobs: jobs, stats: taken.stats, position: taken.position, truncated: taken.truncated)
    }

    public func stats() -> QueueStats {
        state.withLock { $0.stats }
    }

    public var pendingCount: Int {
        state.withLock { $0.stats.pending }
    }

    /// Runs `action` whenever committed pending jobs join the queue (the worker's cue).
    public func onJobsAvailable(_ action: @escaping @Sendable () -> Void) {
        availability.withLock { $0.append(action) }
    }

    // MARK: Transitions

    /// Adds a job with validated params. It joins the queue (and `created` is
    /// published) once durable; then `completion` gets it, or the storage error.
    public func enqueue(type: String, params: JSONObject,
                        completion: @escaping @Sendable (Result<Job, StoreError>) -> Void = { _ in }) {
        if let failure = store?.failure {
            completion(.failure(failure))
            return
        }
        guard let store else {
            let job = state.withLock { s in
                let job = Job(id: s.nextID, type: type, params: params, createdAt: epochNow())
                s.nextID += 1
                Self.insert(&s, job)
                return job
            }
            deliver()
            completion(.success(job))
            announceAvailable()
            return
        }
        // The id is taken and the write submitted under one lock, so commits (and
        // so the FIFO) follow id order.
        state.withLock { s in
            let job = Job(id: s.nextID, type: type, params: params, createdAt: epochNow())
            s.nextID += 1
            store.submit([.upsert(job)], retry: false) { [self] result in
                switch result {
                case .success:
                    // Joins the queue now; `batchDone` publishes and answers for
                    // the whole commit at once.
                    state.withLock { s in
                        Self.insert(&s, job)
                        s.committed.append { completion(.success(job)) }
                        s.jobsJoined = true
                    }
                case .failure(let error):
                    completion(.failure(error))
                }
            }
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
        mutate { s, ops in
            while s.fifoHead < s.fifo.count {
                let id = s.fifo[s.fifoHead]
                s.fifoHead += 1
                guard var job = s.jobs[id], job.status == .pending else { continue }
                let now = epochNow()
                job.status = .running
                job.startedAt = now
                job.progress = .starting
                job.sequence += 1
                s.jobs[id] = job
                s.stats.pending -= 1
                s.stats.running += 1
                ops.append(.upsert(job))
                Self.compactFIFO(&s)
                return (job, [QueueEvent(jobID: id, sequence: job.sequence, kind: .started(startedAt: now))])
            }
            Self.compactFIFO(&s)
            return (nil, [])
        }
    }

    /// Records progress of a running job; ignored (returns false) once it is not running.
    @discardableResult
    public func updateProgress(_ id: Int64, percent: Int, message: String) -> Bool {
        mutate { s, ops in
            guard var job = s.jobs[id], job.status == .running else { return (false, []) }
            let p = JobProgress(percent: min(max(percent, 0), 100), message: message)
            job.progress = p
            job.sequence += 1
            s.jobs[id] = job
            if store != nil {
                let now = epochNow()
                if now - (s.progressWritten[id] ?? 0) >= Self.progressWriteInterval {
                    s.progressWritten[id] = now
                    ops.append(.progress(id: id, progress: p, sequence: job.sequence))
                }
            }
            return (true, [QueueEvent(jobID: id, sequence: job.sequence, kind: .progress(p))])
        }
    }

    /// Marks a running job completed with its result.
    @discardableResult
    public func complete(_ id: Int64, result: JSONValue) -> Bool {
        finish(id, as: .completed) { job in
            job.result = result
            job.progress = .complete
            return .completed(result: result, duration: job.duration ?? 0)
        }
    }

    /// Marks a running job failed with an error message.
    @discardableResult
    public func fail(_ id: Int64, error: String) -> Bool {
        finish(id, as: .failed) { job in
            job.error = error
            return .failed(error: error)
        }
    }

    /// Cancels a pending or running job.
    public func cancel(_ id: Int64) -> CancelOutcome {
        let outcome = mutate { s, ops -> (CancelOutcome, [QueueEvent]) in
            guard var job = s.jobs[id] else { return (.notFound, []) }
            guard job.status == .pending || job.status == .running else { return (.notCancellable(job.status), []) }
            let wasRunning = job.status == .running
            s.stats[job.status] -= 1
            s.stats.cancelled += 1
            job.status = .cancelled
            job.completedAt = epochNow()
            job.sequence += 1
            s.jobs[id] = job
            ops.append(.upsert(job))
            Self.finished(&s, id, limit: store == nil ? nil : recentFinishedLimit)
            return (.cancelled(wasRunning: wasRunning), [QueueEvent(jobID: id, sequence: job.sequence, kind: .cancelled)])
        }
        // Not in memory: finished long ago (read outside the lock), or never existed.
        if outcome == .notFound, let stored = try? store?.job(id) { return .notCancellable(stored.status) }
        return outcome
    }

    /// Removes every completed, failed and cancelled job; returns how many.
    public func clearFinished() -> Int {
        mutate { s, ops in
            var removed: [Int64] = []
            for id in s.order {
                guard let job = s.jobs[id], job.status.isFinished else { continue }
                removed.append(id)
                s.jobs[id] = nil
            }
            s.order.removeAll { s.jobs[$0] == nil }
            s.orderHoles = 0
            s.finished = []
            s.finishedHead = 0
            let count = s.stats.completed + s.stats.failed + s.stats.cancelled
            s.stats.completed = 0
            s.stats.failed = 0
            s.stats.cancelled = 0
            s.stats.total = s.stats.pending + s.stats.running
            ops.append(.deleteFinished)
            return (count, [QueueEvent(jobID: 0, sequence: 0, kind: .cleared(count: count, ids: removed))])
        }
    }

    /// Removes finished jobs that finished before `before` or are older than the
    /// newest `keep` (`--retain-finished`); the counters follow.
    public func pruneFinished(before: Double?, keep: Int?) {
        guard before != nil || keep != nil else { return }
        guard let store else {
            mutate { s, _ in
                let removed = Self.pruneMemory(&s, before: before, keep: keep)
                for job in removed {
                    s.stats[job.status] -= 1
                    s.stats.total -= 1
                }
                return ((), [])
            }
            return
        }
        state.withLock { _ in
            store.submit([.prune(before: before, keep: keep, report: { [self] counts in
                state.withLock { s in
                    let n = counts.completed + counts.failed + counts.cancelled
                    s.stats.completed = max(0, s.stats.completed - counts.completed)
                    s.stats.failed = max(0, s.stats.failed - counts.failed)
                    s.stats.cancelled = max(0, s.stats.cancelled - counts.cancelled)
                    s.stats.total = max(0, s.stats.total - n)
                    _ = Self.pruneMemory(&s, before: before, keep: keep)
                }
            })], retry: true) { _ in }
        }
    }

    /// Drops finished jobs from memory by the prune rule; returns them.
    private static func pruneMemory(_ s: inout State, before: Double?, keep: Int?) -> [Job] {
        var finished = s.order.compactMap { s.jobs[$0] }.filter { $0.status.isFinished }
        finished.sort { ($0.completedAt ?? 0, $0.id) < ($1.completedAt ?? 0, $1.id) }
        var removed: [Job] = []
        for (i, job) in finished.enumerated() {
            let old = before.map { (job.completedAt ?? 0) < $0 } ?? false
            let excess = keep.map { finished.count - i > $0 } ?? false
            guard old || excess else { continue }
            s.jobs[job.id] = nil
            removed.append(job)
        }
        if !removed.isEmpty {
            let jobs = s.jobs
            s.order.removeAll { jobs[$0] == nil }
            s.orderHoles = 0
        }
        return removed
    }

    /// Runs `completion` once everything changed so far is durable and its events
    /// are published (at once in memory).
    public func whenDurable(_ completion: @escaping Completion) {
        guard let store else {
            completion(.success(()))
            return
        }
        state.withLock { _ in
            store.submit([], retry: false) { [self] result in
                switch result {
                case .success: state.withLock { $0.committed.append { completion(.success(())) } }
                case .failure: completion(result)
                }
            }
        }
    }

    // MARK: Events

    /// Registers a handler for every event from now on. It runs on whichever thread
    /// made (or committed) the change, outside the queue's lock; it must be quick.
    public func subscribe(_ handler: @escaping Subscriber) -> SubscriptionToken {
        state.withLock { s in
            s.nextToken += 1
            s.subscribers.append((s.nextToken, handler))
            return SubscriptionToken(raw: s.nextToken)
        }
    }

    public func unsubscribe(_ token: SubscriptionToken) {
        state.withLock { s in s.subscribers.removeAll { $0.token == token.raw } }
    }

    // MARK: Internals

    private func finish(_ id: Int64, as status: JobStatus, _ apply: (inout Job) -> QueueEvent.Kind) -> Bool {
        mutate { s, ops in
            guard var job = s.jobs[id], job.status == .running else { return (false, []) }
            job.status = status
            job.completedAt = epochNow()
            let kind = apply(&job)
            job.sequence += 1
            s.jobs[id] = job
            s.stats.running -= 1
            s.stats[status] += 1
            s.progressWritten[id] = nil
            ops.append(.upsert(job))
            Self.finished(&s, id, limit: store == nil ? nil : recentFinishedLimit)
            return (true, [QueueEvent(jobID: id, sequence: job.sequence, kind: kind)])
        }
    }

    /// Runs a change under the lock. Its events are published at once (memory) or
    /// once the store has committed its writes (durable), in the order of changes.
    private func mutate<R>(_ body: (inout State, inout [StoreOp]) -> (R, [QueueEvent])) -> R {
        guard let store else {
            let result = state.withLock { s -> R in
                var ops: [StoreOp] = []
                let (r, events) = body(&s, &ops)
                for e in events { Self.record(&s, e) }
                return r
            }
            deliver()
            return result
        }
        return state.withLock { s -> R in
            var ops: [StoreOp] = []
            let (r, events) = body(&s, &ops)
            if !ops.isEmpty || !events.isEmpty {
                store.submit(ops, retry: true) { [self] _ in
                    guard !events.isEmpty else { return }
                    state.withLock { s in for e in events { Self.record(&s, e) } }
                }
            }
            return r
        }
    }

    /// Delivers queued events in order. Only one thread delivers at a time; another
    /// thread's events that arrive meanwhile are picked up by the same loop.
    private func deliver() {
        while true {
            let batch: (events: [QueueEvent], subscribers: [Subscriber])? = state.withLock { s in
                guard !s.delivering, !s.outbox.isEmpty else { return nil }
                s.delivering = true
                let events = s.outbox
                s.outbox.removeAll(keepingCapacity: true)
                return (events, s.subscribers.map(\.handler))
            }
            guard let batch else { return }
            for event in batch.events {
                for handler in batch.subscribers { handler(event) }
            }
            state.withLock { $0.delivering = false }
        }
    }

    /// After a commit: publish its events, then answer its submitters, then let
    /// the worker start what joined the queue.
    private func batchDone() {
        deliver()
        let (completions, joined) = state.withLock { s in
            defer {
                s.committed = []
                s.jobsJoined = false
            }
            return (s.committed, s.jobsJoined)
        }
        for c in completions { c() }
        if joined { announceAvailable() }
    }

    private func announceAvailable() {
        for action in availability.withLock({ $0 }) { action() }
    }

    private static func insert(_ s: inout State, _ job: Job) {
        s.jobs[job.id] = job
        s.order.append(job.id)
        s.fifo.append(job.id)
        s.stats.pending += 1
        s.stats.total += 1
        record(&s, QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job)))
    }

    /// Notes a job that just finished; beyond `limit` the oldest leave memory.
    private static func finished(_ s: inout State, _ id: Int64, limit: Int?) {
        guard let limit else { return }
        s.finished.append(id)
        while s.finished.count - s.finishedHead > limit {
            let old = s.finished[s.finishedHead]
            s.finishedHead += 1
            if s.jobs.removeValue(forKey: old) != nil { s.orderHoles += 1 }
        }
        if s.finishedHead > 1024 && s.finishedHead * 2 > s.finished.count {
            s.finished.removeFirst(s.finishedHead)
            s.finishedHead = 0
        }
        if s.orderHoles > 1024 && s.orderHoles * 2 > s.order.count {
            let jobs = s.jobs
            s.order.removeAll { jobs[$0] == nil }
            s.orderHoles = 0
        }
    }

    private static func record(_ s: inout State, _ event: QueueEvent) {
        var event = event
        s.position += 1
        event.position = s.position
        s.outbox.append(event)
    }

    private static func compactFIFO(_ s: inout State) {
        if s.fifoHead > 1024 && s.fifoHead * 2 > s.fifo.count {
            s.fifo.removeFirst(s.fifoHead)
            s.fifoHead = 0
        }
    }
}
