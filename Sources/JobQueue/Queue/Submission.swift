import JSON
import Synchronization

/// New jobs (with their idempotency keys and ids) and claims of pending ones.
extension JobQueue {
    /// A submission's outcome: the new job, or (same idempotency key) the existing one.
    public struct Submitted: Sendable {
        public let job: Job
        public let duplicate: Bool
    }

    /// Adds a job with validated params and resolved options. It joins the queue
    /// (and `created` is published) once durable; then `completion` gets it, or
    /// the storage error (and then nothing was added). A submission whose
    /// idempotency key belongs to a job that still exists gets that job instead,
    /// once it is committed; concurrent identical submissions make exactly one job.
    public func enqueue(type: String, params: JSONObject, options: JobOptions,
                        completion: @escaping @Sendable (Result<Submitted, StoreError>) -> Void) {
        enqueue(type: type, params: params, options: options, id: nil, completion: completion)
    }

    private func enqueue(type: String, params: JSONObject, options: JobOptions, id: Int64?,
                         completion: @escaping @Sendable (Result<Submitted, StoreError>) -> Void) {
        if let failure = store?.failure {
            completion(.failure(failure))
            return
        }
        if id == nil, let ids {
            // A shared store hands out the id (at once, or after a refill elsewhere).
            ids.take { [self] result in
                switch result {
                case .success(let id): enqueue(type: type, params: params, options: options, id: id, completion: completion)
                case .failure(let error): completion(.failure(error))
                }
            }
            return
        }
        // A key not held in memory may belong to an older job in the store.
        var stored: Job?
        if let key = options.idempotencyKey, let store, state.withLock({ $0.q.keys[key] == nil }) {
            do { stored = try store.job(idempotencyKey: key) } catch {
                completion(.failure(error))
                return
            }
        }
        let duplicate = transact { q -> (Job?, Change?) in
            if let key = options.idempotencyKey {
                if let id = q.keys[key] {
                    if let existing = q.current(id) { return (existing, nil) }
                    // Its first submission is still on the way to the store: this
                    // one is answered with that job once it is committed.
                    q.keyWaiters[id, default: []].append { result in completion(result.map { Submitted(job: $0, duplicate: true) }) }
                    return (nil, nil)
                }
                if let stored { return (stored, nil) }
            }
            let now = clock.now()
            var job = Job(id: id ?? q.nextID, type: type, params: params, createdAt: now)
            if id == nil { q.nextID += 1 }
            job.queue = options.queue ?? "default"
            job.priority = options.priority ?? 0
            job.runAt = options.runAt
            job.timeout = options.timeout
            job.maxAttempts = options.maxAttempts ?? 1
            job.backoff = options.backoff ?? Backoff()
            job.idempotencyKey = options.idempotencyKey
            if let key = options.idempotencyKey { q.keys[key] = job.id }
            if cluster != nil { q.cluster.creating.insert(job.id) }
            let created = job
            return (nil, Change(ops: [.upsert(job)], effect: .insert(job),
                                events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .created(job))],
                                retry: false, done: { result in completion(result.map { Submitted(job: created, duplicate: false) }) }))
        }
        if let duplicate { completion(.success(Submitted(job: duplicate, duplicate: true))) }
    }

    /// Adds a job with the default options (see the other `enqueue`).
    public func enqueue(type: String, params: JSONObject,
                        completion: @escaping @Sendable (Result<Job, StoreError>) -> Void = { _ in }) {
        enqueue(type: type, params: params, options: JobOptions()) { result in completion(result.map(\.job)) }
    }

    /// The synchronous form for the in-memory queue (and tests): the job as created.
    @discardableResult
    public func enqueue(type: String, params: JSONObject) -> Job {
        let result = Mutex<Job?>(nil)
        enqueue(type: type, params: params) { r in result.withLock { $0 = try? r.get() } }
        return result.withLock { $0 } ?? Job(id: 0, type: type, params: params, createdAt: clock.now())
    }

    /// Moves the next pending job (highest priority, then oldest; its queue not
    /// paused or full, its type under its limit, its time come) to `running` and
    /// returns it, or `nil` if none may start now.
    public func claimNext() -> Job? {
        transact { q -> (Job?, Change?) in
            let now = clock.now()
            guard let before = q.nextClaim(now: now) else { return (nil, nil) }
            var job = before
            job.status = .running
            job.startedAt = now
            job.progress = .starting
            job.sequence += 1
            q.stage(job)
            q.scheduler.countRunning(job, 1)
            return (job, Change(ops: [write(job, from: before)], effect: .update([job]),
                                events: [QueueEvent(jobID: job.id, sequence: job.sequence, kind: .started(startedAt: now, node: job.node))],
                                touched: [before]))
        }
    }

    /// Whether a job could start now (after a claim came back empty, the worker
    /// looks again in case one became claimable meanwhile).
    public var hasClaimable: Bool {
        let now = clock.now()
        return state.withLock { $0.q.hasClaimable(now: now) }
    }

    /// Sets the most jobs of one type that may run at once (nil: no limit of its own).
    public func setTypeLimits(_ limits: [String: Int]) {
        state.withLock { $0.q.scheduler.typeLimits = limits }
        announceAvailable()
    }
}
