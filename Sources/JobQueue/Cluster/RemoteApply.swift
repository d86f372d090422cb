/// Other nodes' changes, heard of or read again, made visible here.
extension JobQueue {
    /// What other nodes committed: made visible here with the events a local
    /// change would have published. A job with a change of this node still on
    /// its way is left alone (that change commits, or conflicts and reads the
    /// job again). A job this node ran that another node ended (a cancel) has
    /// its task stopped.
    public func applyRemote(_ change: RemoteChange) {
        guard let cluster else { return }
        let node = cluster.nodeID
        var change = change
        if change.refreshed {
            // Jobs this node still shows as active that are not anymore: read them too.
            let active = Set(change.jobs.map(\.id))
            let stale = state.withLock { l in l.q.jobs.values.filter { !$0.status.isFinished && !active.contains($0.id) }.map(\.id) }
            if let gone = try? cluster.jobs(stale) {
                change.jobs += gone
                let found = Set(gone.map(\.id))
                change.deleted += state.withLock { l in
                    stale.filter { !found.contains($0) }.compactMap { id in l.q.jobs[id].map { PrunedJob(id: id, status: $0.status, queue: $0.queue) } }
                }
            }
            change.refreshed = false
        }
        let now = clock.now()
        let stop = state.withLock { l -> [Int64] in
            var stop: [Int64] = []
            for job in change.jobs {
                guard l.q.inflight[job.id] == nil, !l.q.cluster.creating.contains(job.id) else {
                    // Read again once this node's own change of it is applied.
                    l.q.cluster.remoteSkipped.insert(job.id)
                    continue
                }
                // Read before a state already applied (re-reads and the listener race).
                guard l.q.noteStored(job) else { continue }
                let old = l.q.jobs[job.id]
                guard let step = Reconcile.step(old: old, stored: job, lines: change.logs[job.id] ?? [],
                                                node: node, now: now) else { continue }
                if let created = step.created { l.q.insert(created, now: now) }
                l.q.update(step.fresh, keepFinished: recentFinishedLimit, now: now)
                for event in step.events { hub.record(event) }
                if step.joined { l.joined = true }
                // A job this node runs that another node ended or took over: its
                // place in the limits is freed when the task has ended.
                if step.stopsTask, let old {
                    l.q.stopping[job.id] = old
                    l.q.logs.pending[job.id] = nil
                    l.q.progressWritten[job.id] = nil
                    stop.append(job.id)
                }
            }
            for (id, lines) in change.logs where !change.jobs.contains(where: { $0.id == id }) && !lines.isEmpty {
                guard l.q.inflight[id] == nil, !l.q.cluster.creating.contains(id), let job = l.q.jobs[id],
                      let (fresh, event) = Reconcile.logOnly(job, lines: lines) else { continue }
                l.q.update(fresh, keepFinished: recentFinishedLimit, now: now)
                hub.record(event)
            }
            if change.cleared {
                let (n, ids) = l.q.clearFinished()
                hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .cleared(count: n, ids: ids)))
            }
            if !change.deleted.isEmpty {
                let known = change.deleted.filter { l.q.jobs[$0.id]?.status.isFinished ?? true }
                let removed = l.q.remove(known)
                if !removed.isEmpty { hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .pruned(PruneCounts(removed)))) }
            }
            for (name, settings) in change.queues.sorted(by: { $0.key < $1.key }) {
                l.q.scheduler.setQueue(name, settings)
                hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .queueUpdated(name: name, settings)))
                l.joined = true
            }
            for (name, schedule) in change.schedules.sorted(by: { $0.key < $1.key }) {
                guard l.q.book.working[name] == nil, !l.q.book.deleting.contains(name) else { continue }
                if let schedule {
                    l.q.book.committed[name] = schedule
                    l.q.book.noteDue(schedule)
                    hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(schedule)))
                } else if l.q.book.committed.removeValue(forKey: name) != nil {
                    hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .scheduleDeleted(name: name)))
                }
            }
            return stop
        }
        batchDone()
        if !stop.isEmpty, let stopTask = taskStopper.withLock({ $0 }) {
            for id in stop { stopTask(id) }
        }
    }

    /// After a guarded write lost to another node: the jobs it touched are read
    /// again and applied as the other node left them.
    func resync(_ ids: [Int64]) {
        guard let cluster else { return }
        guard !ids.isEmpty, let jobs = try? cluster.jobs(ids) else { return }
        var change = RemoteChange()
        change.jobs = jobs
        // A finished job whose row is gone was deleted first (by this node or
        // another): it leaves memory, as a delete heard of would.
        let found = Set(jobs.map(\.id))
        change.deleted = state.withLock { l in
            ids.filter { !found.contains($0) }.compactMap { l.q.finishedForRemoval($0) }
        }
        applyRemote(change)
    }

    /// A guarded write of a daemon alone on its store found no row: a delete
    /// (bulk, clear, prune) committed first. Jobs the store no longer holds
    /// leave memory and the counters as that delete's did.
    func forgetDeleted(_ ids: [Int64], then: @escaping @Sendable () -> Void) {
        guard let store else { return then() }
        var gone: [Int64] = []
        for id in ids {
            do { if try store.job(id) == nil { gone.append(id) } } catch { continue }
        }
        guard !gone.isEmpty else { return then() }
        let removed = Cell<[PrunedJob]>([])
        transact { q -> ((), Change?) in
            removed.value = gone.compactMap { q.finishedForRemoval($0) }
            return ((), Change(ops: [], effect: .prune(removed), retry: false, done: { _ in then() }))
        }
    }
}
