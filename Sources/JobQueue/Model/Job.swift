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
    /// The named queue it waits in (`default` unless given).
    public var queue: String = "default"
    /// Higher runs first; FIFO within a priority (-100...100).
    public var priority: Int = 0
    /// When a pending job may start (epoch seconds); nil: as soon as a slot frees.
    public var runAt: Double?
    /// Which attempt this is (1-based) and how many it may take.
    public var attempt: Int = 1
    public var maxAttempts: Int = 1
    /// Seconds an attempt may run before it is stopped and fails as timed out.
    public var timeout: Double?
    /// Delays between attempts.
    public var backoff = Backoff()
    /// A client's key: while this job exists, the same key returns it.
    public var idempotencyKey: String?
    /// One entry per failed attempt.
    public var errors: [AttemptError] = []
    /// The schedule that made it, if one did.
    public var schedule: String?
    /// The node that runs it, or ran its last attempt (a store shared by several
    /// daemons only; nil elsewhere and before it first starts).
    public var node: String?

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

    /// The params as the store keeps them (JSON text): what a search reads.
    public var paramsText: String { JSONValue.object(params).jsonString }
}

/// How long to wait before the next attempt: exponential from `initial`
/// seconds, doubling per attempt, capped at `max`, with full jitter in the upper
/// half (so retries of many jobs spread out).
public struct Backoff: Sendable, Equatable {
    public var initial: Double = 1
    public var max: Double = 3600

    public init(initial: Double = 1, max: Double = 3600) {
        self.initial = initial
        self.max = max
    }

    /// The delay after failed attempt `attempt` (1-based); `random` in 0..<1.
    public func delay(after attempt: Int, random: Double) -> Double {
        let base = Swift.min(max, initial * Double(1 << Swift.min(attempt - 1, 40)))
        return base / 2 + base / 2 * random
    }
}

/// The error of one failed attempt.
public struct AttemptError: Sendable, Equatable {
    public let attempt: Int
    public let error: String
    public let at: Double

    public init(attempt: Int, error: String, at: Double) {
        self.attempt = attempt
        self.error = error
        self.at = at
    }
}

/// What a submission may set besides type and params (each nil: the job type's
/// default, else the queue's default).
public struct JobOptions: Sendable, Equatable {
    public var queue: String?
    public var priority: Int?
    public var runAt: Double?
    public var timeout: Double?
    public var maxAttempts: Int?
    public var backoff: Backoff?
    public var idempotencyKey: String?

    public init() {}
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
