/// Schedules firing when their time comes (the leader alone, with several nodes).
extension JobQueue {
    /// Fires every schedule whose time came, each in its own change (its job and
    /// its new `lastRunAt`/`nextRunAt` committed together, so a slot fires once
    /// even across a crash).
    func fireDueSchedules(now: Double, all: Bool = false) {
        let hooks = scheduleHooks.withLock { $0 }
        guard let next = hooks.next else { return }
        // With several nodes, the leader alone fires (each slot once), every
        // change fenced by the lease it leads under. Another node lets the due
        // schedules go (the leader's firing brings their next run); should it
        // come to lead, it looks at every schedule then (`all`).
        var fence: [StoreOp] = []
        if let cluster {
            guard let epoch = cluster.leaderEpoch else {
                state.withLock { _ = $0.q.book.takeDue(now: now) }
                return
            }
            fence = [.fence(epoch: epoch)]
        }
        let due = state.withLock { l -> [String] in
            // At start and when this node comes to lead: schedules without a
            // next run yet (made before the cron arithmetic was handed in) get
            // one, and those whose time came fire.
            var names = !all ? Set<String>() : Set(l.q.book.committed.keys).union(l.q.book.working.keys).filter { name in
                guard let s = l.q.book.current(name) else { return false }
                return !s.paused && (s.nextRunAt.map { $0 <= now } ?? true)
            }
            names.formUnion(l.q.book.takeDue(now: now))
            return names.sorted()
        }
        for name in due {
            var cancel: Int64?
            var id: Int64?
            if let ids {
                guard case .success(let taken) = ids.takeNow() else { continue }
                id = taken
            }
            transact { q -> ((), Change?) in
                guard var s = q.book.current(name), !s.paused else { return ((), nil) }
                guard let slot = s.nextRunAt else {
                    s.nextRunAt = next(s, now)
                    q.book.stage(s)
                    return ((), Change(ops: fence + [.upsertSchedule(s)], effect: .schedule(s, job: nil)))
                }
                guard slot <= now else { return ((), nil) }
                // Slots missed while the daemon was down: none, or the latest once.
                let following = next(s, slot)
                let missed = following.map { $0 <= now } ?? false
                if missed && s.catchUp == .none {
                    s.nextRunAt = next(s, now)
                    q.book.stage(s)
                    return ((), Change(ops: fence + [.upsertSchedule(s)], effect: .schedule(s, job: nil),
                                       events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))]))
                }
                let previous = s.lastJobID.flatMap { q.current($0) }
                let busy = previous.map { $0.status == .pending || $0.status == .running } ?? false
                if busy && s.overlap == .skip {
                    s.nextRunAt = next(s, now)
                    q.book.stage(s)
                    return ((), Change(ops: fence + [.upsertSchedule(s)], effect: .schedule(s, job: nil),
                                       events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))]))
                }
                if busy && s.overlap == .cancelPrevious { cancel = previous?.id }
                s.nextRunAt = next(s, now)
                var change = fire(&q, s, slot: missed ? now : slot, advance: true, id: id)
                change.ops = fence + change.ops
                return ((), change)
            }
            if let cancel, let stop = hooks.cancel { stop(cancel) }
        }
    }

    /// The change that makes a schedule's job, with the schedule's new last run.
    func fire(_ q: inout QueueState, _ schedule: Schedule, slot: Double, advance: Bool, id: Int64? = nil) -> Change {
        var s = schedule
        let o = s.jobOptions
        var job = Job(id: id ?? q.nextID, type: s.jobType, params: s.params, createdAt: clock.now())
        if id == nil { q.nextID += 1 }
        job.queue = o.queue ?? "default"
        job.priority = o.priority ?? 0
        job.timeout = o.timeout
        job.maxAttempts = o.maxAttempts ?? 1
        job.backoff = o.backoff ?? Backoff()
        job.schedule = s.name
        if cluster != nil { q.cluster.creating.insert(job.id) }
        s.lastRunAt = slot
        s.lastJobID = job.id
        q.book.stage(s)
        return Change(ops: [.upsert(job), .upsertSchedule(s)], effect: .schedule(s, job: job),
                      events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job)),
                               QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))])
    }
}
