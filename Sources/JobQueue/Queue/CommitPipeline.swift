import Dispatch
import Synchronization

/// One transition decided by the state machine: what the store writes, what
/// becomes visible once that is committed, and the events that say so.
struct Change: Sendable {
    enum Effect: Sendable {
        case none
        /// A new job joins the queue.
        case insert(Job)
        /// Jobs take these states.
        case update([Job])
        /// Every finished job leaves; the cell gets how many.
        case clear(Cell<Int>)
        /// These finished jobs leave (picked by the store in its transaction).
        case prune(Cell<[PrunedJob]>)
        /// A named queue's settings change.
        case queue(String, QueueSettings)
        /// A schedule is created, changed or fired (with the job it made, if any).
        case schedule(Schedule, job: Job?)
        /// A schedule is deleted.
        case scheduleDeleted(String)
    }

    var ops: [StoreOp]
    var effect: Effect
    var events: [QueueEvent] = []
    /// The jobs this change staged, as they were before it (to release or revert).
    var touched: [Job] = []
    /// System transitions (a job started, progressed, ended) are retried until
    /// the store takes them; a client's request is not: it fails, and changes nothing.
    var retry = true
    /// The running job whose cancel this is.
    var cancelOf: Int64?
    /// Log lines of one job (and how many were dropped before them), kept in
    /// memory when there is no store.
    var logs: (id: Int64, lines: [LogLine], dropped: Int)?
    /// The job whose log batch this is (the next batch waits for it).
    var logOf: Int64?
    /// Webhook deliveries decided with this change (written with it; handed to
    /// the delivery thread once committed).
    var webhooks: [WebhookDelivery] = []
    /// Runs after the change is applied and its events published, or on failure.
    var done: (@Sendable (Result<Void, StoreError>) -> Void)?
}

/// What the queue's lock guards: the state, and the changes decided but not yet
/// handed to the store, in the order they were decided.
struct Locked: ~Copyable {
    var q = QueueState()
    var outgoing: [Change] = []
    var submitting = false
    /// Completions of applied changes, run after their events are published.
    var completions: [@Sendable () -> Void] = []
    /// Whether jobs joined the queue since the worker was last told.
    var joined = false
    /// Webhook routes and delivery ids (`WebhookRouting.swift`); nil: none configured.
    var webhooks: WebhookState?
}

/// The commit pipeline: the order is fixed under the lock, the store is called
/// after unlocking, and visible state and events change only after the commit.
extension JobQueue {
    /// Decides a transition under the lock. In memory the change is applied at
    /// once; with a store it is queued, then handed over in order after unlocking.
    @discardableResult
    func transact<R>(_ decide: (inout QueueState) -> (R, Change?)) -> R {
        let durable = store != nil
        let result = state.withLock { l -> R in
            let (r, decided) = decide(&l.q)
            if var change = decided {
                if l.webhooks != nil { addWebhooks(&l, &change) }
                if durable { l.outgoing.append(change) } else { apply(&l, change) }
            }
            return r
        }
        if durable { flush() } else { batchDone() }
        return result
    }

    /// Hands queued changes to the store in decision order. One thread hands over
    /// at a time; changes queued meanwhile are picked up by the same loop. The
    /// store never completes inside `submit`, so its completions cannot re-enter.
    func flush() {
        guard let store else { return }
        while true {
            let batch: [Change]? = state.withLock { l in
                guard !l.submitting, !l.outgoing.isEmpty else { return nil }
                l.submitting = true
                defer { l.outgoing = [] }
                return l.outgoing
            }
            guard let batch else { return }
            for change in batch {
                store.submit(change.ops, retry: change.retry) { [self] result in committed(change, result) }
            }
            state.withLock { $0.submitting = false }
        }
    }

    /// The store's answer for one change (on its writer thread, in order).
    private func committed(_ change: Change, _ result: Result<Void, StoreError>) {
        switch result {
        case .success:
            state.withLock { apply(&$0, change) }
            flush()
        case .failure(let error):
            let waiters = state.withLock { l -> [@Sendable (Result<Job, StoreError>) -> Void] in
                for before in change.touched.reversed() {
                    // Undo what the change did to the running counts.
                    if let now = l.q.current(before.id) {
                        if now.status == .running && before.status != .running && runsHere(now) { l.q.scheduler.countRunning(now, -1) }
                        // (A cancel kept the place while the task stops: it stays taken.)
                        if before.status == .running && now.status != .running && runsHere(before),
                           l.q.stopping.removeValue(forKey: before.id) == nil {
                            l.q.scheduler.countRunning(before, 1)
                        }
                    }
                    l.q.release(before.id, revertTo: before)
                    if before.status == .pending { l.q.scheduler.schedule(before, now: clock.now()) }
                }
                // A cancel that did not happen: the job runs on, or ends as its
                // task reported meanwhile.
                if let id = change.cancelOf, let entry = l.q.cancelling.removeValue(forKey: id),
                   let end = entry.finish, let job = l.q.current(id), job.status == .running {
                    var finish = finishChange(&l.q, job, end)
                    if l.webhooks != nil { addWebhooks(&l, &finish) }
                    l.outgoing.append(finish)
                }
                if let id = change.logOf { l.q.logs.inFlight.remove(id) }
                switch change.effect {
                case .schedule(let schedule, _):
                    if l.q.book.working[schedule.name] == schedule { l.q.book.working[schedule.name] = nil }
                case .scheduleDeleted(let name):
                    l.q.book.deleting.remove(name)
                default: break
                }
                if let job = change.effect.createdJob { l.q.cluster.creating.remove(job.id) }
                // A new job that was not added: its key is free, its duplicates fail too.
                if case .insert(let job) = change.effect {
                    if let key = job.idempotencyKey, l.q.keys[key] == job.id { l.q.keys[key] = nil }
                    return l.q.keyWaiters.removeValue(forKey: job.id) ?? []
                }
                return []
            }
            for w in waiters { w(.failure(error)) }
            flush()
            if error.isConflict {
                // Another node changed the job first: read it as that node left it
                // (then a client's request may be decided again), off the writer thread.
                let ids = change.touched.map(\.id)
                DispatchQueue.global().async { [self] in
                    if cluster != nil {
                        resync(ids)
                        change.done?(.failure(error))
                    } else {
                        // A daemon alone: the row was deleted first. The answer
                        // waits until memory has let the job go too.
                        forgetDeleted(ids) { change.done?(.failure(error)) }
                    }
                }
                return
            }
            change.done?(.failure(error))
        }
    }

