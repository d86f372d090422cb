import JSON

/// Where a job is in its life. `pending → running → completed | failed | cancelled`;
/// a pending job may also go straight to `cancelled`.
public enum JobStatus: String, Sendable, CaseIterable {
    case pending, running, completed, failed, cancelled

    /// Completed, failed and cancelled jobs are finished: nothing changes them again.
    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// The progress a job reports: a percentage and a human message.
public struct JobProgress: Sendable, Equatable {
    public var percent: Int
    public var message: String

    public init(percent: Int, message: String) {
        self.percent = percent
        self.message = message
    }

    public static let queued = JobProgress(percent: 0, message: "Queued")
    public static let starting = JobProgress(percent: 0, message: "Starting...")
    public static let complete = JobProgress(percent: 100, message: "Complete")
}

/// One job, as the API shows it (docs/protocol.md). A value: the queue hands out copies.
public struct Job: Sendable, Equatable {
    public let id: Int64
    public let type: String
    public let params: JSONObject
    public var status: JobStatus
    public var progress: JobProgress
    public var result: JSONValue?
    public var error: String?
    public let createdAt: Double
    public var startedAt: Double?
    public var completedAt: Double?
    /// The sequence number of the newest event published about this job.
    public var sequence: UInt64

    public init(id: Int64, type: String, params: JSONObject, createdAt: Double) {
        self.id = id
        self.type = type
        self.params = params
        self.status = .pending
        self.progress = .queued
        self.result = nil
        self.error = nil
        self.createdAt = createdAt
        self.startedAt = nil
        self.completedAt = nil
        self.sequence = 1
    }

    /// Seconds from start to finish, once both are known.
    public var duration: Double? {
        guard let s = startedAt, let c = completedAt else { return nil }
        return c - s
    }
}

/// Counts per status, kept up to date on every transition.
public struct QueueStats: Sendable, Equatable {
    public var pending = 0
    public var running = 0
    public var completed = 0
    public var failed = 0
    public var cancelled = 0
    /// Jobs currently held by the queue (finished ones leave it on clear).
    public var total = 0

    public init() {}

    public subscript(status: JobStatus) -> Int {
        get {
            switch status {
            case .pending: pending
            case .running: running
            case .completed: completed
            case .failed: failed
            case .cancelled: cancelled
            }
        }
        set {
            switch status {
            case .pending: pending = newValue
            case .running: running = newValue
            case .completed: completed = newValue
            case .failed: failed = newValue
            case .cancelled: cancelled = newValue
            }
        }
    }
}
