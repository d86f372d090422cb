/// A named queue's settings: how many of its jobs may run at once, and whether
/// it is paused (its jobs wait; running ones go on).
public struct QueueSettings: Sendable, Equatable {
    public var concurrency: Int?
    public var paused: Bool

    public init(concurrency: Int? = nil, paused: Bool = false) {
        self.concurrency = concurrency
        self.paused = paused
    }
}

/// The scheduler's part of the working layer: which pending job runs next.
///
/// Ready jobs sit in one heap per (queue, type), highest priority first and FIFO
/// within a priority; delayed jobs (a `run_at` in the future, a retry's backoff)
/// in one heap by time, moved to the ready heaps when due. A claim looks at the
/// heads only, skipping queues that are paused or full and types at their limit.
/// Entries of jobs that are no longer pending are dropped lazily.
struct Scheduler {
    var ready: [ReadyKey: Heap<ReadyEntry>] = [:]
    var delayed = Heap<DelayedEntry> { $0.runAt != $1.runAt ? $0.runAt < $1.runAt : $0.id < $1.id }
    var runningByQueue: [String: Int] = [:]
    var runningByType: [String: Int] = [:]
    var queues: [String: QueueSettings] = [:]
    var typeLimits: [String: Int] = [:]
    /// The time the timer is set for (nil: not set).
    var armedAt: Double?

    /// A pending job becomes claimable now, or waits for its time.
    mutating func schedule(_ job: Job, now: Double) {
        if let runAt = job.runAt, runAt > now {
            delayed.push(DelayedEntry(runAt: runAt, id: job.id))
        } else {
            ready[ReadyKey(queue: job.queue, type: job.type), default: Heap(ReadyEntry.runsBefore)]
                .push(ReadyEntry(priority: job.priority, id: job.id))
        }
    }

    /// A queue's settings; default ones are no settings (the queue is listed
    /// only while it holds jobs).
    mutating func setQueue(_ name: String, _ settings: QueueSettings) {
        queues[name] = settings == QueueSettings() ? nil : settings
    }

    /// Whether a job of this queue and type may start now.
    func allowed(_ key: ReadyKey) -> Bool {
        let settings = queues[key.queue]
        if settings?.paused == true { return false }
        if let limit = settings?.concurrency, runningByQueue[key.queue, default: 0] >= limit { return false }
        if let limit = typeLimits[key.type], runningByType[key.type, default: 0] >= limit { return false }
        return true
    }

    mutating func countRunning(_ job: Job, _ delta: Int) {
        runningByQueue[job.queue, default: 0] += delta
        runningByType[job.type, default: 0] += delta
        if runningByQueue[job.queue] == 0 { runningByQueue[job.queue] = nil }
        if runningByType[job.type] == 0 { runningByType[job.type] = nil }
    }

    /// The earliest time a delayed job becomes due.
    var nextDue: Double? { delayed.top?.runAt }
}

extension QueueState {
    /// Moves delayed jobs whose time has come to the ready heaps; how many.
    @discardableResult
    mutating func promoteDue(now: Double) -> Int {
        var moved = 0
        while let top = scheduler.delayed.top, top.runAt <= now {
            scheduler.delayed.pop()
            guard let job = current(top.id), job.status == .pending, job.runAt == top.runAt else { continue }
            var due = job
            due.runAt = nil
            scheduler.schedule(due, now: now)
            moved += 1
        }
        return moved
    }

    /// The next job to start: the best head among the queues and types allowed
    /// to start one; it leaves its heap. Nil when none may start now.
    mutating func nextClaim(now: Double) -> Job? {
        promoteDue(now: now)
        var best: (key: ReadyKey, entry: ReadyEntry)?
        for key in Array(scheduler.ready.keys) {
            while let top = scheduler.ready[key]?.top, current(top.id)?.status != .pending {
                scheduler.ready[key]?.pop()
            }
            guard let top = scheduler.ready[key]?.top else {
                scheduler.ready[key] = nil
                continue
            }
            guard scheduler.allowed(key) else { continue }
            if best == nil || ReadyEntry.runsBefore(top, best!.entry) { best = (key, top) }
        }
        guard let best else { return nil }
        scheduler.ready[best.key]?.pop()
        return current(best.entry.id)
    }

    /// Whether some job could start now (the worker's second look).
    mutating func hasClaimable(now: Double) -> Bool {
        promoteDue(now: now)
        for (key, heap) in scheduler.ready where scheduler.allowed(key) {
            for entry in heap.items where current(entry.id)?.status == .pending { return true }
        }
        return false
    }

    /// The first `limit` pending jobs in run order: due ones by priority then id
    /// (across queues), then delayed ones by time.
    func pendingInRunOrder(limit: Int) -> [Int64] {
        guard limit > 0 else { return [] }
        // Keep the best `limit` due entries in a heap whose top is the worst kept.
        var kept = Heap<ReadyEntry> { ReadyEntry.runsBefore($1, $0) }
        var seen = Set<Int64>()
        for heap in scheduler.ready.values {
            for entry in heap.items where jobs[entry.id]?.status == .pending && seen.insert(entry.id).inserted {
                if kept.count < limit {
                    kept.push(entry)
                } else if let worst = kept.top, ReadyEntry.runsBefore(entry, worst) {
                    kept.pop()
                    kept.push(entry)
                }
            }
        }
        var due = kept.items.sorted(by: ReadyEntry.runsBefore).map(\.id)
        if due.count < limit {
            let waiting = scheduler.delayed.items.filter { jobs[$0.id]?.status == .pending && !seen.contains($0.id) }
                .sorted { $0.runAt != $1.runAt ? $0.runAt < $1.runAt : $0.id < $1.id }
            for entry in waiting.prefix(limit - due.count) where seen.insert(entry.id).inserted { due.append(entry.id) }
        }
        return due
    }
}