    /// Makes a committed change visible and records its events. Under the lock.
    func apply(_ l: inout Locked, _ change: Change) {
        let keep = store == nil ? nil : recentFinishedLimit
        switch change.effect {
        case .none:
            break
        case .insert(let job):
            l.q.insert(job, now: clock.now())
            l.joined = true
            for waiter in l.q.keyWaiters.removeValue(forKey: job.id) ?? [] { l.completions.append { waiter(.success(job)) } }
        case .update(let jobs):
            let now = clock.now()
            for job in jobs {
                l.q.update(job, keepFinished: keep, now: now)
                if job.status == .pending { l.joined = true }
            }
        case .queue(let name, let settings):
            l.q.scheduler.setQueue(name, settings)
            l.joined = true
        case .schedule(let schedule, let job):
            l.q.book.committed[schedule.name] = schedule
            if l.q.book.working[schedule.name] == schedule { l.q.book.working[schedule.name] = nil }
            l.q.book.noteDue(schedule)
            if let job {
                l.q.insert(job, now: clock.now())
                l.joined = true
            }
        case .scheduleDeleted(let name):
            l.q.book.committed[name] = nil
            l.q.book.working[name] = nil
            l.q.book.deleting.remove(name)
        case .clear(let count):
            let (n, ids) = l.q.clearFinished()
            count.value = n
            hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .cleared(count: n, ids: ids)))
        case .prune(let pruned):
            pruned.value = l.q.remove(pruned.value)
            if !pruned.value.isEmpty {
                hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .pruned(PruneCounts(pruned.value))))
            }
        }
        for before in change.touched { l.q.release(before.id) }
        if cluster != nil {
            // This node's own rows: stored with at least this sequence number, so a
            // re-read from before them is older.
            for op in change.ops {
                switch op {
                case .upsert(let job), .update(let job, _): _ = l.q.noteStored(job)
                default: break
                }
            }
            // Another node changed these while this change was on its way.
            if let job = change.effect.createdJob { l.q.cluster.creating.remove(job.id) }
            for id in change.touched.map(\.id) + (change.effect.createdJob.map { [$0.id] } ?? [])
            where l.q.inflight[id] == nil && !l.q.cluster.creating.contains(id) && l.q.cluster.remoteSkipped.remove(id) != nil {
                l.q.cluster.resync.append(id)
            }
        }
        if let id = change.cancelOf { l.q.cancelling[id] = nil }
        if store == nil, let (id, lines, dropped) = change.logs {
            l.q.logs.kept[id, default: JobLog()].append(lines, maxBytes: maxLogBytes)
            l.q.logs.kept[id]?.dropped += dropped
        }
        // The job's next batch may go now.
        if let id = change.logOf {
            l.q.logs.inFlight.remove(id)
            if l.q.logs.pending[id] != nil, l.q.current(id)?.status == .running, let next = logChange(&l.q, id) {
                if store == nil { apply(&l, next) } else { l.outgoing.append(next) }
            }
        }
        for event in change.events { hub.record(event) }
        if !change.webhooks.isEmpty, let committed = l.webhooks?.hook.committed {
            let deliveries = change.webhooks
            l.completions.append { committed(deliveries) }
        }
        if let done = change.done { l.completions.append { done(.success(())) } }
    }

    /// After a commit (or at once in memory): publish its events, then answer
    /// its requesters, then let the worker start what joined the queue.
    func batchDone() {
        hub.deliver()
        let (completions, joined, resyncIDs) = state.withLock { l in
            defer {
                l.completions = []
                l.joined = false
                l.q.cluster.resync = []
            }
            return (l.completions, l.joined, l.q.cluster.resync)
        }
        if !resyncIDs.isEmpty { DispatchQueue.global().async { [self] in resync(resyncIDs) } }
        // The timer is set before anyone hears the change is done.
        rearm()
        for c in completions { c() }
        if joined { announceAvailable() }
    }
}

extension Change.Effect {
    /// The job a schedule's firing makes.
    var firedJob: Job? {
        if case .schedule(_, let job) = self { return job }
        return nil
    }

    /// The new job this change adds (a submission or a schedule's firing).
    var createdJob: Job? {
        if case .insert(let job) = self { return job }
        return firedJob
    }
}
