import Dispatch
import JSON
import JobQueue
import Synchronization

/// What clients ask of the jobs: submit, retry, cancel, clear, prune, queue settings.
extension JobEngine {
    /// Validates a submission: the type and its normalised params.
    public func validate(type: String, params: JSONValue?) throws(SubmitError) -> JSONObject {
        guard let jobType = registry.type(named: type) else { throw .unknownType(type) }
        do { return try jobType.validate(params) } catch { throw .invalid(error) }
    }

    /// Validates (throwing at once) and enqueues a job; `completion` gets it once
    /// it is durable and queued (it starts at once if a slot is free), or the
    /// storage error.
    public func submit(type: String, params: JSONValue?,
                       completion: @escaping @Sendable (Result<Job, StoreError>) -> Void) throws(SubmitError) {
        try submit(type: type, params: params, options: JobOptions()) { result in completion(result.map(\.job)) }
    }

    /// Validates type, params and options (throwing at once) and enqueues the
    /// job with the type's defaults filled in; `completion` gets it once durable
    /// and queued, or the job that already holds its idempotency key.
    public func submit(type: String, params: JSONValue?, options: JobOptions,
                       completion: @escaping @Sendable (Result<JobQueue.Submitted, StoreError>) -> Void) throws(SubmitError) {
        guard let jobType = registry.type(named: type) else { throw .unknownType(type) }
        let normalised: JSONObject
        do { normalised = try jobType.validate(params) } catch { throw .invalid(error) }
        queue.enqueue(type: type, params: normalised, options: options.resolved(with: jobType.defaults), completion: completion)
    }

    /// Puts a failed or cancelled job back to pending (see `JobQueue.retry`).
    public func retry(_ id: Int64, completion: @escaping @Sendable (Result<JobQueue.RetryOutcome, StoreError>) -> Void) {
        queue.retry(id, completion: completion)
    }

    /// The named queues with their settings and counts.
    public func queues() -> [(name: String, settings: QueueSettings, counts: QueueStats)] { queue.queues() }

    /// Changes a queue's settings; in effect at once, kept across restarts.
    public func updateQueue(_ name: String, _ settings: QueueSettings,
                            completion: @escaping @Sendable (Result<QueueSettings, StoreError>) -> Void) {
        queue.updateQueue(name, settings, completion: completion)
    }

    /// This node's id, when several nodes share the store.
    public var nodeID: String? { queue.nodeID }

    /// The nodes sharing the store (nil: the store is not shared).
    public func nodes() throws(StoreError) -> [NodeInfo]? { try queue.nodes() }

    /// The queue's clock (now, in epoch seconds).
    public var now: Double { queue.clock.now() }

    /// The synchronous form for the in-memory queue (and tests).
    @discardableResult
    public func submit(type: String, params: JSONValue?) throws(SubmitError) -> Job {
        let result = Mutex<Job?>(nil)
        try submit(type: type, params: params) { r in result.withLock { $0 = try? r.get() } }
        return result.withLock { $0 } ?? Job(id: 0, type: type, params: [:], createdAt: now)
    }

    /// Starts pending jobs loaded from a durable store (after a restart).
    public func resume() {
        pump()
    }

    /// Cancels a pending or running job. Once the cancel is committed a running
    /// job's task is stopped at its next cancellation point (a sleep ends at
    /// once) and `completion` gets the outcome; a storage error means the job
    /// goes on as before.
    public func cancel(_ id: Int64, completion: @escaping @Sendable (Result<JobQueue.CancelOutcome, StoreError>) -> Void) {
        queue.cancel(id) { [self] result in
            if case .success(.cancelled(wasRunning: true)) = result {
                let task: Task<Void, Never>? = worker.withLock { w in
                    if let t = w.tasks[id] { return t }
                    w.cancelBeforeRegister.insert(id)
                    return nil
                }
                task?.cancel()
            }
            completion(result)
        }
    }

    /// The synchronous form for the in-memory queue (and tests).
    public func cancel(_ id: Int64) -> JobQueue.CancelOutcome {
        let outcome = Mutex<JobQueue.CancelOutcome>(.notFound)
        cancel(id) { r in if case .success(let o) = r { outcome.withLock { $0 = o } } }
        return outcome.withLock { $0 }
    }

    /// Removes every finished job; `completion` gets how many once committed.
    public func clearFinished(completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        queue.clearFinished(completion: completion)
    }

    /// The synchronous form for the in-memory queue (and tests).
    @discardableResult
    public func clearFinished() -> Int {
        queue.clearFinished()
    }

    /// Applies the retention rule (see `JobQueue.pruneFinished`).
    public func pruneFinished(before: Double?, keep: Int?, completion: @escaping JobQueue.Completion = { _ in }) {
        queue.pruneFinished(before: before, keep: keep, completion: completion)
    }
}
