import JSON
import JobQueue
import JobStoreSQLite
import PostgresTestSupport
import Testing

/// The bounded snapshot with a durable store: the newest finished by id (as the
/// REST pages count them), and the counts include what only the file holds.
@Suite(.timeLimit(.minutes(10))) struct SnapshotBoundTests {
    @Test(arguments: Backend.allCases) func newestFinishedRunningAndFirstPending(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            let queue = try JobQueue(store: store, recentFinishedLimit: 3)
            for _ in 0..<8 { _ = try DurableQueueTests().enqueue(queue) }
            for _ in 0..<5 { _ = queue.claimNext() }
            // Finish out of id order: 2, then 1, then 4.
            queue.complete(2, result: ["ok": true])
            queue.fail(1, error: "no")
            queue.complete(4, result: ["ok": true])
            let sem = Semaphore()
            queue.whenDurable { _ in sem.signal() }
            sem.wait()

            let bounded = queue.snapshot(pendingLimit: 2, finishedLimit: 2)
            // Running 3 and 5, pending 6 and 7 (8 left out), finished 2 and 4 (1 left out,
            // although it finished after 2).
            #expect(bounded.jobs.map(\.id) == [2, 3, 4, 5, 6, 7])
            #expect(bounded.jobs.map(\.status) == [.completed, .running, .completed, .running, .pending, .pending])
            #expect(bounded.truncated)
            let s = bounded.stats
            #expect([s.pending, s.running, s.completed, s.failed, s.cancelled, s.total] == [3, 2, 2, 1, 0, 8])

            let all = queue.snapshot()
            #expect(all.jobs.map(\.id) == Array(1...8))
            #expect(!all.truncated)
        }
    }
}
