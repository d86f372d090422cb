/// A program to run as a job: no shell, argv as given.
public struct Command: Sendable, Equatable {
    /// Absolute path of the executable.
    public var path: String
    /// argv, `argv[0]` included.
    public var arguments: [String]
    /// The whole environment, `NAME=value` each.
    public var environment: [String]
    /// Working directory; nil keeps the daemon's.
    public var directory: String?
    /// Seconds before the process is stopped as timed out; nil for none.
    public var timeout: Double?

    public init(path: String, arguments: [String], environment: [String], directory: String? = nil, timeout: Double? = nil) {
        self.path = path
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.timeout = timeout
    }
}

/// Which output a log line came from.
public enum OutputStream: String, Sendable {
    case stdout, stderr
}

/// How a process ended.
public enum ProcessEnd: Sendable, Equatable {
    /// The command exited with this status.
    case exited(Int32)
    /// The command was killed by this signal.
    case signaled(Int32)
    /// It could not be started (the reason is for users).
    case couldNotStart(String)
}

/// Why the daemon stopped a process (nil: it ended by itself).
public enum StopReason: Sendable, Equatable {
    case timedOut
    case terminated
}

/// What a running process reports. Every callback runs on the runner's I/O
/// thread, in order for one process; keep them quick (hand the data on).
public struct ProcessEvents: Sendable {
    /// Complete lines of stdout or stderr (a line longer than the limit is
    /// split), and how many lines before them were let go unread (past the
    /// runner's output budget between two deliveries).
    public var output: @Sendable (OutputStream, [String], Int) -> Void
    /// Complete lines written to fd 3 (the progress protocol; parsed by the caller).
    public var progress: @Sendable ([String]) -> Void
    /// The end, once the process is gone and its pipes are drained.
    public var ended: @Sendable (ProcessEnd, StopReason?) -> Void

    public init(output: @escaping @Sendable (OutputStream, [String], Int) -> Void,
                progress: @escaping @Sendable ([String]) -> Void,
                ended: @escaping @Sendable (ProcessEnd, StopReason?) -> Void) {
        self.output = output
        self.progress = progress
        self.ended = ended
    }
}

/// Signal names for error messages (`Killed by signal 9 (SIGKILL)`).
public func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
        9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
        24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS",
    ]
    return names[signal] ?? "SIG\(signal)"
}
