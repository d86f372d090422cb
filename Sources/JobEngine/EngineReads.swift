import JobQueue

/// Reads of the committed state, events and metrics (forwarded to the queue).
extension JobEngine {
    public var isDurable: Bool { queue.isDurable }

    /// Why the store cannot commit now, or nil while it can (or there is none).
    public var storageFailure: StoreError? { queue.storageFailure }

    public func job(_ id: Int64) -> Job? { queue.job(id) }

    public func list(_ query: JobQuery) throws(StoreError) -> JobPage { try queue.list(query) }

    public func queueStats() -> QueueStats { queue.stats() }

    /// Turns the job metrics on (see `JobQueue.enableMetrics`).
    public func enableMetrics(maxQueues: Int = 100) { queue.enableMetrics(maxQueues: maxQueues) }

    /// The store's commit figures (nil in memory).
    public var storeMetrics: StoreMetrics? { queue.storeMetrics }

    /// The job metrics, or nil while they are off.
    public func metrics() -> QueueMetricsSnapshot? { queue.metrics() }

    /// Bytes of log kept per job.
    public var maxLogBytes: Int { queue.maxLogBytes }

    /// A job's log after `seq` (committed), or nil for an unknown job.
    public func log(_ id: Int64, after seq: UInt64 = 0, limit: Int? = nil) throws(StoreError) -> JobLog? { try queue.log(id, after: seq, limit: limit) }

    /// What a live client starts from (see `JobQueue.snapshot`).
    public func snapshot(pendingLimit: Int = 1000, finishedLimit: Int = 1000) -> QueueSnapshot {
        queue.snapshot(pendingLimit: pendingLimit, finishedLimit: finishedLimit)
    }

    public func subscribe(_ handler: @escaping JobQueue.Subscriber) -> SubscriptionToken { queue.subscribe(handler) }

    public func unsubscribe(_ token: SubscriptionToken) { queue.unsubscribe(token) }

    /// Runs `completion` once everything changed so far is committed and published.
    public func whenDurable(_ completion: @escaping JobQueue.Completion) { queue.whenDurable(completion) }
}
