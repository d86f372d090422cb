import JSON

/// The queue's data, in two layers.
///
/// - **Visible** (`jobs`, `order`, `finished`, `running`, `stats`): what readers
///   see. It changes only when a change is *applied*, which for a durable store
///   happens after the commit that holds it, in commit order. A reader never sees
///   a state that a crash would undo, and the counters always match the file.
/// - **Working** (`working`, `fifo`, `runnable`): what the state machine decides
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

    // MARK: Working (decided, maybe not yet committed)

    /// Jobs with changes not yet applied, at their newest state.
    var working: [Int64: Job] = [:]
    /// How many unapplied changes touch each job in `working`.
    var inflight: [Int64: Int] = [:]
    /// Committed pending ids in run order; ids no longer pending are skipped lazily.
    var fifo: [Int64] = []
    var fifoHead = 0
    /// Pending jobs the worker may still claim (the working count).
    var runnable = 0
    /// Running jobs whose cancel is not committed yet, with the outcome their task
    /// reported meanwhile (applied if the cancel fails to commit).
    var cancelling: [Int64: CancelInFlight] = [:]
    var nextID: Int64 = 1
    /// When progress of a job was last written to the store.
    var progressWritten: [Int64: Double] = [:]
    /// Log lines of running jobs not yet handed to the store (written at most
    /// every `JobQueue.progressWriteInterval`, and when the job ends), and when
    /// each job's log was last written.
    var unwrittenLog: [Int64: JobLog] = [:]
    var logWritten: [Int64: Double] = [:]

    struct CancelInFlight {
        var finish: Finish?
    }

    /// A running job's end as its task reported it.
    struct Finish: Sendable {
        let status: JobStatus
        let result: JSONValue?
        let error: String?
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

    /// A committed new job: visible, counted, and claimable.
    mutating func insert(_ job: Job) {
        jobs[job.id] = job
        order.append(job.id)
        fifo.append(job.id)
        runnable += 1
        stats.pending += 1
        stats.total += 1
    }

    /// A committed transition of an existing job. `keepFinished` bounds the
    /// finished jobs kept in memory (durable stores; nil keeps all).
    mutating func update(_ job: Job, keepFinished: Int?) {
        let old = jobs[job.id]
        jobs[job.id] = job
        guard let old, old.status != job.status else {
            if old == nil { order.append(job.id) }
            return
        }
        stats[old.status] -= 1
        stats[job.status] += 1
        if job.status == .running { running.insert(job.id) } else if old.status == .running { running.remove(job.id) }
        if job.status.isFinished { noteFinished(job.id, keep: keepFinished) }
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
                }
            }
        }
        compact()
    }

    /// Removes every finished job from memory and the counters; returns how many
    /// the counters held and the ids that were in memory.
    mutating func clearFinished() -> (count: Int, ids: [Int64]) {
        var removed: [Int64] = []
        for id in order {
            guard let job = jobs[id], job.status.isFinished else { continue }
            removed.append(id)
            jobs[id] = nil
            logs[id] = nil
        }
        order.removeAll { jobs[$0] == nil }
        orderHoles = 0
        finished = []
        finishedHead = 0
        let count = stats.completed + stats.failed + stats.cancelled
        stats.completed = 0
        stats.failed = 0
        stats.cancelled = 0
        stats.total = stats.pending + stats.running
        return (count, removed)
    }

    /// Removes the given finished jobs (the result of a prune) from memory and the counters.
    mutating func remove(_ removed: [PrunedJob]) {
        for r in removed {
            stats[r.status] -= 1
            stats.total -= 1
            logs[r.id] = nil
            if jobs[r.id]?.status.isFinished == true {
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
            if old || excess { out.append(PrunedJob(id: id, status: job.status)) }
        }
        return out
    }

    /// Every running job, the first `pendingLimit` pending in run order and the
    /// newest `finishedLimit` finished, oldest first; and whether any were left out.
    func live(pendingLimit: Int, finishedLimit: Int) -> (jobs: [Job], truncated: Bool) {
        var ids = Array(running)
        var pending = 0
        var i = fifoHead
        while pending < pendingLimit && i < fifo.count {
            let id = fifo[i]
            i += 1
            if jobs[id]?.status == .pending {
                ids.append(id)
                pending += 1
            }
        }
        // Claimed, start not yet committed: still pending to readers.
        for id in working.keys where pending < pendingLimit && jobs[id]?.status == .pending {
            ids.append(id)
            pending += 1
        }
        var finishedCount = 0
        var j = finished.count
        while finishedCount < finishedLimit && j > finishedHead {
            j -= 1
            let id = finished[j]
            if jobs[id]?.status.isFinished == true {
                ids.append(id)
                finishedCount += 1
            }
        }
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
        if fifoHead > 1024 && fifoHead * 2 > fifo.count {
            fifo.removeFirst(fifoHead)
            fifoHead = 0
        }
    }
}
