import CProcess
import Essentials
import Glibc
import Synchronization

/// Runs jobs' processes: one I/O thread drains every child's pipes (epoll),
/// reaps them through pidfds and keeps their deadlines. No thread per child, and
/// nothing here ever waits for a reader: output is read as fast as it comes and
/// handed to the callbacks.
///
/// Each job runs under a small supervisor (`Sources/jobrunner-supervisor`): its
/// own session and process group, stdin `/dev/null`, stdout/stderr/fd 3 pipes,
/// and every process of the job (the supervisor's descendants, wherever they
/// went) killed when the daemon dies or the command ends; its exit, once they
/// are all gone, is the job's end.
public final class ProcessRunner: Sendable {
    /// Seconds between SIGTERM and SIGKILL when a process is stopped.
    public let killGrace: Double
    /// Longest line kept whole; longer ones are split.
    public static let maxLine = 64 * 1024
    /// Bytes of a stream's newest lines one delivery carries at most (the job
    /// log's budget): older ones are let go unread and only counted.
    public let outputBudget: Int
    /// The `jobrunner-supervisor` program every job runs under.
    public let supervisor: String
    /// The daemon's delegated cgroup (v2) directory, in which each job gets a
    /// cgroup of its own; nil where there is none (see `JobCgroup`).
    public let jobCgroup: String?
    /// Whether ends are watched through pidfds (Linux 5.3+); without them an
    /// end shows as EOF on the supervisor's status pipe. False only in tests
    /// of that fallback, or when the kernel refuses `pidfd_open`.
    let pidfds: Bool

    /// `jobrunner-supervisor` next to the running program (jobrunnerd, or the
    /// test runner in the build folder), if it is there and executable.
    public static func findSupervisor() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = exe.lastIndex(of: "/") else { return nil }
        let path = String(exe[..<slash]) + "/jobrunner-supervisor"
        return access(path, X_OK) == 0 ? path : nil
    }
    /// How long the pipes of an exited process may stay open (a daemonised
    /// grandchild holding them) before they are closed.
    static let drainGrace = 2.0

    private let inbox = Mutex(Inbox())
    private let epoll: Int32
    private let wake: Int32

    struct Inbox {
        var starts: [(Int, Command, ProcessEvents)] = []
        var stops: [Int] = []
        var nextID = 1
        var stopping = false
    }

    /// Starts the I/O thread. Throws if the kernel refuses epoll, an eventfd or a thread.
    public convenience init(killGrace: Double = 5, outputBudget: Int = 1 << 20, supervisor: String? = nil) throws(RunnerError) {
        try self.init(killGrace: killGrace, outputBudget: outputBudget, supervisor: supervisor, pidfds: true)
    }

    init(killGrace: Double, outputBudget: Int, supervisor: String?, pidfds: Bool) throws(RunnerError) {
        guard let supervisor = supervisor ?? Self.findSupervisor() else {
            throw RunnerError("cannot find jobrunner-supervisor next to this program (make build builds it; make install installs it beside jobrunnerd)")
        }
        guard access(supervisor, X_OK) == 0 else {
            throw RunnerError("cannot run the job supervisor \(supervisor): \(errnoText())")
        }
        self.killGrace = killGrace
        self.outputBudget = outputBudget
        self.supervisor = supervisor
        self.pidfds = pidfds
        jobCgroup = JobCgroup.delegated()
        if let jobCgroup { JobCgroup.removeLeftovers(jobCgroup) }
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard epoll >= 0, wake >= 0 else { throw RunnerError("cannot create the process runner's event loop: \(errnoText())") }
        var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: 0))
        epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &ev)
        let loop = EventLoop(runner: self, epoll: epoll, wake: wake)
        // The loop's thread forks every job: it lives as long as the daemon, which
        // the children's death signal depends on.
        do {
            try ThreadLauncher.detached(name: "process runner") { loop.run() }
        } catch {
            throw RunnerError("cannot start the process runner's thread: \(error)")
        }
    }

    /// What the supervisor is started with before the command's argv:
    /// `jobrunner-supervisor DAEMON-PID CGROUP DIR PATH` (see its main.c).
    public func supervisorArguments(_ command: Command) -> [String] {
        [supervisor, String(getpid()), jobCgroup ?? "", command.directory ?? "", command.path]
    }

    /// Starts `command`; its output, progress lines and end go to `events`. A
    /// command that cannot start ends with `.couldNotStart`.
    public func start(_ command: Command, events: ProcessEvents) -> ProcessHandle {
        let id = inbox.withLock { i in
            defer { i.nextID += 1 }
            i.starts.append((i.nextID, command, events))
            return i.nextID
        }
        poke()
        return ProcessHandle(id: id, runner: self)
    }

    /// SIGTERM to every process of the job, SIGKILL after `killGrace`.
    func stop(_ id: Int) {
        inbox.withLock { $0.stops.append(id) }
        poke()
    }

    func take() -> Inbox {
        inbox.withLock { i in
            defer {
                i.starts = []
                i.stops = []
            }
            return i
        }
    }

    private func poke() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }
}

/// A started process; `terminate` stops it (cancel).
public struct ProcessHandle: Sendable {
    let id: Int
    let runner: ProcessRunner

    /// SIGTERM to every process of the job, then SIGKILL after the grace period.
    public func terminate() {
        runner.stop(id)
    }
}

public struct RunnerError: Error, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

func errnoText() -> String { String(cString: strerror(errno)) }

func monotonic() -> Double { monotonicNow() }
