/// Committed changes applied to the visible layer: jobs, the creation and
/// finish orders, the counters, the metrics.
extension QueueState {
    /// A committed new job: visible, counted, and scheduled.
    mutating func insert(_ job: Job, now: Double) {
        jobs[job.id] = job
        order.append(job.id)
        scheduler.schedule(job, now: now)
        stats.pending += 1
        stats.total += 1
        queueCounts[job.queue, default: QueueStats()].pending += 1
        queueCounts[job.queue, default: QueueStats()].total += 1
        metrics.created(job)
    }

    /// A committed transition of an existing job. `keepFinished` bounds the
    /// finished jobs kept in memory (durable stores; nil keeps all).
    mutating func update(_ job: Job, keepFinished: Int?, now: Double) {
        let old = jobs[job.id]
        jobs[job.id] = job
        guard let old, old.status != job.status else {
            if old == nil { order.append(job.id) }
            return
        }
        // Back to pending (a retry): it waits for its time like a new job.
        if job.status == .pending { scheduler.schedule(job, now: now) }
        if old.status.isFinished, !job.status.isFinished {
            finished.removeAll { $0 == job.id }
            finishedHead = min(finishedHead, finished.count)
        }
        stats[old.status] -= 1
        stats[job.status] += 1
        queueCounts[job.queue, default: QueueStats()][old.status] -= 1
        queueCounts[job.queue, default: QueueStats()][job.status] += 1
        if job.status == .running { running.insert(job.id) } else if old.status == .running { running.remove(job.id) }
        if job.status.isFinished { noteFinished(job.id, keep: keepFinished) }
        metrics.moved(from: old, to: job, now: now)
    }

    /// Notes a job that just finished; beyond `keep` the oldest leave memory.
    mutating func noteFinished(_ id: Int64, keep: Int?) {
        finished.append(id)
        if let keep {
            while finished.count - finishedHead > keep {
                let old = finished[finishedHead]
                finishedHead += 1
                if let job = jobs[old], job.status.isFinished, working[old] == nil {
                    jobs[old] = nil
                    orderHoles += 1
                    forgetKey(of: job)
                }
            }
        }
        compact()
    }

    /// Removes every finished job from memory and the counters; returns how many
    /// the counters held and the ids that were in memory. A job with a change
    /// still in flight (a retry decided after the clear) stays, counted as it
    /// is: that change writes its row back and moves it once applied.
    mutating func clearFinished() -> (count: Int, ids: [Int64]) {
        var removed: [Int64] = []
        // (A retried job read back from the store is visible but not in `order`.)
        let kept = working.keys.compactMap { id in jobs[id].flatMap { $0.status.isFinished ? $0 : nil } }
        for id in order {
            guard let job = jobs[id], job.status.isFinished, working[id] == nil else { continue }
            removed.append(id)
            jobs[id] = nil
            logs.kept[id] = nil
            forgetKey(of: job)
        }
        for name in Array(queueCounts.keys) {
            var c = queueCounts[name]!
            c.completed = 0
            c.failed = 0
            c.cancelled = 0
            c.total = c.pending + c.running
            queueCounts[name] = c
        }
        order.removeAll { jobs[$0] == nil }
        orderHoles = 0
        finished = []
        finishedHead = 0
        // Jobs kept for a retry decided after the clear are gone from the store
        // too (that retry finds no row and writes nothing): counted as removed.
        let count = stats.completed + stats.failed + stats.cancelled
        stats.completed = 0
        stats.failed = 0
        stats.cancelled = 0
        stats.total = stats.pending + stats.running
        for job in kept {
            stats[job.status] += 1
            stats.total += 1
            queueCounts[job.queue, default: QueueStats()][job.status] += 1
            queueCounts[job.queue, default: QueueStats()].total += 1
        }
        forgetEmptyQueues(Array(queueCounts.keys))
        return (count, removed)
    }

    /// A finished job as a removal names it, or nil when it is not finished here.
    func finishedForRemoval(_ id: Int64) -> PrunedJob? {
        guard let job = current(id), job.status.isFinished else { return nil }
        return PrunedJob(id: id, status: job.status, queue: job.queue)
    }

    /// A queue that holds no job any more leaves the counters, so names that
    /// submitters made up do not pile up (its settings, if any, stay).
    mutating func forgetEmptyQueues(_ names: some Sequence<String>) {
        for name in names where queueCounts[name]?.total ?? 1 <= 0 { queueCounts[name] = nil }
    }

    /// Removes the given finished jobs (the result of a prune) from memory and the
    /// counters; returns those that left. A job with a change still in flight
    /// stays: that change (a retry decided after the delete) writes its row back
    /// in the same commit order, and moves it in memory and the counters once applied.
    mutating func remove(_ removed: [PrunedJob]) -> [PrunedJob] {
        let removed = removed.filter { working[$0.id] == nil }
        for r in removed {
            stats[r.status] -= 1
            stats.total -= 1
            queueCounts[r.queue, default: QueueStats()][r.status] -= 1
            queueCounts[r.queue, default: QueueStats()].total -= 1
            if queueCounts[r.queue]?.total ?? 1 <= 0 { queueCounts[r.queue] = nil }
            logs.kept[r.id] = nil
            if let job = jobs[r.id], job.status.isFinished {
                forgetKey(of: job)
                jobs[r.id] = nil
                orderHoles += 1
            }
        }
        if !removed.isEmpty {
            let current = jobs
            finished.removeAll { current[$0] == nil }
            finishedHead = 0
        }
        compact()
        return removed
    }

    /// The prune rule applied to memory (the in-memory store): finished jobs that
    /// finished before `before`, or are not among the newest `keep` finished by id.
    /// The SQLite store applies the same rule in SQL.
    func pruneCandidates(before: Double?, keep: Int?) -> [PrunedJob] {
        var ids = finished[finishedHead...].filter { jobs[$0]?.status.isFinished == true }
        ids.sort(by: >)
        var out: [PrunedJob] = []
        for (rank, id) in ids.enumerated() {
            guard let job = jobs[id] else { continue }
            let old = before.map { (job.completedAt ?? 0) < $0 } ?? false
            let excess = keep.map { rank >= $0 } ?? false
            if old || excess { out.append(PrunedJob(id: id, status: job.status, queue: job.queue)) }
        }
        return out
    }

    /// A job left memory: its idempotency key is answered by the store from now on.
    mutating func forgetKey(of job: Job) {
        if let key = job.idempotencyKey, keys[key] == job.id { keys[key] = nil }
    }

    /// Drops skipped entries from the index arrays once they are mostly holes.
    mutating func compact() {
        if finishedHead > 1024 && finishedHead * 2 > finished.count {
            finished.removeFirst(finishedHead)
            finishedHead = 0
        }
        if orderHoles > 1024 && orderHoles * 2 > order.count {
            let current = jobs
            order.removeAll { current[$0] == nil }
            orderHoles = 0
        }
    }
}
