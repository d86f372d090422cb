import JSON
import JobQueue
import JobTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct SchedulingTests {
    let clock = ManualClock()

    func queue() -> JobQueue { JobQueue(clock: clock) }

    func submit(_ q: JobQueue, _ type: String = "t", _ set: (inout JobOptions) -> Void = { _ in }) -> JobQueue.Submitted {
        var options = JobOptions()
        set(&options)
        let out = Mutex<JobQueue.Submitted?>(nil)
        q.enqueue(type: type, params: [:], options: options) { r in out.withLock { $0 = try? r.get() } }
        return out.withLock { $0! }
    }

    func claimAll(_ q: JobQueue) -> [Int64] {
        var ids: [Int64] = []
        while let j = q.claimNext() { ids.append(j.id) }
        return ids
    }

    @Test func highestPriorityFirstThenFIFO() {
        let q = queue()
        let a = submit(q) { $0.priority = 0 }.job.id
        let b = submit(q) { $0.priority = 5 }.job.id
        let c = submit(q) { $0.priority = -3 }.job.id
        let d = submit(q) { $0.priority = 5 }.job.id
        let e = submit(q, "other") { $0.priority = 0 }.job.id
        #expect(claimAll(q) == [b, d, a, e, c])
    }

    @Test func queueConcurrencyAndPauseHoldJobsBackWithoutHidingOthers() {
        let q = queue()
        q.updateQueue("mail", QueueSettings(concurrency: 1)) { _ in }
        let m1 = submit(q) { $0.queue = "mail"; $0.priority = 9 }.job.id
        let m2 = submit(q) { $0.queue = "mail"; $0.priority = 9 }.job.id
        let d1 = submit(q).job.id
        // One mail job at a time; the default queue is not held up behind it.
        #expect(claimAll(q) == [m1, d1])
        q.complete(m1, result: [:])
        #expect(q.claimNext()?.id == m2)
        q.complete(m2, result: [:])
        q.updateQueue("mail", QueueSettings(concurrency: nil, paused: true)) { _ in }
        let m3 = submit(q) { $0.queue = "mail" }.job.id
        #expect(q.claimNext() == nil)
        #expect(!q.hasClaimable)
        q.updateQueue("mail", QueueSettings()) { _ in }
        #expect(q.claimNext()?.id == m3)
        #expect(q.queues().first { $0.name == "mail" }?.counts.running == 1)
    }

    @Test func aQueueWithNoJobsAndNoSettingsLeaves() {
        let q = queue()
        var ids: [Int64] = []
        for i in 0..<50 { ids.append(submit(q) { $0.queue = "made-up-\(i)" }.job.id) }
        q.updateQueue("kept", QueueSettings(paused: true)) { _ in }
        #expect(q.queues().count == 52)
        for id in claimAll(q) { q.complete(id, result: [:]) }
        // Finished jobs still count: the queues stay until the jobs go.
        #expect(q.queues().count == 52)
        q.deleteFinished(ids: Array(ids[0..<25])) { _ in }
        #expect(q.queues().count == 27)
        #expect(q.clearFinished() == 25)
        #expect(q.queues().map(\.name) == ["default", "kept"])
        // Settings put back to the defaults are no settings.
        q.updateQueue("kept", QueueSettings()) { _ in }
        #expect(q.queues().map(\.name) == ["default"])
    }

    @Test func typeConcurrency() {
        let q = queue()
        q.setTypeLimits(["backup": 1])
        let b1 = submit(q, "backup").job.id
        let b2 = submit(q, "backup").job.id
        let x = submit(q, "report").job.id
        #expect(claimAll(q) == [b1, x])
        q.fail(b1, error: "disk full")
        #expect(q.claimNext()?.id == b2)
    }

    /// A cancelled job keeps its place in its type's and queue's limits until
    /// its task has ended (its last process gone), not only until the cancel.
    @Test func aCancelledJobHoldsItsPlaceInTheLimitsUntilItsTaskEnds() throws {
        let q = queue()
        q.setTypeLimits(["backup": 1])
        q.updateQueue("mail", QueueSettings(concurrency: 1)) { _ in }
        let b1 = submit(q, "backup").job.id
        let b2 = submit(q, "backup").job.id
        let m1 = submit(q, "send") { $0.queue = "mail" }.job.id
        let m2 = submit(q, "send") { $0.queue = "mail" }.job.id
        #expect(claimAll(q) == [b1, m1])
        let running = try #require(q.job(b1))
        let runningMail = try #require(q.job(m1))
        q.cancel(b1) { _ in }
        q.cancel(m1) { _ in }
        #expect(q.job(b1)?.status == .cancelled && q.job(m1)?.status == .cancelled)
        // Their tasks are still stopping: nothing of that type or queue starts.
        #expect(q.claimNext() == nil)
        // The tasks end (reported as engines do, for their attempt): the places free.
        q.fail(b1, error: "Interrupted", attempt: JobAttempt(running))
        #expect(q.claimNext()?.id == b2)
        q.fail(m1, error: "Interrupted", attempt: JobAttempt(runningMail))
        #expect(q.claimNext()?.id == m2)
        #expect(q.job(b1)?.status == .cancelled)
    }

    @Test func delayedJobsWaitForTheirTimeWithOneTimer() {
        let q = queue()
        let start = clock.now()
        let later = submit(q) { $0.runAt = start + 60 }.job.id
        let sooner = submit(q) { $0.runAt = start + 10 }.job.id
        let now = submit(q).job.id
        #expect(clock.armed == start + 10)
        #expect(claimAll(q) == [now])
        clock.advance(9.9)
        #expect(q.claimNext() == nil)
        clock.advance(0.1)
        #expect(clock.armed == start + 60)
        #expect(q.claimNext()?.id == sooner)
        clock.advance(50)
        #expect(q.claimNext()?.id == later)
        #expect(clock.armed == nil)
    }

    @Test func aFailedAttemptIsRetriedAfterItsBackoffAndKeepsItsErrors() throws {
        let q = queue()
        let id = submit(q) { $0.maxAttempts = 3; $0.backoff = Backoff(initial: 10, max: 15) }.job.id
        _ = q.claimNext()
        q.fail(id, error: "first")
        var job = try #require(q.job(id))
        #expect(job.status == .pending && job.attempt == 2)
        #expect(job.errors.map(\.error) == ["first"])
        let wait = try #require(job.runAt) - clock.now()
        #expect(wait >= 5 && wait <= 10)             // 10 s, jitter in the upper half
        #expect(q.claimNext() == nil)
        clock.advance(10)
        #expect(q.claimNext()?.id == id)
        q.fail(id, error: "second")
        job = try #require(q.job(id))
        let wait2 = try #require(job.runAt) - clock.now()
        #expect(wait2 >= 7.5 && wait2 <= 15)         // 20 s capped at 15
        clock.advance(15)
        #expect(q.claimNext()?.id == id)
        q.fail(id, error: "third")
        job = try #require(q.job(id))
        #expect(job.status == .failed && job.error == "third" && job.attempt == 3)
        #expect(job.errors.map(\.attempt) == [1, 2, 3])
    }

    @Test func anInterruptionOrACancelIsNotRetried() throws {
        let q = queue()
        let a = submit(q) { $0.maxAttempts = 5 }.job.id
        let b = submit(q) { $0.maxAttempts = 5 }.job.id
        _ = claimAll(q)
        q.fail(a, error: JobQueue.interruptedMessage, retryable: false)
        _ = q.cancel(b)
        #expect(q.job(a)?.status == .failed)
        #expect(q.job(b)?.status == .cancelled)
    }

    @Test func retryPutsAFailedOrCancelledJobBack() throws {
        let q = queue()
        let id = submit(q).job.id
        _ = q.claimNext()
        q.fail(id, error: "boom")
        let outcome = Mutex<JobQueue.RetryOutcome?>(nil)
        q.retry(id) { r in outcome.withLock { $0 = try? r.get() } }
        guard case .retried(let job)? = outcome.withLock({ $0 }) else { Issue.record("not retried"); return }
        #expect(job.status == .pending && job.attempt == 1 && job.error == nil)
        #expect(q.claimNext()?.id == id)
        q.retry(id) { r in outcome.withLock { $0 = try? r.get() } }
        guard case .notRetryable(.running)? = outcome.withLock({ $0 }) else { Issue.record("a running job was retried"); return }
    }

    @Test func backoffBounds() {
        let b = Backoff(initial: 1, max: 3600)
        for attempt in 1...30 {
            let base = min(3600, pow2(attempt - 1))
            #expect(b.delay(after: attempt, random: 0) == base / 2)
            #expect(b.delay(after: attempt, random: 0.999999) <= base)
        }
        #expect(b.delay(after: 1000, random: 1) <= 3600)
    }

    @Test func anIdempotencyKeyMakesExactlyOneJobUnderConcurrentSubmissions() async {
        let q = queue()
        let results = Collected()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    var o = JobOptions()
                    o.idempotencyKey = "order-42"
                    q.enqueue(type: "t", params: [:], options: o) { r in
                        if let s = try? r.get() { results.items.withLock { $0.append(s) } }
                    }
                }
            }
        }
        let all = results.items.withLock { $0 }
        #expect(all.count == 64)
        #expect(Set(all.map(\.job.id)).count == 1)
        #expect(all.filter { !$0.duplicate }.count == 1)
        #expect(q.stats().total == 1)
        // Once the job is gone, the key is free again.
        _ = q.claimNext()
        q.complete(all[0].job.id, result: [:])
        q.clearFinished()
        let again = submit(q) { $0.idempotencyKey = "order-42" }
        #expect(!again.duplicate && again.job.id != all[0].job.id)
    }
}

func pow2(_ n: Int) -> Double { Double(1 << min(n, 40)) }

final class Collected: Sendable {
    let items = Mutex<[JobQueue.Submitted]>([])
}
