import JSON
import JobEngine
import JobQueue
import Synchronization
import Testing

/// A job slow to stop: once cancelled, a run ends only when the test lets it
/// (as a command that ignores SIGTERM until `--kill-grace`). Runs are numbered.
final class SlowToStop: JobType, Sendable {
    let name = "slow-to-stop"
    let description = "ends late after a cancel"
    let parameters: [ParameterSpec] = []
    /// Runs started, and the runs that saw their cancel.
    let runs = Mutex(0)
    let stopping = Mutex<Set<Int>>([])
    private let release = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        let run = runs.withLock { n in
            n += 1
            return n
        }
        do {
            try await Task.sleep(for: .seconds(60))
        } catch {
            stopping.withLock { _ = $0.insert(run) }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = release.withLock { r -> Bool in
                    if r.open { return true }
                    r.waiting.append(c)
                    return false
                }
                if now { c.resume() }
            }
            throw CancellationError()
        }
        return [:]
    }

    /// Lets every cancelled run end (now and from now on).
    func letGo() {
        let waiting = release.withLock { r -> [CheckedContinuation<Void, Never>] in
            r.open = true
            defer { r.waiting = [] }
            return r.waiting
        }
        for c in waiting { c.resume() }
    }
}

@Suite(.timeLimit(.minutes(1))) struct AttemptTests {
    /// Polls `condition` every 10 ms; fails after 10 s.
    func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A job cancelled while running, whose run is slow to stop, and retried at
    /// once: the new run starts beside the old one. The old run's end changes
    /// nothing (the job is on another run), and a cancel of the new run stops it.
    @Test func aRetryStartedWhileTheCancelledRunStopsIsItsOwn() async throws {
        let job = SlowToStop()
        var registry = JobRegistry.builtIn
        registry.register(job)
        let engine = JobEngine(registry: registry, capacity: 2)
        let id = try engine.submit(type: job.name, params: nil).id
        try await eventually("the first run") { job.runs.withLock { $0 } == 1 }
        #expect(engine.cancel(id) == .cancelled(wasRunning: true))
        try await eventually("the first run to see its cancel") { job.stopping.withLock { $0 } == [1] }
        let retried = Mutex<Bool>(false)
        engine.retry(id) { r in if case .success(.retried) = r { retried.withLock { $0 = true } } }
        #expect(retried.withLock { $0 })
        try await eventually("the second run") { job.runs.withLock { $0 } == 2 }
        // The first run ends now.
        job.letGo()
        try await eventually("the first run's end") { engine.stats.processed == 1 }
        #expect(engine.job(id)?.status == .running && engine.stats.active == 1)
        // The second run is the job's: a cancel stops it.
        #expect(engine.cancel(id) == .cancelled(wasRunning: true))
        try await eventually("the second run to see its cancel") { job.stopping.withLock { $0 } == [1, 2] }
        try await eventually("the second run's end") { engine.stats.processed == 2 && engine.stats.active == 0 }
        #expect(engine.job(id)?.status == .cancelled)
    }
}
