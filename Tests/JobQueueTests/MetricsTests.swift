import JSON
import JobQueue
import JobTestSupport
import Synchronization
import Testing

/// The queue's metrics on a clock moved by hand: exact run times and pickup
/// latencies, gauges and counters after every kind of transition, bounded labels.
@Suite(.timeLimit(.minutes(10))) struct MetricsTests {
    let clock = ManualClock()

    func submit(_ q: JobQueue, _ type: String = "t", _ set: (inout JobOptions) -> Void = { _ in }) -> Job {
        var options = JobOptions()
        set(&options)
        let out = Mutex<Job?>(nil)
        q.enqueue(type: type, params: [:], options: options) { r in out.withLock { $0 = try? r.get().job } }
        return out.withLock { $0! }
    }

    func counters(_ q: JobQueue, _ queue: String = "default", _ type: String = "t") -> JobCounters {
        q.metrics()?.jobs[JobMetricKey(queue: queue, type: type)] ?? JobCounters()
    }

    @Test func offUntilEnabledThenCountsWhatIsAlreadyThere() {
        let q = JobQueue(clock: clock)
        _ = submit(q)
        _ = submit(q)
        _ = q.claimNext()
        #expect(q.metrics() == nil)
        q.enableMetrics()
        let c = counters(q)
        #expect(c.pending == 1 && c.running == 1)
        // Counters start at the moment metrics were turned on.
        #expect(c.created == 0 && c.attempts == 0)
    }

    @Test func everyTransitionMovesItsFigures() throws {
        let q = JobQueue(clock: clock)
        q.enableMetrics()
        let a = submit(q) { $0.queue = "mail" }
        var c = counters(q, "mail")
        #expect(c.created == 1 && c.pending == 1)

        clock.advance(2)  // waits 2 s for a slot
        #expect(q.claimNext()?.id == a.id)
        clock.advance(5)  // runs 5 s
        q.complete(a.id, result: [:])
        c = counters(q, "mail")
        #expect(c.pending == 0 && c.running == 0 && c.attempts == 1 && c.completed == 1)
        let m = try #require(q.metrics())
        #expect(m.pickupSeconds["t"]?.sum == 2 && m.pickupSeconds["t"]?.count == 1)
        #expect(m.runSeconds["t"]?.sum == 5 && m.runSeconds["t"]?.count == 1)

        // A failed attempt with attempts left: an automatic retry, due after its backoff.
        let b = submit(q, "u") { $0.maxAttempts = 2; $0.backoff = Backoff(initial: 10, max: 10) }
        _ = q.claimNext()
        clock.advance(1)
        q.fail(b.id, error: "boom")
        c = counters(q, "default", "u")
        #expect(c.automaticRetries == 1 && c.pending == 1 && c.running == 0 && c.failed == 0)
        let due = try #require(q.job(b.id)?.runAt)
        clock.advance(due - clock.now() + 3)  // picked up 3 s after it was due
        #expect(q.claimNext()?.id == b.id)
        q.fail(b.id, error: "boom again")
        c = counters(q, "default", "u")
        #expect(c.attempts == 2 && c.failed == 1 && c.running == 0)
        var u = try #require(q.metrics()?.pickupSeconds["u"])
        #expect(u.count == 2 && abs(u.sum - 3) < 1e-9)

        // Retried by hand: its pickup counts from the retry, not its creation.
        clock.advance(100)
        q.retry(b.id) { _ in }
        c = counters(q, "default", "u")
        #expect(c.manualRetries == 1 && c.pending == 1)
        clock.advance(4)
        _ = q.claimNext()
        u = try #require(q.metrics()?.pickupSeconds["u"])
        #expect(u.count == 3 && abs(u.sum - 7) < 1e-9)

        // Cancelled while running (its run time counts) and while pending (none).
        clock.advance(6)
        #expect(q.cancel(b.id) == .cancelled(wasRunning: true))
        let p = submit(q, "u")
        #expect(q.cancel(p.id) == .cancelled(wasRunning: false))
        c = counters(q, "default", "u")
        #expect(c.cancelled == 2 && c.pending == 0 && c.running == 0 && c.created == 2)
        #expect(q.metrics()?.runSeconds["u"]?.count == 3)
        #expect(q.metrics()?.stats.cancelled == 2)
    }

    @Test func queueLabelsAreCapped() throws {
        let q = JobQueue(clock: clock)
        q.enableMetrics(maxQueues: 3)
        for name in ["a", "b", "c", "d", "e", "a"] { _ = submit(q) { $0.queue = name } }
        let m = try #require(q.metrics())
        #expect(Set(m.jobs.keys.map(\.queue)) == ["a", "b", "c", "~other"])
        #expect(counters(q, "a").pending == 2)
        #expect(counters(q, "~other").pending == 2)
        // The overflow label stays consistent as those jobs move on.
        while let j = q.claimNext() { q.complete(j.id, result: [:]) }
        #expect(counters(q, "~other").pending == 0 && counters(q, "~other").completed == 2)
    }

    @Test func histogramBucketsAreInclusiveUpperBounds() {
        var h = Histogram(bounds: [1, 2, 5])
        for v in [0.5, 1, 1.5, 2, 5, 7, -3, .nan] { h.observe(v) }
        #expect(h.counts == [4, 2, 1, 1])  // -3 and NaN count as 0
        #expect(h.count == 8 && h.sum == 17)
    }
}
