import CProcess
import Glibc
import HTTPTestSupport
@testable import ProcessRunner
import Synchronization
import Testing

/// What one process reported, collected in order.
final class Recording: Sendable {
    struct Seen {
        var stdout: [String] = []
        var stderr: [String] = []
        var progress: [String] = []
        /// Lines the runner let go before delivering, stdout and stderr.
        var dropped = [0, 0]
        var end: (ProcessEnd, StopReason?)?
        /// How many times the end was reported (once, always).
        var ends = 0
    }

    let seen = Mutex(Seen())
    private let done = AsyncStream<Void>.makeStream()
    /// Called with every stdout line as it arrives.
    let onLine: (@Sendable (String) -> Void)?

    init(onLine: (@Sendable (String) -> Void)? = nil) { self.onLine = onLine }

    var events: ProcessEvents {
        ProcessEvents(
            output: { stream, lines, dropped in
                self.seen.withLock { s in
                    s.dropped[stream == .stdout ? 0 : 1] += dropped
                    if stream == .stdout { s.stdout += lines } else { s.stderr += lines }
                }
                if stream == .stdout, let onLine = self.onLine { lines.forEach(onLine) }
            },
            progress: { lines in self.seen.withLock { $0.progress += lines } },
            ended: { end, reason in
                self.seen.withLock {
                    $0.end = (end, reason)
                    $0.ends += 1
                }
                self.done.continuation.yield()
            })
    }

    func finished() async -> Seen {
        for await _ in done.stream { break }
        return seen.withLock { $0 }
    }
}

func sh(_ script: String, timeout: Double? = nil) -> Command {
    Command(path: "/bin/sh", arguments: ["sh", "-c", script], environment: ["PATH=/usr/bin:/bin"], timeout: timeout)
}

/// Gone (or a zombie its new parent has not reaped yet), or going: a process
/// that was killed closes its descriptors a moment before it is marked dead, so
/// wait (up to 5 s) for its pidfd to say it exited. It blocks: call it `offPool`.
func dead(_ pid: pid_t) -> Bool {
    let fd = cprocess_pidfd_open(pid)
    guard fd >= 0 else { return kill(pid, 0) != 0 || isZombie(pid) }
    defer { close(fd) }
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&p, 1, 5000) == 1
}

