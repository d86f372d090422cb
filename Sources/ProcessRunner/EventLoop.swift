import CProcess
import Glibc

/// The runner's I/O thread: spawns, drains pipes, reaps, keeps deadlines.
///
/// `@unchecked Sendable`: created on the thread that starts the runner and handed
/// to the new thread once; from then on only that thread touches it. Other
/// threads talk to it through the runner's `inbox` (a Mutex) and the eventfd.
final class EventLoop: @unchecked Sendable {
    private unowned let runner: ProcessRunner
    private let epoll: Int32
    private let wake: Int32
    private var children: [Int: Child] = [:]

    /// Set when a wake-up read a flood's worth from a pipe that holds far more:
    /// the next wait starts after a short pause.
    private var floodRead = false
    static let floodPauseMicroseconds: UInt32 = 200
    /// Bytes one wake-up must read from a pipe for the pause, and the pipe size
    /// it needs (at 3 GB/s, 1 MiB fills in ~330 µs; 64 KiB would stall the job).
    static let floodReadBytes = 64 * 1024
    static let floodPipeBytes: Int32 = 1 << 20

    private enum Slot: UInt64 {
        case stdout = 0, stderr = 1, progress = 2, status = 3, pidfd = 4
    }

    init(runner: ProcessRunner, epoll: Int32, wake: Int32) {
        self.runner = runner
        self.epoll = epoll
        self.wake = wake
    }

    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            if floodRead {
                // A job writing as fast as it can wakes this thread for each of
                // its writes (8 KiB for `head`): ~100,000 wake-ups a gigabyte,
                // each a context switch on both sides. Letting its large pipe fill
                // a moment reads the same bytes in ~1,500 wake-ups, and its
                // writes stop waking anyone (the pipe is never empty): 0.62-0.75
                // s -> 0.53-0.57 s a gigabyte for a C reader on 2 cores. The
                // pause is far shorter than the pipe takes to fill.
                floodRead = false
                usleep(Self.floodPauseMicroseconds)
            }
            let n = epoll_wait(epoll, &events, Int32(events.count), nextTimeout())
            if n < 0 && errno != EINTR { return }
            for i in 0..<max(0, Int(n)) {
                let data = events[i].data.u64
                if data == 0 {
                    var count: UInt64 = 0
                    _ = read(wake, &count, 8)
                    takeRequests()
                    continue
                }
                guard let child = children[Int(data >> 3)], let slot = Slot(rawValue: data & 7) else { continue }
                if slot == .pidfd { reap(child) } else { drain(child, slot, &chunk) }
            }
            keepDeadlines()
        }
    }

    // MARK: Requests

    private func takeRequests() {
        let inbox = runner.take()
        for (id, command, events) in inbox.starts { spawn(id, command, events) }
        for id in inbox.stops {
            guard let child = children[id] else { continue }
            stop(child, .terminated)
        }
    }

    private func spawn(_ id: Int, _ command: Command, _ events: ProcessEvents) {
        var pipes: [(read: Int32, write: Int32)] = []
        for _ in 0..<4 {
            var fds: [Int32] = [-1, -1]
            guard cprocess_pipe(&fds) == 0 else {
                let reason = errnoText()
                for p in pipes { close(p.read); close(p.write) }
                events.ended(.couldNotStart("cannot create a pipe: \(reason)"), nil)
                return
            }
            pipes.append((fds[0], fds[1]))
        }
        // The supervisor program runs the command (Sources/jobrunner-supervisor/main.c).
        let argv = CStrings(runner.supervisorArguments(command) + command.arguments)
        let envp = CStrings(command.environment)
        let pid = argv.withPointers { a in
            envp.withPointers { e in
                cprocess_spawn_supervisor(runner.supervisor, a, e, pipes[0].write, pipes[1].write, pipes[2].write, pipes[3].write)
            }
        }
        for p in pipes { close(p.write) }
        guard pid > 0 else {
            for p in pipes { close(p.read) }
            events.ended(.couldNotStart(Self.spawnFailure(command, runner.supervisor, -pid)), nil)
            return
        }
        let pidfd = runner.pidfds ? cprocess_pidfd_open(pid) : -1
        let child = Child(id: id, pid: pid, pidfd: pidfd, pipes: pipes.map(\.read), events: events, command: command,
                          outputBudget: runner.outputBudget)
        children[id] = child
        for (slot, fd) in child.pipes.enumerated() {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            // A chatty job fills a 64 KiB pipe in microseconds; 1 MiB means
            // fewer wake-ups for both sides (the kernel may grant less).
            if slot < 2 { child.pipeSizes[slot] = max(0, fcntl(fd, 1031 /* F_SETPIPE_SZ */, Self.floodPipeBytes)) }
            watch(fd, id, Slot(rawValue: UInt64(slot))!)
        }
        if pidfd >= 0 {
            watch(pidfd, id, .pidfd)
        } else {
            // No pidfd (old kernel): the end shows as EOF on the status pipe; reap then.
            child.reapOnStatusEOF = true
        }
        if let timeout = command.timeout { child.timeoutAt = monotonic() + timeout }
    }

    /// Why a job's supervisor did not start, for users: the arguments and
    /// environment the job would get, or the supervisor (an installation problem).
    static func spawnFailure(_ command: Command, _ supervisor: String, _ error: Int32) -> String {
        if error == E2BIG {
            return "Cannot start \(command.path): its arguments and environment are more than the system allows (\(String(cString: strerror(error))))"
        }
        return "Cannot start the job supervisor \(supervisor): \(String(cString: strerror(error)))"
    }

    private func watch(_ fd: Int32, _ id: Int, _ slot: Slot) {
        var ev = epoll_event(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, data: epoll_data_t(u64: UInt64(id) << 3 | slot.rawValue))
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev)
    }

    // MARK: Output

    /// Reads what is there (bounded per wake-up so one chatty job cannot starve
    /// the others; level-triggered epoll brings us back). Output waits in the
    /// child's buffers and goes out at most every `deliveryInterval`: at once
    /// when the job has been quiet, else at the end of the interval.
    private func drain(_ child: Child, _ slot: Slot, _ chunk: inout [UInt8]) {
        let index = Int(slot.rawValue)
        let fd = child.pipes[index]
        guard fd >= 0 else { return }
        var lines: [String] = []
        var total = 0
        defer {
            if index < 2 && total >= Self.floodReadBytes && child.pipeSizes[index] >= Self.floodPipeBytes { floodRead = true }
        }
        for _ in 0..<16 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                total += n
                switch slot {
                case .status: child.status.append(contentsOf: chunk[0..<n])
                case .progress: lines += child.progressLines.feed(chunk[0..<n])
                default: chunk.withUnsafeBytes { child.outputs[index].append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                }
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { break }
            if !lines.isEmpty { child.events.progress(lines) }
            lines = []
            closePipe(child, index)
            if slot == .status && child.reapOnStatusEOF { reap(child) }
            finishIfDone(child)
            return
        }
        if !lines.isEmpty { child.events.progress(lines) }
        if index < 2 { outputArrived(child) }
    }

    /// Seconds between two deliveries of a job's output: a job writing a
    /// gigabyte is read at full speed and cut into lines ~50 times a second.
    static let deliveryInterval = 0.02
    /// After a delivery that had to let lines go (a job writing more than its
    /// log keeps, faster than anyone can read it), the next waits longer: its
    /// watchers see the newest lines four times a second, and the store writes
    /// a budget's worth of lines that often instead of fifty times.
    static let floodInterval = 0.25

    private func outputArrived(_ child: Child) {
        let now = monotonic()
        if now >= child.nextDelivery {
            deliverOutput(child, now)
        } else if child.flushAt == nil {
            child.flushAt = child.nextDelivery
        }
    }

    private func deliverOutput(_ child: Child, _ now: Double) {
        child.flushAt = nil
        var delivered = false
        var flooded = false
        for index in 0..<2 where child.pipes[index] >= 0 && child.outputs[index].hasLines() {
            let (lines, dropped) = child.outputs[index].take(final: false)
            child.events.output(index == 0 ? .stdout : .stderr, lines, dropped)
            delivered = true
            flooded = flooded || dropped > 0
        }
        if delivered { child.nextDelivery = now + (flooded ? Self.floodInterval : Self.deliveryInterval) }
    }

    private func closePipe(_ child: Child, _ index: Int) {
        let fd = child.pipes[index]
        guard fd >= 0 else { return }
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        close(fd)
        child.pipes[index] = -1
        switch index {
        case 0, 1:
            guard !child.outputs[index].isEmpty else { return }
            let (lines, dropped) = child.outputs[index].take(final: true)
            child.events.output(index == 0 ? .stdout : .stderr, lines, dropped)
        case 2:
            let rest = child.progressLines.flush()
            if !rest.isEmpty { child.events.progress(rest) }
        default:
            break
        }
    }

    // MARK: The end

    private func reap(_ child: Child) {
        var status: Int32 = 0
        // Without a pidfd the end shows as EOF on the status pipe, which the
        // supervisor closes only as it exits: wait for that exit.
        var r: pid_t
        repeat { r = waitpid(child.pid, &status, child.reapOnStatusEOF ? 0 : WNOHANG) } while r < 0 && errno == EINTR
        guard r == child.pid else { return }
        if let cgroup = runner.jobCgroup { JobCgroup.removeLeftover(cgroup, daemon: getpid(), supervisor: child.pid) }
        child.exit = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        child.killAt = nil
        child.timeoutAt = nil
        if child.pidfd >= 0 {
            epoll_ctl(epoll, EPOLL_CTL_DEL, child.pidfd, nil)
            close(child.pidfd)
            child.pidfd = -1
        }
        child.drainUntil = monotonic() + ProcessRunner.drainGrace
        finishIfDone(child)
    }

    private func finishIfDone(_ child: Child, force: Bool = false) {
        // Once only: a reap on the status pipe's EOF finishes it before that drain returns.
        guard let exit = child.exit, children[child.id] === child else { return }
        if !force && child.pipes.contains(where: { $0 >= 0 }) { return }
        for i in 0..<4 { closePipe(child, i) }
        children[child.id] = nil
        child.events.ended(child.reported ?? exit, child.reason)
    }

    private func stop(_ child: Child, _ reason: StopReason) {
        guard child.exit == nil, child.killAt == nil else { return }
        if child.reason == nil { child.reason = reason }
        // To the group; the supervisor passes it on to the job's processes
        // that left it.
        kill(-child.pid, SIGTERM)
        child.killAt = monotonic() + runner.killGrace
        child.timeoutAt = nil
    }

    private func keepDeadlines() {
        let now = monotonic()
        for child in Array(children.values) {
            if let t = child.timeoutAt, now >= t { stop(child, .timedOut) }
            if let k = child.killAt, now >= k {
                // The grace is over: the supervisor kills every process of the
                // job (its group, and those that left it) and exits once they
                // are gone, which ends the job.
                kill(child.pid, SIGUSR2)
                child.killAt = nil
            }
            if let f = child.flushAt, now >= f { deliverOutput(child, now) }
            if let d = child.drainUntil, now >= d { finishIfDone(child, force: true) }
        }
    }

    /// Milliseconds until the nearest deadline (-1: none).
    private func nextTimeout() -> Int32 {
        var nearest = Double.infinity
        for child in children.values {
            for d in [child.timeoutAt, child.killAt, child.drainUntil, child.flushAt] { if let d { nearest = min(nearest, d) } }
        }
        guard nearest.isFinite else { return -1 }
        return Int32(max(0, min((nearest - monotonic()) * 1000 + 1, 3_600_000)))
    }
}

