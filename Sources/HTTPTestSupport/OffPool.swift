import Dispatch
import Essentials
import Glibc
import Synchronization

/// Runs a test body on a thread of its own, as the same task: Swift Testing
/// calls test functions on the Swift concurrency cooperative pool, which has one
/// thread per core, and a body that blocks its thread (a socket read, a
/// semaphore, a poll loop, commits awaited, `Thread.join`) keeps every async test
/// and every in-process daemon in the process (jobs are tasks, the engine's
/// timeouts are `Task.sleep`) from running: on 2 cores, two such bodies stall
/// them all for as long as they wait.
///
/// The body runs under a task executor preference for a new thread, so
/// `#expect`, `#require` and `Issue.record` inside it belong to the calling test
/// (task-local values travel with the task, not the thread), and an `await`
/// inside it resumes on that same thread. Tasks started with `Task {}` run on the
/// pool as usual; child tasks (`async let`, task groups) inherit the preference
/// and share the one thread, so a body must not block waiting for one of those.
/// Every test target reaches it through `HTTPTestSupport` (PostgresTestSupport
/// re-exports it).
public func offPool<T>(isolation: isolated (any Actor)? = #isolation,
                       _ body: () async throws -> T) async throws -> T {
    let thread = try TestBodyThread()
    defer { thread.finish() }
    return try await withTaskExecutorPreference(thread, isolation: isolation) {
        // Not on the pool, or the helper is useless: say so at once.
        precondition(isolation != nil || thread.isCurrent, "offPool: the body is not on its own thread")
        return try await body()
    }
}

/// One thread that runs the jobs of the tasks that prefer it, in order, until
/// `finish()`.
final class TestBodyThread: TaskExecutor {
    private let state = Mutex<(jobs: [UnownedJob], finished: Bool)>(([], false))
    /// One signal per job enqueued, and one for `finish()`.
    private let wakeups = DispatchSemaphore(value: 0)
    /// The thread's `pthread_t`, once it runs.
    private let id = Atomic<pthread_t>(0)

    init() throws {
        // The thread holds the executor until `finish()`.
        try ThreadLauncher.detached(name: "test body") { self.run() }
    }

    var isCurrent: Bool { id.load(ordering: .acquiring) == pthread_self() }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        state.withLock { $0.jobs.append(job) }
        wakeups.signal()
    }

    /// Ends the thread once the jobs already enqueued have run.
    func finish() {
        state.withLock { $0.finished = true }
        wakeups.signal()
    }

    private func run() {
        id.store(pthread_self(), ordering: .releasing)
        while true {
            wakeups.wait()
            let (job, finished) = state.withLock { s in (s.jobs.isEmpty ? nil : s.jobs.removeFirst(), s.finished) }
            if let job {
                job.runSynchronously(on: asUnownedTaskExecutor())
            } else if finished {
                return
            }
        }
    }
}
