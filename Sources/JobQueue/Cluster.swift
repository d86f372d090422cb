import Dispatch
import Essentials
import Synchronization

/// Fresh job ids from a store shared by several nodes, fetched ahead in small
/// blocks so a submission rarely waits for the database. While other nodes are
/// alive, ids older than a second are dropped unused (ids have gaps, never
/// repeats): a job's id then follows creation order across nodes to within
/// about a second. A node alone keeps them, so its ids have no gaps but at a restart.
final class IDPool: Sendable {
    private struct State {
        var ids: [Int64] = []
        var next = 0
        var fetchedAt = 0.0
        var refilling = false
        var waiters: [@Sendable (Result<Int64, StoreError>) -> Void] = []
    }
    private let state = Mutex(State())
    private let store: any ClusterStore
    static let block = 128
    static let freshFor = 1.0

    init(store: any ClusterStore) { self.store = store }

    /// An id now when one is at hand, else after a refill (on another thread).
    func take(_ then: @escaping @Sendable (Result<Int64, StoreError>) -> Void) {
        let now = monotonicNow()
        let alone = store.isAlone
        let (id, refill) = state.withLock { s -> (Int64?, Bool) in
            if now - s.fetchedAt > Self.freshFor && !alone { s.next = s.ids.count }
            if s.waiters.isEmpty, s.next < s.ids.count {
                defer { s.next += 1 }
                let low = s.ids.count - s.next < Self.block / 4 && !s.refilling
                if low { s.refilling = true }
                return (s.ids[s.next], low)
            }
            s.waiters.append(then)
            let start = !s.refilling
            s.refilling = true
            return (nil, start)
        }
        if refill { DispatchQueue.global().async { self.refill() } }
        if let id { then(.success(id)) }
    }

    /// The blocking form, for threads that may wait (timers).
    func takeNow() -> Result<Int64, StoreError> {
        let box = Mutex<Result<Int64, StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        take { r in
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 }!
    }

    private func refill() {
        let fetched: Result<[Int64], StoreError>
        do { fetched = .success(try store.takeIDs(Self.block)) } catch { fetched = .failure(error) }
        let now = monotonicNow()
        let alone = store.isAlone
        var served: [(@Sendable (Result<Int64, StoreError>) -> Void, Result<Int64, StoreError>)] = []
        let again = state.withLock { s -> Bool in
            s.refilling = false
            switch fetched {
            case .success(let ids):
                s.ids = (now - s.fetchedAt > Self.freshFor && !alone ? [] : Array(s.ids[s.next...])) + ids
                s.next = 0
                s.fetchedAt = now
                while !s.waiters.isEmpty && s.next < s.ids.count {
                    served.append((s.waiters.removeFirst(), .success(s.ids[s.next])))
                    s.next += 1
                }
            case .failure(let error):
                served = s.waiters.map { ($0, .failure(error)) }
                s.waiters = []
            }
            if !s.waiters.isEmpty {
                s.refilling = true
                return true
            }
            return false
        }
        for (waiter, result) in served { waiter(result) }
        if again { refill() }
    }
}

/// Several nodes on one store: claims made by the store, other nodes' changes
/// applied as they are heard of, guarded writes that lose to another node's.
extension JobQueue {
    /// This node's id when the store is shared by several nodes.
    public var nodeID: String? { cluster?.nodeID }

    /// The nodes sharing the store (nil: the store is not shared).
    public func nodes() throws(StoreError) -> [NodeInfo]? {
        guard let cluster else { return nil }
        return try cluster.nodes()
    }

    /// The store op that writes a transition of an existing job: guarded by the
    /// status, node and attempt it had when decided, when several nodes share
    /// the store.
    func write(_ job: Job, from before: Job) -> StoreOp {
        guard cluster != nil else { return .upsert(job) }
        return .update(job, expect: JobGuard(before))
    }

    /// What a log write of a running job expects the row to hold (several nodes):
    /// still that attempt, so lines of an attempt taken over never land in the
    /// log of the one that replaced it.
    func logGuard(_ running: Job) -> JobGuard? {
        cluster == nil ? nil : JobGuard(running)
    }

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
    private func adoptRunning(_ l: inout Locked, _ job: Job) {
        _ = l.q.noteStored(job)
        let old = l.q.jobs[job.id]
        if old == nil { l.q.insert(pendingCopy(job), now: clock.now()) }
        var running = job
        running.sequence = max(job.sequence, (old?.sequence ?? 0) + 1)
        l.q.update(running, keepFinished: recentFinishedLimit, now: clock.now())
        l.q.scheduler.countRunning(running, 1)
        if old?.status != .running {
            hub.record(QueueEvent(jobID: job.id, sequence: running.sequence, kind: .started(startedAt: job.startedAt ?? clock.now(), node: job.node)))
        }
    }

