import JSON
import JobQueue
import Testing

/// The bounded snapshot behind `queue_state`, in memory.
@Suite(.timeLimit(.minutes(10))) struct SnapshotTests {
    /// Ten jobs: 1 and 2 completed, 3 and 4 running, 7 cancelled, the rest pending.
    func queue() -> JobQueue {
        let queue = JobQueue()
        for _ in 0..<10 { queue.enqueue(type: "echo", params: ["delay": 1]) }
        for _ in 0..<4 { _ = queue.claimNext() }
        queue.complete(1, result: ["ok": true])
        queue.complete(2, result: ["ok": true])
        _ = queue.cancel(7)
        return queue
    }

    @Test func keepsAllRunningTheFirstPendingInRunOrderAndTheNewestFinished() {
        let snapshot = queue().snapshot(pendingLimit: 2, finishedLimit: 2)
        #expect(snapshot.jobs.map(\.id) == [2, 3, 4, 5, 6, 7])
        #expect(snapshot.jobs.map(\.status) == [.completed, .running, .running, .pending, .pending, .cancelled])
        #expect(snapshot.truncated)
        // The counts are exact whatever was left out.
        let s = snapshot.stats
        #expect([s.pending, s.running, s.completed, s.failed, s.cancelled, s.total] == [5, 2, 2, 0, 1, 10])
    }

    @Test func nothingLeftOutIsNotTruncated() {
        let q = queue()
        let all = q.snapshot()
        #expect(all.jobs.map(\.id) == Array(1...10))
        #expect(!all.truncated)
        // Exactly at the bounds is not truncated either.
        let exact = q.snapshot(pendingLimit: 5, finishedLimit: 3)
        #expect(exact.jobs.count == 10 && !exact.truncated)
        #expect(q.snapshot(pendingLimit: 4, finishedLimit: 3).truncated)
        #expect(q.snapshot(pendingLimit: 5, finishedLimit: 2).truncated)
    }

    @Test func manyPendingJobsGiveTheFirstThousand() {
        let queue = JobQueue()
        for _ in 0..<20_000 { queue.enqueue(type: "echo", params: ["delay": 1]) }
        let running = queue.claimNext()
        let snapshot = queue.snapshot(pendingLimit: 1000, finishedLimit: 1000)
        #expect(snapshot.jobs.count == 1001)
        #expect(snapshot.jobs.first?.id == running?.id && snapshot.jobs.first?.status == .running)
        #expect(snapshot.jobs.dropFirst().map(\.id) == Array(2...1001))
        #expect(snapshot.truncated)
        #expect(snapshot.stats.pending == 19_999)
    }
}
