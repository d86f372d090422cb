/// One run of a job: its attempt number, when it started and the node that ran
/// it. A task reports its progress, log and end for the attempt it was started
/// with; once the job is on another attempt (its node went silent and the job
/// was retried, or it was cancelled and retried here) those reports change
/// nothing, locally or in the store.
public struct JobAttempt: Sendable, Equatable {
    public let id: Int64
    public let number: Int
    public let startedAt: Double?
    public let node: String?

    /// The attempt `job` is on (as it was claimed, for a task).
    public init(_ job: Job) {
        id = job.id
        number = job.attempt
        startedAt = job.startedAt
        node = job.node
    }

    /// Whether `job` is still on this attempt (whatever its status now).
    public func matches(_ job: Job) -> Bool {
        job.id == id && job.attempt == number && job.startedAt == startedAt && job.node == node
    }

    /// What a write for this attempt expects the row to hold: running it still.
    var guardRunning: JobGuard {
        JobGuard(status: .running, node: node, attempt: number, startedAt: startedAt)
    }
}
