import JSON

/// Something that happened to the queue, published after the change it describes
/// is recorded. `sequence` is the job's own event counter (0 for queue-wide events).
public struct QueueEvent: Sendable {
    public enum Kind: Sendable {
        case created(Job)
        case started(startedAt: Double)
        case progress(JobProgress)
        case completed(result: JSONValue, duration: Double)
        case failed(error: String)
        case cancelled
        case cleared(count: Int, ids: [Int64])
    }

    public let jobID: Int64
    public let sequence: UInt64
    public let kind: Kind

    /// True for events that end a job's life (the final SSE event).
    public var isFinal: Bool {
        switch kind {
        case .completed, .failed, .cancelled: true
        default: false
        }
    }
}

/// A handle returned by `subscribe`; pass it to `unsubscribe`.
public struct SubscriptionToken: Sendable, Hashable {
    let raw: Int
}
