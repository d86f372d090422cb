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
    /// Jobs' logs, in memory only when there is no store (a store keeps them).
    var logs: [Int64: JobLog] = [:]
    /// What `/metrics` shows (Metrics.swift), moved with the visible layer.
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
    /// New jobs whose creation is not applied yet, and jobs another node changed
    /// while a change of this node was on its way (read again once it is applied).
    var creating = Set<Int64>()
    var remoteSkipped = Set<Int64>()
    /// The newest stored sequence number applied per job (several nodes): a row
    /// read before it (a re-read racing a notification) is older and ignored.
    var storedSequence: [Int64: UInt64] = [:]
    /// Jobs this node (the leader) took over from a silent node, with that node:
    /// their end is written as that node's (the leader never ran them).
    var adoptedFrom: [Int64: String] = [:]

    /// Notes a stored state applied; false when an newer one already was.
    mutating func noteStored(_ job: Job) -> Bool {
        if let seen = storedSequence[job.id], job.sequence < seen { return false }
        storedSequence[job.id] = job.sequence
        if storedSequence.count > 2 * jobs.count + 1024 {
            let held = jobs
            storedSequence = storedSequence.filter { held[$0.key] != nil }
        }
        return true
    }
    /// Log lines of running jobs not yet emitted (their previous batch is still
    /// on its way to the store), and the jobs with a batch on its way.
    var logBuffer: [Int64: PendingLog] = [:]
    var logInFlight: Set<Int64> = []

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
    /// Schedules as committed, and those with a change on its way (working).
    var schedules: [String: Schedule] = [:]
    var schedulesWorking: [String: Schedule] = [:]
    /// Schedules being deleted (working) until that commits.
    var schedulesDeleting: Set<String> = []

    func currentSchedule(_ name: String) -> Schedule? {
        if schedulesDeleting.contains(name) { return nil }
        return schedulesWorking[name] ?? schedules[name]
    }

    /// Schedules by their next run, earliest first; entries whose schedule moved
    /// on (fired, changed, paused, deleted) are dropped lazily.
    var scheduleDue = Heap<(time: Double, name: String)> { $0.time != $1.time ? $0.time < $1.time : $0.name < $1.name }

    /// Records a decided change of a schedule until it is applied.
    mutating func stageSchedule(_ s: Schedule) {
        schedulesWorking[s.name] = s
        noteScheduleDue(s)
    }

    mutating func noteScheduleDue(_ s: Schedule) {
        if let t = s.nextRunAt, !s.paused { scheduleDue.push((t, s.name)) }
    }

    /// The earliest time a schedule is due (paused ones aside).
    mutating func nextScheduleDue() -> Double? {
        while let top = scheduleDue.top {
            if let s = currentSchedule(top.name), !s.paused, s.nextRunAt == top.time { return top.time }
            scheduleDue.pop()
        }
        return nil
    }

    /// The names of schedules due at `now` (they leave the heap; firing puts them back).
    mutating func takeDueSchedules(now: Double) -> [String] {
        var names: [String] = []
        while let t = nextScheduleDue(), t <= now, let top = scheduleDue.pop() {
            if names.last != top.name { names.append(top.name) }
        }
        return names
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

    // MARK: Applying committed changes to the visible layer

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
            logs[id] = nil
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
            logs[r.id] = nil
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

    /// Every running job, the first `pendingLimit` pending in run order and the
    /// newest `finishedLimit` finished, oldest first; and whether any were left out.
    func live(pendingLimit: Int, finishedLimit: Int) -> (jobs: [Job], truncated: Bool) {
        var ids = Array(running)
        let waiting = pendingInRunOrder(limit: pendingLimit)
        ids += waiting
        var pending = waiting.count
        // Claimed, start not yet committed: still pending to readers.
        for id in working.keys where pending < pendingLimit && jobs[id]?.status == .pending {
            ids.append(id)
            pending += 1
        }
        // The newest finished by id (as the REST pages and the retention rule
        // count them), among the most recently finished (a job finished long ago
        // has left this window and is read through the pages).
        var recent: [Int64] = []
        var j = finished.count
        while recent.count < finishedLimit * 2 && j > finishedHead {
            j -= 1
            if jobs[finished[j]]?.status.isFinished == true { recent.append(finished[j]) }
        }
        recent.sort(by: >)
        let finishedIDs = recent.prefix(finishedLimit)
        let finishedCount = finishedIDs.count
        ids += finishedIDs
        ids.sort()
        var out: [Job] = []
        out.reserveCapacity(ids.count)
        var last: Int64 = 0
        for id in ids where id != last {
            last = id
            if let job = jobs[id] { out.append(job) }
        }
        let truncated = stats.pending > pending || stats.completed + stats.failed + stats.cancelled > finishedCount
        return (out, truncated)
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
