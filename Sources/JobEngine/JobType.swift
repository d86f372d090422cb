import JSON
import JobQueue

/// A kind of job the engine can run. Register new types with a `JobRegistry`;
/// the engine itself never names a type.
public protocol JobType: Sendable {
    var name: String { get }
    var description: String { get }
    /// Declared params, in validation order.
    var parameters: [ParameterSpec] { get }
    /// Does the work. `params` are validated and normalised (defaults filled in).
    /// Throw `JobFailure` for a failure with a message meant for users; stop at the
    /// next `Task.checkCancellation()` / `Task.sleep` once cancelled.
    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue
    /// Options its jobs get unless a submission sets them (queue, priority,
    /// timeout, attempts, backoff) and its own concurrency limit.
    var defaults: JobDefaults { get }
}

extension JobType {
    public var defaults: JobDefaults { JobDefaults() }
}

/// What a running job can do besides its work: report progress, write its log.
public struct JobContext: Sendable {
    public let jobID: Int64
    private let reporter: @Sendable (Int, String) -> Void
    private let logger: @Sendable (LogStream, [String], Int) -> Void

    public init(jobID: Int64, reporter: @escaping @Sendable (Int, String) -> Void,
                logger: @escaping @Sendable (LogStream, [String], Int) -> Void = { _, _, _ in }) {
        self.jobID = jobID
        self.reporter = reporter
        self.logger = logger
    }

    public func progress(_ percent: Int, _ message: String) {
        reporter(percent, message)
    }

    /// Appends lines to the job's log (kept, bounded, and streamed to watchers);
    /// `dropped` counts lines before these that were let go on the way.
    public func log(_ stream: LogStream, _ lines: [String], dropped: Int = 0) {
        logger(stream, lines, dropped)
    }
}

/// A job's failure with a message shown to users as the job's `error`.
public struct JobFailure: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// The job types the daemon knows, in registration order (the order `/api/job-types` lists).
public struct JobRegistry: Sendable {
    public private(set) var types: [any JobType] = []

    public init(_ types: [any JobType] = []) {
        for t in types { register(t) }
    }

    /// The four built-in types.
    public static var builtIn: JobRegistry {
        JobRegistry([CountdownJob(), PrimeJob(), FibonacciJob(), EchoJob()])
    }

    /// Adds a type; a later type with the same name replaces the earlier one.
    public mutating func register(_ type: any JobType) {
        if let i = types.firstIndex(where: { $0.name == type.name }) {
            types[i] = type
        } else {
            types.append(type)
        }
    }

    public func type(named name: String) -> (any JobType)? {
        types.first { $0.name == name }
    }
}