    private func pendingCopy(_ job: Job) -> Job {
        var pending = Job(id: job.id, type: job.type, params: job.params, createdAt: job.createdAt)
        pending.queue = job.queue
        pending.priority = job.priority
        pending.runAt = job.runAt
        pending.timeout = job.timeout
        pending.maxAttempts = job.maxAttempts
        pending.backoff = job.backoff
        pending.idempotencyKey = job.idempotencyKey
        pending.schedule = job.schedule
        pending.sequence = 1
        return pending
    }

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
                guard l.q.inflight[job.id] == nil, !l.q.creating.contains(job.id) else {
                    // Read again once this node's own change of it is applied.
                    l.q.remoteSkipped.insert(job.id)
                    continue
                }
                // Read before a state already applied (re-reads and the listener race).
                guard l.q.noteStored(job) else { continue }
                let old = l.q.jobs[job.id]
                var lines = change.logs[job.id] ?? []
                if let old, old.status == job.status, old.progress == job.progress, old.node == job.node,
                   old.attempt == job.attempt, old.runAt == job.runAt, lines.isEmpty { continue }
                // Events carry the numbers the node that made them gave them (the
                // stored sequence; log lines their own), in that order, so a
                // stream's ids here are the ones it has on that node.
                var fresh = job
                var before = old ?? pendingCopy(job)
                if old == nil {
                    before.sequence = min(job.sequence, 1)
                    l.q.insert(before, now: now)
                    hub.record(QueueEvent(jobID: job.id, sequence: before.sequence, kind: .created(before)))
                    l.joined = true
                }
                // A job that started and ended between two reads here: its start
                // is published first (with the number it had on its node), so
                // watchers learn when and where it ran, as they would have.
                if before.status == .pending, job.status.isFinished, let startedAt = job.startedAt,
                   before.sequence + 1 < job.sequence {
                    hub.record(QueueEvent(jobID: job.id, sequence: before.sequence + 1, kind: .started(startedAt: startedAt, node: job.node)))
                }
                let kind: QueueEvent.Kind? = switch (before.status, job.status) {
                case (.pending, .running): .started(startedAt: job.startedAt ?? now, node: job.node)
                case (.running, .running): before.progress != job.progress ? .progress(job.progress) : nil
                case (_, .completed): .completed(result: job.result ?? .object([:]), duration: job.duration ?? 0)
                case (_, .failed): .failed(error: job.error ?? "")
                case (_, .cancelled): .cancelled
                case (.running, .pending): .retrying(attempt: job.attempt, runAt: job.runAt ?? now, error: job.errors.last?.error ?? "")
                // An attempt that started and failed between two reads here.
                case (.pending, .pending) where job.attempt > before.attempt && !job.errors.isEmpty:
                    .retrying(attempt: job.attempt, runAt: job.runAt ?? now, error: job.errors.last?.error ?? "")
                case (let from, .pending) where from.isFinished: .retried(job)
                default: nil
                }
                lines.sort { $0.seq < $1.seq }
                let earlier = lines.filter { $0.seq < job.sequence }
                let later = lines.filter { $0.seq >= job.sequence }
                if !earlier.isEmpty { hub.record(QueueEvent(jobID: job.id, sequence: earlier.last!.seq, kind: .log(earlier))) }
                fresh.sequence = max(job.sequence, lines.last?.seq ?? 0, old?.sequence ?? 0)
                l.q.update(fresh, keepFinished: recentFinishedLimit, now: now)
                if let kind { hub.record(QueueEvent(jobID: job.id, sequence: job.sequence, kind: kind)) }
                if !later.isEmpty { hub.record(QueueEvent(jobID: job.id, sequence: later.last!.seq, kind: .log(later))) }
                if job.status == .pending { l.joined = true }
                // A job this node runs that another node ended or took over.
                if let old, old.status == .running, old.node == node, !(job.status == .running && job.node == node) {
                    // Its place in the limits is freed when the task has ended.
                    l.q.stopping[job.id] = old
                    l.q.logBuffer[job.id] = nil
                    l.q.progressWritten[job.id] = nil
                    stop.append(job.id)
                }
            }
            for (id, lines) in change.logs where !change.jobs.contains(where: { $0.id == id }) && !lines.isEmpty {
                guard l.q.inflight[id] == nil, !l.q.creating.contains(id), var job = l.q.jobs[id] else { continue }
                let sorted = lines.sorted { $0.seq < $1.seq }
                job.sequence = max(job.sequence, sorted.last!.seq)
                l.q.update(job, keepFinished: recentFinishedLimit, now: now)
                hub.record(QueueEvent(jobID: id, sequence: sorted.last!.seq, kind: .log(sorted)))
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
                guard l.q.schedulesWorking[name] == nil, !l.q.schedulesDeleting.contains(name) else { continue }
                if let schedule {
                    l.q.schedules[name] = schedule
                    l.q.noteScheduleDue(schedule)
                    hub.record(QueueEvent(jobID: 0, sequence: 0, kind: .scheduleUpdated(schedule)))
                } else if l.q.schedules.removeValue(forKey: name) != nil {
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

    /// The leader takes over the running jobs of silent nodes and ends each
    /// attempt as interrupted (retried when attempts remain), fenced by its
    /// lease. One rescue per node at a time.
    public func rescue(_ nodes: [String]) {
        guard let cluster, let epoch = cluster.leaderEpoch else { return }
        for silent in nodes {
            let fresh = state.withLock { $0.rescuing.insert(silent).inserted }
            guard fresh else { continue }
            let adopted = Mutex<[Job]>([])
            cluster.submit([.fence(epoch: epoch), .adopt(from: silent, node: cluster.nodeID, report: { jobs in adopted.withLock { $0 = jobs } })],
                           retry: false) { [self] result in
                let jobs = adopted.withLock { $0 }
                if case .success = result, !jobs.isEmpty {
                    state.withLock { l in
                        for job in jobs {
                            adoptRunning(&l, job)
                            l.q.adoptedFrom[job.id] = silent
                        }
                    }
                    batchDone()
                    for job in jobs { fail(job.id, error: Self.interruptedMessage, retryable: true) }
                }
                // The next heartbeat looks again once these are written.
                whenDurable { [self] _ in state.withLock { _ = $0.rescuing.remove(silent) } }
            }
        }
    }
}
