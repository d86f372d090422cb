import Dispatch
import Glibc
import HTTPTestSupport
import Synchronization
import Testing

/// `offPool` (HTTPTestSupport), which every suite with a blocking body relies on:
/// bodies that block do not hold the cooperative pool, and what they record
/// belongs to their test.
@Suite(.timeLimit(.minutes(10))) struct OffPoolTests {
    struct Refused: Error {}

    /// Bodies that have started, and the wake-up for the ones waiting.
    final class Barrier: Sendable {
        let arrived = Mutex(0)
        let allThere = DispatchSemaphore(value: 0)
    }

    /// More blocked bodies than the pool has threads, all at once: each waits
    /// until every one has started, which only works if none of them holds a
    /// pool thread (the pool has one per core).
    @Test func moreBlockedBodiesThanPoolThreadsAllRun() async throws {
        let count = 2 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 2
        let barrier = Barrier()
        let results = try await withThrowingTaskGroup(of: DispatchTimeoutResult.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await offPool {
                        let last = barrier.arrived.withLock { n in
                            n += 1
                            return n == count
                        }
                        if last {
                            for _ in 1..<count { barrier.allThere.signal() }
                            return .success
                        }
                        return barrier.allThere.wait(timeout: .now() + 10)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == count)
        #expect(results.allSatisfy { $0 == .success })
    }

    /// Recorded on another thread, the issue is still this test's: the known
    /// issue is matched (were it lost, `withKnownIssue` would fail the test).
    @Test func whatTheBodyRecordsBelongsToTheTest() async throws {
        let body: () async throws -> Void = {
            try await offPool { () -> Void in Issue.record("recorded on the body's thread") }
        }
        try await withKnownIssue(isIntermittent: false, body, matching: { issue in
            issue.comments.contains { $0.rawValue == "recorded on the body's thread" }
        })
    }

    @Test func resultsAndErrorsComeBack() async throws {
        #expect(try await offPool { 6 * 7 } == 42)
        await #expect(throws: Refused.self) { try await offPool { throw Refused() } }
        // An await inside the body resumes on the body's thread.
        let before = try await offPool { () async throws -> (pthread_t, pthread_t) in
            let first = pthread_self()
            try await Task.sleep(for: .milliseconds(1))
            return (first, pthread_self())
        }
        #expect(pthread_equal(before.0, before.1) != 0)
    }
}
