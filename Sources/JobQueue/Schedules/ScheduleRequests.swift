/// Schedules as the API changes them: create, replace, delete, run now.
extension JobQueue {
    /// Hands in the cron arithmetic and the way to stop a running job; then
    /// brings every schedule up to date (slots missed while the daemon was down
    /// follow the schedule's catch-up rule) and sets the timer.
    public func setScheduleHooks(next: @escaping NextSlot, cancel: @escaping @Sendable (Int64) -> Void) {
        scheduleHooks.withLock { $0 = (next, cancel) }
        fireDueSchedules(now: clock.now(), all: true)
        rearm()
    }

    public func schedules() -> [Schedule] {
        state.withLock { l in
            Set(l.q.book.committed.keys).union(l.q.book.working.keys).sorted().compactMap { name in
                l.q.book.deleting.contains(name) ? nil : l.q.book.committed[name]
            }
        }
    }

    public func schedule(_ name: String) -> Schedule? {
        state.withLock { $0.q.book.committed[$0.q.book.deleting.contains(name) ? "" : name] }
    }

    /// Creates or replaces a schedule; its next run is computed from now (a
    /// changed cron or zone starts afresh; an unchanged one keeps its next run).
    public func upsertSchedule(_ schedule: Schedule, completion: @escaping @Sendable (Result<Schedule, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        let next = scheduleHooks.withLock { $0.next }
        let now = clock.now()
        transact { q -> ((), Change?) in
            var s = schedule
            if let old = q.book.current(s.name) {
                s.createdAt = old.createdAt
                s.lastRunAt = old.lastRunAt
                s.lastJobID = old.lastJobID
                s.nextRunAt = old.cron == s.cron && old.timezone == s.timezone ? old.nextRunAt : nil
            }
            if s.nextRunAt == nil { s.nextRunAt = next?(s, now) }
            q.book.stage(s)
            let saved = s
            return ((), Change(ops: [.upsertSchedule(s)], effect: .schedule(s, job: nil),
                               events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(s))], retry: false,
                               done: { r in completion(r.map { saved }) }))
        }
    }

    /// Deletes a schedule (its jobs stay); false when there is none.
    public func deleteSchedule(_ name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        let found = transact { q -> (Bool, Change?) in
            guard q.book.current(name) != nil else { return (false, nil) }
            q.book.deleting.insert(name)
            return (true, Change(ops: [.deleteSchedule(name: name)], effect: .scheduleDeleted(name),
                                 events: [QueueEvent(jobID: 0, sequence: 0, kind: .scheduleDeleted(name: name))], retry: false,
                                 done: { r in completion(r.map { true }) }))
        }
        if !found { completion(.success(false)) }
    }

    /// Makes the schedule's job now (its slots stay as they are); nil when there
    /// is no such schedule.
    public func runScheduleNow(_ name: String, completion: @escaping @Sendable (Result<Job?, StoreError>) -> Void) {
        runScheduleNow(name, id: nil, completion: completion)
    }

    private func runScheduleNow(_ name: String, id: Int64?, completion: @escaping @Sendable (Result<Job?, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        if id == nil, let ids {
            ids.take { [self] result in
                switch result {
                case .success(let id): runScheduleNow(name, id: id, completion: completion)
                case .failure(let error): completion(.failure(error))
                }
            }
            return
        }
        let now = clock.now()
        let found = transact { q -> (Bool, Change?) in
            guard let s = q.book.current(name) else { return (false, nil) }
            var change = fire(&q, s, slot: now, advance: false, id: id)
            let job = change.effect.firedJob
            change.retry = false
            change.done = { r in completion(r.map { job }) }
            return (true, change)
        }
        if !found { completion(.success(nil)) }
    }
}
