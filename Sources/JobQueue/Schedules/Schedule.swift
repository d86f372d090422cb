import JSON

/// A cron schedule that creates jobs. The cron arithmetic lives outside the
/// queue (the engine hands in `ScheduleClock.next`); the queue fires due
/// schedules from its one timer and commits each firing with its job.
public struct Schedule: Sendable, Equatable {
    /// What a due slot does when the schedule's previous job is still pending or running.
    public enum Overlap: String, Sendable, CaseIterable {
        /// No new job; the slot is skipped.
        case skip
        /// A new job anyway.
        case allow
        /// The previous job is cancelled, then a new one is made.
        case cancelPrevious = "cancel_previous"
    }

    /// What happens to slots missed while the daemon was down.
    public enum CatchUp: String, Sendable, CaseIterable {
        /// They are skipped; the next slot comes at its time.
        case none
        /// One job is made at once for the latest missed slot.
        case latest
    }

    public var name: String
    public var cron: String
    public var timezone: String
    public var jobType: String
    /// Validated params, as a job of the type gets them.
    public var params: JSONObject
    /// The options of its jobs as given (shown back), and as they apply (with the
    /// type's defaults).
    public var options: JSONObject
    public var jobOptions: JobOptions
    public var overlap: Overlap = .skip
    public var catchUp: CatchUp = .none
    public var paused = false
    public var nextRunAt: Double?
    public var lastRunAt: Double?
    public var lastJobID: Int64?
    public var createdAt: Double
    /// A human reading of `cron` ("at 03:30 every day"), set by whoever parsed it.
    public var reading: String?

    public init(name: String, cron: String, timezone: String, jobType: String, params: JSONObject,
                options: JSONObject = [:], jobOptions: JobOptions = JobOptions(), createdAt: Double) {
        self.jobOptions = jobOptions
        self.name = name
        self.cron = cron
        self.timezone = timezone
        self.jobType = jobType
        self.params = params
        self.options = options
        self.createdAt = createdAt
    }
}

/// The cron arithmetic the queue asks for: the first slot strictly after a time.
public typealias NextSlot = @Sendable (Schedule, Double) -> Double?
