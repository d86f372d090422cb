import JSON
import JobQueue
import JobStoreSQLite
import JobTestSupport
import PostgresTestSupport
import Synchronization
import Testing

/// Options, retries, delays and queue settings survive a restart.
@Suite(.timeLimit(.minutes(10))) struct DependableDurableTests {
    func submit(_ q: JobQueue, _ set: (inout JobOptions) -> Void) throws -> JobQueue.Submitted {
        var options = JobOptions()
        set(&options)
        let out = Mutex<Result<JobQueue.Submitted, StoreError>?>(nil)
        let sem = Semaphore()
        q.enqueue(type: "t", params: ["n": 1], options: options) { r in
            out.withLock { $0 = r }
            sem.signal()
        }
        sem.wait()
        return try out.withLock { $0! }.get()
    }

    func durable(_ q: JobQueue) {
        let sem = Semaphore()
        q.whenDurable { _ in sem.signal() }
        sem.wait()
    }

    @Test(arguments: Backend.allCases) func delayedRetryingAndQueueSettingsSurviveARestart(_ backend: Backend) async throws {
        try await offPool {
            let path = try backend.newPlace()
            let clock = ManualClock()
            var delayed: Int64 = 0, retrying: Int64 = 0, keyed: Int64 = 0
            do {
                let store = try backend.open(path)
                let q = try JobQueue(store: store, clock: clock)
                delayed = try submit(q) { $0.runAt = clock.now() + 100; $0.queue = "mail"; $0.priority = 7; $0.timeout = 30 }.job.id
                retrying = try submit(q) { $0.maxAttempts = 2; $0.backoff = Backoff(initial: 50, max: 50) }.job.id
                keyed = try submit(q) { $0.idempotencyKey = "k-1" }.job.id
                #expect(q.claimNext()?.id == retrying)
                q.fail(retrying, error: "flaky")
                let sem = Semaphore()
                q.updateQueue("mail", QueueSettings(concurrency: 2, paused: true)) { _ in sem.signal() }
                sem.wait()
                durable(q)
                store.close()
            }
            let store = try backend.open(path)
            defer { store.close() }
            let q = try JobQueue(store: store, clock: clock)
            let d = try #require(q.job(delayed))
            #expect(d.queue == "mail" && d.priority == 7 && d.timeout == 30 && d.runAt == clock.now() + 100)
            let r = try #require(q.job(retrying))
            #expect(r.status == .pending && r.attempt == 2 && r.errors.map(\.error) == ["flaky"])
            #expect(q.queues().first { $0.name == "mail" }?.settings == QueueSettings(concurrency: 2, paused: true))
            // The key still answers with its job.
            let again = try submit(q) { $0.idempotencyKey = "k-1" }
            #expect(again.duplicate && again.job.id == keyed)
            // Only the keyed job is due; the retry waits for its backoff, the delayed
            // job for its time (and its queue is paused).
            #expect(q.claimNext()?.id == keyed)
            #expect(q.claimNext() == nil)
            clock.advance(50)
            #expect(q.claimNext()?.id == retrying)
            clock.advance(50)
            #expect(q.claimNext() == nil)
        }
    }

    @Test(arguments: Backend.allCases) func concurrentSubmissionsWithOneKeyMakeOneJobWhileTheFirstIsUncommitted(_ backend: Backend) async throws {
        // Opening, the last query and closing block: off the pool; the
        // submissions stay concurrent on it.
        let (store, q) = try await offPool {
            let store = try backend.fresh()
            return (store, try JobQueue(store: store, clock: ManualClock()))
        }
        let ids = IDs()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    var o = JobOptions()
                    o.idempotencyKey = "burst"
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        q.enqueue(type: "t", params: [:], options: o) { r in
                            if let s = try? r.get() { ids.all.withLock { $0.append((s.job.id, s.duplicate)) } }
                            c.resume()
                        }
                    }
                }
            }
        }
        let all = ids.all.withLock { $0 }
        #expect(all.count == 32)
        #expect(Set(all.map(\.0)).count == 1)
        #expect(all.filter { !$0.1 }.count == 1)
        try await offPool { () throws -> Void in
            defer { store.close() }
            #expect(try store.query(JobQuery()).jobs.count == 1)
        }
    }

    @Test(arguments: Backend.allCases) func anOldFinishedJobsKeyIsFoundInTheStore(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            let q = try JobQueue(store: store, recentFinishedLimit: 1, clock: ManualClock())
            let first = try submit(q) { $0.idempotencyKey = "old" }.job.id
            _ = q.claimNext()
            q.complete(first, result: [:])
            // Two more finish, so the first leaves memory.
            for _ in 0..<2 {
                let id = try submit(q) { _ in }.job.id
                _ = q.claimNext()
                q.complete(id, result: [:])
            }
            durable(q)
            let again = try submit(q) { $0.idempotencyKey = "old" }
            #expect(again.duplicate && again.job.id == first)
        }
    }
}

final class IDs: Sendable {
    let all = Mutex<[(Int64, Bool)]>([])
}
