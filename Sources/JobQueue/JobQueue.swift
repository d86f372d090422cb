import JSON
import Synchronization

/// The jobs, their state machine, FIFO order, counters and the event hub.
///
/// Every operation is short and synchronous under one `Mutex`, so C callbacks on
/// libmicrohttpd threads can call straight in. Events are appended to an outbox
/// under the lock and delivered after it is released, by one thread at a time, so
/// subscribers see events in exactly the order the changes were made and never run
/// under the queue's lock.
public final class JobQueue: Sendable {
    public typealias Subscriber = @Sendable (QueueEvent) -> Void

    public enum CancelOutcome: Sendable, Equatable {
        case cancelled(wasRunning: Bool)
        case notFound
        case notCancellable(JobStatus)
    }

    private struct State: ~Copyable {
        var jobs: [Int64: Job] = [:]
        /// Ids in creation order, for listing (oldest first).
        var order: [Int64] = []
        /// Pending ids in FIFO order; cancelled ones are skipped lazily.
        var fifo: [Int64] = []
        var fifoHead = 0
        var nextID: Int64 = 1
        var stats = QueueStats()
        var outbox: [QueueEvent] = []
        /// Position of the newest event recorded.
        var position: UInt64 = 0
        var delivering = false
        var subscribers: [(token: Int, handler: Subscriber)] = []
        var nextToken = 0
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Reads

    public func job(_ id: Int64) -> Job? {
        state.withLock { $0.jobs[id] }
    }

    /// Every job the queue holds, oldest first.
    public func allJobs() -> [Job] {
        state.withLock { s in s.order.compactMap { s.jobs[$0] } }
    }

    /// Jobs (oldest first, optionally filtered), counters and event position, all
    /// read under one lock.
    public func snapshot(where include: (Job) -> Bool = { _ in true }) -> QueueSnapshot {
        state.withLock { s in
            QueueSnapshot(jobs: s.order.compactMap { id in s.jobs[id].flatMap { include($0) ? $0 : nil } },
                          stats: s.stats, position: s.position)
        }
    }

    public func stats() -> QueueStats {
        state.withLock { $0.stats }
    }

    public var pendingCount: Int {
        state.withLock { $0.stats.pending }
    }

    // MARK: Transitions

    /// Adds a pending job with already-validated params and publishes `created`.
    @discardableResult
    public func enqueue(type: String, params: JSONObject) -> Job {
        let job = mutate { s in
            let job = Job(id: s.nextID, type: type, params: params, createdAt: epochNow())
            s.nextID += 1
            s.jobs[job.id] = job
            s.order.append(job.id)
            s.fifo.append(job.id)
            s.stats.pending += 1
            s.stats.total += 1
            Self.record(&s, QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job)))
            return job
        }
        return job
    }

    /// Moves the oldest pending job to `running` and returns it, or `nil` if none waits.
    public func claimNext() -> Job? {
        mutate { s in
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
                Self.record(&s, QueueEvent(jobID: id, sequence: job.sequence, kind: .started(startedAt: now)))
                Self.compactFIFO(&s)
                return job
            }
            Self.compactFIFO(&s)
            return nil
        }
    }

    /// Records progress of a running job; ignored (returns false) once it is not running.
    @discardableResult
    public func updateProgress(_ id: Int64, percent: Int, message: String) -> Bool {
        mutate { s in
            guard var job = s.jobs[id], job.status == .running else { return false }
            let p = JobProgress(percent: min(max(percent, 0), 100), message: message)
            job.progress = p
            job.sequence += 1
            s.jobs[id] = job
            Self.record(&s, QueueEvent(jobID: id, sequence: job.sequence, kind: .progress(p)))
            return true
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
        mutate { s in
            guard var job = s.jobs[id] else { return .notFound }
            guard job.status == .pending || job.status == .running else { return .notCancellable(job.status) }
            let wasRunning = job.status == .running
            s.stats[job.status] -= 1
            s.stats.cancelled += 1
            job.status = .cancelled
            job.completedAt = epochNow()
            job.sequence += 1
            s.jobs[id] = job
            Self.record(&s, QueueEvent(jobID: id, sequence: job.sequence, kind: .cancelled))
            return .cancelled(wasRunning: wasRunning)
        }
    }

    /// Removes every completed, failed and cancelled job; returns how many.
    public func clearFinished() -> Int {
        mutate { s in
            var removed: [Int64] = []
            s.order.removeAll { id in
                guard let job = s.jobs[id], job.status.isFinished else { return false }
                removed.append(id)
                return true
            }
            for id in removed { s.jobs[id] = nil }
            s.stats.completed = 0
            s.stats.failed = 0
            s.stats.cancelled = 0
            s.stats.total = s.stats.pending + s.stats.running
            Self.record(&s, QueueEvent(jobID: 0, sequence: 0, kind: .cleared(count: removed.count, ids: removed)))
            return removed.count
        }
    }

    // MARK: Events

    /// Registers a handler for every event from now on. It runs on whichever thread
    /// made the change, outside the queue's lock; it must be quick and must not block.
    public func subscribe(_ handler: @escaping Subscriber) -> SubscriptionToken {
        state.withLock { s in
            s.nextToken += 1
            s.subscribers.append((s.nextToken, handler))
            return SubscriptionToken(raw: s.nextToken)
        }
    }

    /// Reads the job and subscribes in one step, so no event about it can fall
    /// between the snapshot and the subscription.
    public func snapshotAndSubscribe(_ id: Int64, _ handler: @escaping Subscriber) -> (Job, SubscriptionToken)? {
        state.withLock { s in
            guard let job = s.jobs[id] else { return nil }
            s.nextToken += 1
            s.subscribers.append((s.nextToken, handler))
            return (job, SubscriptionToken(raw: s.nextToken))
        }
    }

    public func unsubscribe(_ token: SubscriptionToken) {
        state.withLock { s in s.subscribers.removeAll { $0.token == token.raw } }
    }

    // MARK: Internals

    private func finish(_ id: Int64, as status: JobStatus, _ apply: (inout Job) -> QueueEvent.Kind) -> Bool {
        mutate { s in
            guard var job = s.jobs[id], job.status == .running else { return false }
            job.status = status
            job.completedAt = epochNow()
            let kind = apply(&job)
            job.sequence += 1
            s.jobs[id] = job
            s.stats.running -= 1
            s.stats[status] += 1
            Self.record(&s, QueueEvent(jobID: id, sequence: job.sequence, kind: kind))
            return true
        }
    }

    /// Runs a change under the lock, then delivers whatever it put in the outbox.
    private func mutate<R>(_ body: (inout State) -> R) -> R {
        let result = state.withLock { body(&$0) }
        deliver()
        return result
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
