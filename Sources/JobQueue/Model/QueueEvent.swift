import JSON

/// Something that happened to the queue, published after the change it describes
/// is recorded. `sequence` is the job's own event counter (0 for queue-wide events).
public struct QueueEvent: Sendable {
    public enum Kind: Sendable {
        case created(Job)
        /// `node`: the node that runs it (PostgreSQL), else nil.
        case started(startedAt: Double, node: String?)
        case progress(JobProgress)
        case completed(result: JSONValue, duration: Double)
        case failed(error: String)
        case cancelled
        case cleared(count: Int, ids: [Int64])
        /// A failed attempt; the job waits until `runAt` for attempt `attempt`.
        case retrying(attempt: Int, runAt: Double, error: String)
        /// A failed or cancelled job was put back to pending (`POST .../retry`).
        case retried(Job)
        /// A schedule was created or changed (paused, resumed, fired: its
        /// `lastRunAt`, `lastJobID` and `nextRunAt` moved).
        case scheduleUpdated(Schedule)
        /// A schedule was deleted.
        case scheduleDeleted(name: String)
        /// A named queue's settings changed.
        case queueUpdated(name: String, QueueSettings)
        /// Finished jobs removed by the retention rule: how many, by status.
        case pruned(PruneCounts)
        /// Lines of the job's log (stdout, stderr or the daemon's notes), in
        /// order; the event's `sequence` is the last line's.
        case log([LogLine])
    }

    public let jobID: Int64
    public let sequence: UInt64
    public let kind: Kind
    /// The event's place in the queue's total order of events (1, 2, 3, ...).
    /// A snapshot taken at position P already reflects every event up to P.
    public internal(set) var position: UInt64 = 0

    init(jobID: Int64, sequence: UInt64, kind: Kind) {
        self.jobID = jobID
        self.sequence = sequence
        self.kind = kind
    }

    /// True for events that end a job's life (the final SSE event).
    public var isFinal: Bool {
        switch kind {
        case .completed, .failed, .cancelled: true
        default: false
        }
    }
}

/// What a prune removed, per status.
public struct PruneCounts: Sendable, Equatable {
    public var completed = 0
    public var failed = 0
    public var cancelled = 0
    public var total: Int { completed + failed + cancelled }

    public init(_ removed: [PrunedJob]) {
        for r in removed {
            switch r.status {
            case .completed: completed += 1
            case .failed: failed += 1
            case .cancelled: cancelled += 1
            case .pending, .running: break
            }
        }
    }
}

/// A consistent view of the queue: the jobs, the counters and the position of
/// the last event they reflect.
public struct QueueSnapshot: Sendable {
    /// Sorted by id.
    public let jobs: [Job]
    /// Exact, also when `jobs` is truncated.
    public let stats: QueueStats
    public let position: UInt64
    /// Jobs were left out (pending past the first N, finished past the newest N).
    public let truncated: Bool
}

/// A handle returned by `subscribe`; pass it to `unsubscribe`.
public struct SubscriptionToken: Sendable, Hashable {
    let raw: Int
}