@Suite(.timeLimit(.minutes(10))) struct ProcessRunnerTests {
    let runner = try! ProcessRunner(killGrace: 0.5)

    @Test func outputLinesAndExitStatus() async {
        let r = Recording()
        _ = runner.start(sh("echo one; echo two >&2; printf 'no newline'; exit 3"), events: r.events)
        let seen = await r.finished()
        #expect(seen.stdout == ["one", "no newline"])
        #expect(seen.stderr == ["two"])
        #expect(seen.end?.0 == .exited(3))
        #expect(seen.end?.1 == nil)
    }

    @Test func argumentsArriveVerbatimWithNoShell() async {
        let hostile = ["; rm -rf /", "$(id)", "a\nb", "-n", "`true`", "'\"", ""]
        let r = Recording()
        _ = runner.start(Command(path: "/usr/bin/printf", arguments: ["printf", "[%s]\\n"] + hostile, environment: []), events: r.events)
        let seen = await r.finished()
        #expect(seen.stdout == ["[; rm -rf /]", "[$(id)]", "[a", "b]", "[-n]", "[`true`]", "['\"]", "[]"])
        #expect(seen.end?.0 == .exited(0))
    }

    @Test func environmentStdinAndDirectoryAreTheJobs() async {
        let r = Recording()
        var command = sh("echo \"$ONLY\"; env | wc -l; cat; pwd")
        command.environment = ["ONLY=this", "PATH=/usr/bin:/bin"]
        command.directory = "/tmp"
        _ = runner.start(command, events: r.events)
        let seen = await r.finished()
        // sh adds PWD (and may add SHLVL, _): nothing of the daemon's environment.
        #expect(seen.stdout.first == "this")
        #expect((Int(seen.stdout[1].trimmingCharacters(in: " ")) ?? 99) <= 5)
        #expect(seen.stdout.last == "/tmp")
        #expect(seen.end?.0 == .exited(0))
    }

    @Test func killedBySignal() async {
        let r = Recording()
        _ = runner.start(sh("kill -SEGV $$"), events: r.events)
        #expect(await r.finished().end?.0 == .signaled(SIGSEGV))
    }

    @Test func progressLinesComeFromFD3() async {
        let r = Recording()
        _ = runner.start(sh("echo '{\"progress\": 50}' >&3; echo out; echo '{\"result\": {\"n\": 1}}' >&3"), events: r.events)
        let seen = await r.finished()
        #expect(seen.progress == ["{\"progress\": 50}", "{\"result\": {\"n\": 1}}"])
        #expect(seen.stdout == ["out"])
    }

    @Test func timeoutStopsTheGroupWithSIGTERM() async {
        let r = Recording()
        let start = monotonicSeconds()
        _ = runner.start(sh("sleep 300", timeout: 0.2), events: r.events)
        let seen = await r.finished()
        #expect(seen.end?.1 == .timedOut)
        #expect(seen.end?.0 == .signaled(SIGTERM))
        // Long before the command's own end, however loaded the machine.
        #expect(monotonicSeconds() - start < 60)
    }

    /// A stop that comes as the job starts (before its command exists) still
    /// reaches the command: SIGTERM, not SIGKILL after the grace period. The grace
    /// is long, so only a SIGTERM that was lost ends in SIGKILL, however slow the
    /// machine (without the supervisor passing it on, most of these lost it).
    @Test func aTimeoutAsTheJobStartsStillEndsItWithSIGTERM() async throws {
        let patient = try ProcessRunner(killGrace: 10)
        for _ in 0..<5 {
            let r = Recording()
            _ = patient.start(sh("sleep 30", timeout: 0.0005), events: r.events)
            let seen = await r.finished()
            #expect(seen.end?.1 == .timedOut)
            #expect(seen.end?.0 == .signaled(SIGTERM))
        }
    }

    @Test func terminateKillsTheWholeGroupAndSIGKILLFollowsWhenIgnored() async throws {
        let pids = Mutex<[pid_t]>([])
        let started = AsyncStream<Void>.makeStream()
        let r = Recording { line in
            if let p = pid_t(line) {
                pids.withLock { $0.append(p) }
                started.continuation.yield()
            }
        }
        // Ignores SIGTERM, and so does its background child.
        let handle = runner.start(sh("trap '' TERM; sleep 100 & echo $!; sleep 100"), events: r.events)
        for await _ in started.stream { break }
        handle.terminate()
        let seen = await r.finished()
        #expect(seen.end?.1 == .terminated)
        #expect(seen.end?.0 == .signaled(SIGKILL))
        // Its stdout closed before the end was reported, so it is dead already.
        let pid = pids.withLock { $0[0] }
        #expect(try await offPool { dead(pid) })
    }

    @Test func backgroundProcessesEndWithTheJob() async throws {
        let r = Recording()
        _ = runner.start(sh("sleep 100 & echo $!"), events: r.events)
        let seen = await r.finished()
        #expect(seen.end?.0 == .exited(0))
        let pid = pid_t(seen.stdout.first ?? "") ?? 0
        #expect(pid > 0)
        // Killed by the supervisor; it held stdout, so the end (reported once the
        // pipes closed) means it is dead already.
        #expect(try await offPool { dead(pid) })
    }

    /// `setsid` leaves the job's process group and session: the supervisor, a
    /// child subreaper, kills it all the same, and the job ends only after.
    @Test(.timeLimit(.minutes(1))) func aProcessThatLeftTheGroupEndsWithTheJob() async throws {
        let r = Recording()
        _ = runner.start(sh("setsid sleep 100 & echo $!"), events: r.events)
        let seen = await r.finished()
        #expect(seen.end?.0 == .exited(0))
        let pid = pid_t(seen.stdout.first ?? "") ?? 0
        #expect(pid > 0 && kill(pid, 0) != 0)
    }

    /// After a stop, what the command leaves behind outside its group gets the
    /// rest of the kill grace, then SIGKILL; without pidfds the end waits for
    /// that too (the status pipe stays open until the supervisor exits).
    @Test(.timeLimit(.minutes(1)), arguments: [true, false])
    func aStoppedJobsProcessThatLeftTheGroupAndIgnoresSIGTERMIsKilled(pidfds: Bool) async throws {
        let runner = try ProcessRunner(killGrace: 0.5, outputBudget: 1 << 20, supervisor: nil, pidfds: pidfds)
        let r = Recording()
        _ = runner.start(sh("setsid sh -c 'trap \"\" TERM; sleep 100' & echo $!; exec sleep 30", timeout: 0.3), events: r.events)
        let seen = await r.finished()
        #expect(seen.end?.0 == .signaled(SIGTERM) && seen.end?.1 == .timedOut)
        let pid = pid_t(seen.stdout.first ?? "") ?? 0
        #expect(pid > 0 && kill(pid, 0) != 0)
        #expect(seen.ends == 1)
    }

    @Test func aChattyJobIsDrainedCompletely() async {
        let r = Recording()
        _ = runner.start(sh("seq 1 200000; seq 1 1000 >&2"), events: r.events)
        let seen = await r.finished()
        // Past the budget between two deliveries the oldest lines may go, counted.
        #expect(seen.stdout.count + seen.dropped[0] == 200_000)
        #expect(seen.stdout.last == "200000")
        #expect(seen.stdout.count >= 100_000)
        #expect(seen.stderr.count == 1000)
    }

    @Test func aFloodKeepsTheNewestLinesInOrderAndCountsTheRest() async throws {
        let small = try ProcessRunner(killGrace: 0.5, outputBudget: 128 * 1024)
        let r = Recording()
        // About 48 MB: far more than one delivery's budget.
        _ = small.start(sh("seq 1 6000000"), events: r.events)
        let seen = await r.finished()
        #expect(seen.stdout.count + seen.dropped[0] == 6_000_000)
        #expect(seen.stdout.last == "6000000")
        #expect(seen.dropped[0] > 0)
        let numbers = seen.stdout.compactMap { Int($0) }
        #expect(numbers.count == seen.stdout.count)
        #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func aLongLineIsSplit() async {
        let r = Recording()
        _ = runner.start(sh("head -c 150000 /dev/zero | tr '\\0' x; echo"), events: r.events)
        let seen = await r.finished()
        #expect(seen.stdout.map(\.count) == [65536, 65536, 18928])
    }

    @Test func aMissingProgramCannotStartWithTheErrnoText() async {
        let r = Recording()
        _ = runner.start(Command(path: "/nonexistent/program", arguments: ["x"], environment: []), events: r.events)
        let seen = await r.finished()
        #expect(seen.end?.0 == .couldNotStart("Cannot start /nonexistent/program: No such file or directory"))
        let notExecutable = Recording()
        _ = runner.start(Command(path: "/etc/passwd", arguments: ["x"], environment: []), events: notExecutable.events)
        #expect(await notExecutable.finished().end?.0 == .couldNotStart("Cannot start /etc/passwd: Permission denied"))
    }

    /// The system's "Argument list too long" names the program, not the
    /// supervisor's install path (nothing a user can change).
    @Test(.timeLimit(.minutes(1))) func anArgumentTooLongNamesTheProgram() async {
        let r = Recording()
        _ = runner.start(Command(path: "/bin/echo", arguments: ["echo", String(repeating: "a", count: 200_000)], environment: []), events: r.events)
        let end = await r.finished().end
        #expect(end?.0 == .couldNotStart("Cannot start /bin/echo: its arguments and environment are more than the system allows (Argument list too long)"))
    }

    @Test func aMissingWorkingDirectoryCannotStart() async {
        let r = Recording()
        _ = runner.start(Command(path: "/bin/true", arguments: ["true"], environment: [], directory: "/nonexistent/dir"), events: r.events)
        let end = await r.finished().end?.0
        #expect(end == .couldNotStart("Cannot start /bin/true: cannot enter the working directory /nonexistent/dir (No such file or directory)"))
    }

    @Test func pipesLandOnTheRightDescriptorsWhenTheDaemonHasManyOpen() async throws {
        // The job's pipes get descriptor numbers past 1,000, as in a daemon with
        // many connections: moving them into place as 1-4 must not mix them up.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = max(limit.rlim_cur, min(limit.rlim_max, 4096))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_cur >= 2048)
        var fillers: [Int32] = []
        defer { for fd in fillers { close(fd) } }
        // Filled up to 995, the eight pipe ends take 996-1003.
        while (fillers.last ?? -1) < 995 {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            try #require(fd >= 0)
            fillers.append(fd)
        }
        let r = Recording()
        _ = runner.start(sh(#"echo out; echo err >&2; echo '{"progress": 50}' >&3"#), events: r.events)
        let seen = await r.finished()
        #expect(seen.stdout == ["out"])
        #expect(seen.stderr == ["err"])
        #expect(seen.progress == [#"{"progress": 50}"#])
        // A pipe that lost its reader ends the job with SIGPIPE instead.
        #expect(seen.end?.0 == .exited(0))
    }

    /// Without pidfds (kernels before 5.3) an end shows as EOF on the status
    /// pipe: each job still ends once, with its status, output and stop reason.
    @Test func withoutPidfdsEachJobEndsOnceWithItsStatus() async throws {
        let old = try ProcessRunner(killGrace: 0.5, outputBudget: 1 << 20, supervisor: nil, pidfds: false)
        // Which of a job's pipes reaches EOF last varies: 20 jobs see most orders.
        var quick: [Recording] = []
        for i in 0..<20 {
            let r = Recording()
            _ = old.start(sh("echo out \(i); echo err >&2; exit 4"), events: r.events)
            quick.append(r)
        }
        for (i, r) in quick.enumerated() {
            let seen = await r.finished()
            #expect(seen.stdout == ["out \(i)"] && seen.stderr == ["err"])
            #expect(seen.end?.0 == .exited(4))
        }
        let stopped = Recording()
        _ = old.start(sh("exec sleep 30", timeout: 0.2), events: stopped.events)
        let end = await stopped.finished().end
        #expect(end?.0 == .signaled(SIGTERM) && end?.1 == .timedOut)
        // One I/O thread: a second report of the first job would have come before this one.
        #expect(quick.map { $0.seen.withLock { $0.ends } } == Array(repeating: 1, count: 20))
        #expect(stopped.seen.withLock { $0.ends } == 1)
    }

    @Test func aMissingSupervisorIsRefusedAtStart() {
        #expect(ProcessRunner.findSupervisor() != nil)
        do {
            _ = try ProcessRunner(supervisor: "/nonexistent/jobrunner-supervisor")
            Issue.record("a runner without its supervisor started")
        } catch {
            #expect(error.message.hasPrefix("cannot run the job supervisor /nonexistent/jobrunner-supervisor: No such file"))
        }
    }

    @Test func signalNames() {
        #expect(signalName(9) == "SIGKILL")
        #expect(signalName(15) == "SIGTERM")
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A process that died but was not reaped yet by its new parent.
func isZombie(_ pid: pid_t) -> Bool {
    guard let f = fopen("/proc/\(pid)/stat", "r") else { return false }
    defer { fclose(f) }
    var buffer = [CChar](repeating: 0, count: 512)
    guard fgets(&buffer, 512, f) != nil else { return false }
    let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let close = line.lastIndex(of: ")") else { return false }
    return line[line.index(close, offsetBy: 2)] == "Z"
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
