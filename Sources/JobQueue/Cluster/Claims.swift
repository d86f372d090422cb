/// Claims in a shared store: due jobs taken for this node by the store, within
/// this node's limits.
extension JobQueue {
    /// Claims up to `limit` due pending jobs for this node in the store (shared
    /// stores); `completion` gets them, running here and visible, or none.
    public func claim(limit: Int, completion: @escaping @Sendable ([Job]) -> Void) {
        guard let cluster, limit > 0, cluster.failure == nil else { return completion([]) }
        let now = clock.now()
        let request = state.withLock { l -> ClaimRequest in
            let s = l.q.scheduler
            var excludedQueues: [String] = []
            var queueBudgets: [String: Int] = [:]
            for (name, settings) in s.queues {
                if settings.paused { excludedQueues.append(name); continue }
                if let limit = settings.concurrency {
                    let left = limit - s.runningByQueue[name, default: 0]
                    if left <= 0 { excludedQueues.append(name) } else { queueBudgets[name] = left }
                }
            }
            var excludedTypes: [String] = []
            var typeBudgets: [String: Int] = [:]
            for (name, limit) in s.typeLimits {
                let left = limit - s.runningByType[name, default: 0]
                if left <= 0 { excludedTypes.append(name) } else { typeBudgets[name] = left }
            }
            return ClaimRequest(node: cluster.nodeID, limit: limit, now: now, excludedQueues: excludedQueues.sorted(),
                                excludedTypes: excludedTypes.sorted(), queueBudgets: queueBudgets, typeBudgets: typeBudgets)
        }
        cluster.submit([.claim(request)], retry: false) { [self] result in
            guard case .success = result else { return completion([]) }
            let jobs = request.claimed.withLock { $0 }
            guard !jobs.isEmpty else { return completion([]) }
            state.withLock { l in
                for job in jobs { adoptRunning(&l, job) }
            }
            batchDone()
            completion(jobs)
        }
    }

    /// A job now running on this node (claimed, or adopted from a silent node):
    /// visible, counted against this node's limits, its `started` event recorded.
    func adoptRunning(_ l: inout Locked, _ job: Job) {
        _ = l.q.noteStored(job)
        let old = l.q.jobs[job.id]
        if old == nil { l.q.insert(Reconcile.pendingCopy(job), now: clock.now()) }
        var running = job
        running.sequence = max(job.sequence, (old?.sequence ?? 0) + 1)
        l.q.update(running, keepFinished: recentFinishedLimit, now: clock.now())
        l.q.scheduler.countRunning(running, 1)
        if old?.status != .running {
            hub.record(QueueEvent(jobID: job.id, sequence: running.sequence, kind: .started(startedAt: job.startedAt ?? clock.now(), node: job.node)))
        }
    }
}
