import JSON

/// Reads of the committed state: from memory, else (durable) from the store.
extension JobQueue {
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
    /// The first `maxQueues` queue names get a label of their own (QueueMetrics.swift).
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

    /// A job's log lines after `seq` (committed), at most `limit` of them (nil:
    /// all), or nil for an unknown job.
    public func log(_ id: Int64, after seq: UInt64 = 0, limit: Int? = nil) throws(StoreError) -> JobLog? {
        guard let store else {
            return state.withLock { l in
                guard l.q.jobs[id] != nil else { return nil }
                return (l.q.logs.kept[id] ?? JobLog()).after(seq, limit: limit)
            }
        }
        return try store.log(id, after: seq, limit: limit)
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
}