/// One running job process, as the I/O thread tracks it.
final class Child {
    let id: Int
    let pid: pid_t
    var pidfd: Int32
    /// Read ends: stdout, stderr, progress (fd 3), status (the supervisor's report); -1 once closed.
    var pipes: [Int32]
    let events: ProcessEvents
    /// stdout and stderr between deliveries.
    var outputs: [OutputBuffer]
    /// When output last went out plus the interval: sooner, output waits.
    var nextDelivery = 0.0
    /// When waiting output goes out (nil: none waits).
    var flushAt: Double?
    /// The progress protocol's lines (fd 3), each delivered as it completes.
    var progressLines = LineSplitter()
    var status: [UInt8] = [] {
        didSet { reported = decode(status) }
    }
    let command: Command
    /// How the command ended, as its supervisor reported it.
    var reported: ProcessEnd?
    /// How the supervisor ended (waitpid).
    var exit: ProcessEnd?
    var reason: StopReason?
    var timeoutAt: Double?
    var killAt: Double?
    var drainUntil: Double?
    var reapOnStatusEOF = false
    /// What the kernel granted for stdout's and stderr's pipes (0: unknown).
    var pipeSizes: [Int32] = [0, 0]

    init(id: Int, pid: pid_t, pidfd: Int32, pipes: [Int32], events: ProcessEvents, command: Command, outputBudget: Int) {
        self.outputs = [OutputBuffer(budget: outputBudget), OutputBuffer(budget: outputBudget)]
        self.command = command
        self.id = id
        self.pid = pid
        self.pidfd = pidfd
        self.pipes = pipes
        self.events = events
    }

    /// Two native-endian int32s: 1 = exited with code, 2 = killed by signal,
    /// 3 = exec failed and 4 = chdir failed, with the errno.
    func decode(_ bytes: [UInt8]) -> ProcessEnd? {
        guard bytes.count >= 8 else { return nil }
        let words = bytes.withUnsafeBytes { (kind: $0.load(fromByteOffset: 0, as: Int32.self), value: $0.load(fromByteOffset: 4, as: Int32.self)) }
        switch words.kind {
        case Int32(CPROCESS_EXITED): return .exited(words.value)
        case Int32(CPROCESS_SIGNALED): return .signaled(words.value)
        case Int32(CPROCESS_EXEC_FAILED):
            return .couldNotStart("Cannot start \(command.path): \(String(cString: strerror(words.value)))")
        case Int32(CPROCESS_CHDIR_FAILED):
            return .couldNotStart("Cannot start \(command.path): cannot enter the working directory \(command.directory ?? "") (\(String(cString: strerror(words.value))))")
        default: return nil
        }
    }
}

/// NUL-terminated copies of strings for execve, freed when this goes.
final class CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    deinit {
        for p in pointers { free(p) }
    }

    func withPointers<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
