import JSON
import JobEngine
import JobQueue
import JobStoreSQLite
import PostgresTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct DurableQueueTests {
    func enqueue(_ queue: JobQueue, _ type: String = "echo") throws -> Job { try enqueueCommitted(queue, type) }

    @Test(arguments: Backend.allCases) func aJobJoinsTheQueueOnlyOnceCommitted(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            let queue = try JobQueue(store: store)
            let seen = Mutex<[String]>([])
            _ = queue.subscribe { event in
                // When the event is published the job is already in the file.
                let stored = try? store.job(event.jobID)
                seen.withLock { $0.append(stored == nil ? "not stored" : "stored") }
            }
            let job = try enqueue(queue)
            #expect(queue.job(job.id)?.status == .pending)
            #expect(seen.withLock { $0 } == ["stored"])
            store.close()
        }
    }

    @Test(arguments: Backend.allCases) func restartResumesPendingInOrderAndFailsInterruptedJobs(_ backend: Backend) async throws {
        try await offPool {
            let path = try backend.newPlace()
            do {
                let store = try backend.open(path)
                let queue = try JobQueue(store: store)
                let ids = try (0..<4).map { _ in try enqueue(queue).id }
                #expect(queue.claimNext()?.id == ids[0])
                _ = queue.cancel(ids[2])
                let sem = Semaphore()
                queue.whenDurable { _ in sem.signal() }
                sem.wait()
                store.close() // as if killed here: job 1 running, 2 and 4 pending, 3 cancelled
            }
            let store = try backend.open(path)
            defer { store.close() }
            let queue = try JobQueue(store: store)
            #expect(queue.job(1)?.status == .failed)
            #expect(queue.job(1)?.error == JobQueue.interruptedMessage)
            #expect(queue.job(3)?.status == .cancelled)
            #expect(queue.claimNext()?.id == 2)
            #expect(queue.claimNext()?.id == 4)
            #expect(queue.claimNext() == nil)
            // Counters show committed state: the two starts count once committed.
            let sem = Semaphore()
            queue.whenDurable { _ in sem.signal() }
            sem.wait()
            let stats = queue.stats()
            #expect(stats.failed == 1 && stats.cancelled == 1 && stats.running == 2 && stats.total == 4)
            // Ids are never reused; PostgreSQL hands them out from a sequence shared
            // by every node, in blocks (a restart leaves a gap).
            let next = try enqueue(queue).id
            #expect(backend == .sqlite ? next == 5 : next > 4)
        }
    }

    @Test(arguments: Backend.allCases) func finishedJobsBeyondTheCacheAreReadFromTheStore(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            let queue = try JobQueue(store: store, recentFinishedLimit: 2)
            for _ in 0..<5 {
                let job = try enqueue(queue)
                _ = queue.claimNext()
                queue.complete(job.id, result: ["ok": true])
            }
            let sem = Semaphore()
            queue.whenDurable { _ in sem.signal() }
            sem.wait()
            #expect(queue.snapshot().jobs.map(\.id) == [4, 5])
            #expect(queue.job(1)?.result == ["ok": true])
            #expect(queue.cancel(1) == .notCancellable(.completed))
            var q = JobQuery()
            q.statuses = [.completed]
            let page = try queue.list(q)
            #expect(page.jobs.map(\.id) == [1, 2, 3, 4, 5])
            #expect(page.total == 5)
        }
    }

    @Test(arguments: Backend.allCases) func engineRunsJobsFromADurableQueue(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            let engine = JobEngine(queue: try JobQueue(store: store), capacity: 2)
            let finished = AsyncStream<Int64>.makeStream()
            _ = engine.subscribe { e in if e.isFinal { finished.continuation.yield(e.jobID) } }
            for _ in 0..<3 {
                try engine.submit(type: "prime", params: ["limit": 100]) { _ in }
            }
            var done: Set<Int64> = []
            for await id in finished.stream {
                done.insert(id)
                if done.count == 3 { break }
            }
            #expect(done == [1, 2, 3])
            #expect(try store.job(3)?.result?["prime_count"] == 25)
        }
    }
}
