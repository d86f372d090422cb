import Glibc
import JSON
import JobQueue
@testable import JobStoreSQLite
import PostgresTestSupport
import Synchronization
import Testing

/// The commit pipeline against a real SQLite file: what readers see follows the
/// file, a failed commit changes nothing, and faults are reported, not crashed on.
@Suite(.timeLimit(.minutes(10))) struct CommitPipelineTests {
    /// Waits for a callback-style result (tests only: blocks the calling thread).
    func wait<T: Sendable>(_ start: (@escaping @Sendable (T) -> Void) -> Void) -> T {
        let box = Mutex<T?>(nil)
        let sem = Semaphore()
        start { value in
            box.withLock { $0 = value }
            sem.signal()
        }
        sem.wait()
        return box.withLock { $0! }
    }

    func enqueue(_ queue: JobQueue) throws -> Job {
        try wait { done in queue.enqueue(type: "echo", params: [:], completion: done) }.get()
    }

    func durable(_ queue: JobQueue) throws {
        try wait { done in queue.whenDurable(done) }.get()
    }

    /// Counts per status as the file holds them.
    func fileCounts(_ store: SQLiteJobStore) throws -> [JobStatus: Int] {
        var counts: [JobStatus: Int] = [:]
        for job in try store.query({ var q = JobQuery(); q.limit = 1000; return q }()).jobs { counts[job.status, default: 0] += 1 }
        return counts
    }

    @Test func readersSeeNothingBeforeTheCommit() async throws {
        try await offPool {
            let path = tempDB()
            let store = try SQLiteJobStore(path: path)
            defer { store.close() }
            let queue = try JobQueue(store: store)
            let job = try enqueue(queue)
            let events = Mutex<[QueueEvent]>([])
            _ = queue.subscribe { e in events.withLock { $0.append(e) } }

            // Another connection holds the write lock: the store cannot commit yet.
            let blocker = try SQLiteConnection(path: path)
            try blocker.execute("BEGIN IMMEDIATE")
            let answer = Mutex<Result<JobQueue.CancelOutcome, StoreError>?>(nil)
            let answered = Semaphore()
            queue.cancel(job.id) { r in
                answer.withLock { $0 = r }
                answered.signal()
            }
            #expect(queue.job(job.id)?.status == .pending)
            #expect(queue.stats().cancelled == 0 && queue.stats().pending == 1)
            #expect(queue.snapshot().jobs.first?.status == .pending)
            #expect(events.withLock { $0.isEmpty })
            #expect(answer.withLock { $0 } == nil)

            try blocker.execute("COMMIT")
            answered.wait()
            #expect(answer.withLock { $0 }.map { (try? $0.get()) == .cancelled(wasRunning: false) } == true)
            #expect(queue.job(job.id)?.status == .cancelled)
            #expect(queue.stats().cancelled == 1 && queue.stats().pending == 0)
            #expect(events.withLock { $0.count } == 1)
        }
    }

    /// A bulk delete decided before a retry of one of its jobs, both committed
    /// together: the store deletes the row, and the retry, a guarded write,
    /// finds it gone and writes nothing back (it used to re-insert the deleted
    /// row). The retry answers "not found"; memory and the counters end as the
    /// file does (nothing left), and the delete counts both jobs.
    @Test func aRetryDecidedWhileABulkDeleteCommitsKeepsTheCountersTrue() async throws {
        try await offPool {
            let path = tempDB()
            let store = try SQLiteJobStore(path: path)
            defer { store.close() }
            let queue = try JobQueue(store: store)
            let kept = try enqueue(queue)
            let gone = try enqueue(queue)
            for job in [kept, gone] { _ = try wait { done in queue.cancel(job.id, completion: done) }.get() }
            try durable(queue)

            // Another connection holds the write lock: both decisions wait for one commit.
            let blocker = try SQLiteConnection(path: path)
            try blocker.execute("BEGIN IMMEDIATE")
            let deleted = Mutex<Result<Int, StoreError>?>(nil)
            let retried = Mutex<Result<JobQueue.RetryOutcome, StoreError>?>(nil)
            let answers = Semaphore()
            queue.deleteFinished(ids: [kept.id, gone.id]) { r in
                deleted.withLock { $0 = r }
                answers.signal()
            }
            queue.retry(kept.id) { r in
                retried.withLock { $0 = r }
                answers.signal()
            }
            try blocker.execute("COMMIT")
            answers.wait()
            answers.wait()
            try durable(queue)

            #expect((try? retried.withLock { $0 }?.get()).map { if case .notFound = $0 { true } else { false } } == true)
            #expect(try store.job(gone.id) == nil)
            #expect(try store.job(kept.id) == nil)
            #expect((try? deleted.withLock { $0 }?.get()) == 2)
            #expect(queue.job(kept.id) == nil)
            let stats = queue.stats()
            #expect(stats.pending == 0 && stats.cancelled == 0 && stats.total == 0)
            #expect(try fileCounts(store) == [:])
        }
    }

    /// The same with "clear finished": the retried job is not written back,
    /// and the clear counts it with the others. Also when the retried job had
    /// left memory (only the newest finished job stays, and 1,100 more
    /// finished after it).
    @Test(arguments: [(1000, 0), (1, 1100)])
    func aRetryDecidedWhileAClearCommitsKeepsTheCountersTrue(recentFinished: Int, later: Int) async throws {
        try await offPool {
            let path = tempDB()
            let store = try SQLiteJobStore(path: path)
            defer { store.close() }
            let queue = try JobQueue(store: store, recentFinishedLimit: recentFinished)
            let kept = try enqueue(queue)
            var others: [Job] = []
            for _ in 0...later { others.append(try enqueue(queue)) }
            for job in [kept] + others { _ = try wait { done in queue.cancel(job.id, completion: done) }.get() }
            try durable(queue)
            let gone = others[0]

            let blocker = try SQLiteConnection(path: path)
            try blocker.execute("BEGIN IMMEDIATE")
            let cleared = Mutex<Result<Int, StoreError>?>(nil)
            let retried = Mutex<Result<JobQueue.RetryOutcome, StoreError>?>(nil)
            let answers = Semaphore()
            queue.clearFinished { r in
                cleared.withLock { $0 = r }
                answers.signal()
            }
            queue.retry(kept.id) { r in
                retried.withLock { $0 = r }
                answers.signal()
            }
            try blocker.execute("COMMIT")
            answers.wait()
            answers.wait()
            try durable(queue)

            #expect((try? retried.withLock { $0 }?.get()).map { if case .notFound = $0 { true } else { false } } == true)
            #expect((try? cleared.withLock { $0 }?.get()) == 2 + later)
            #expect(try store.job(gone.id) == nil)
            #expect(try store.job(kept.id) == nil)
            #expect(queue.job(kept.id) == nil)
            let stats = queue.stats()
            #expect(stats.pending == 0 && stats.cancelled == 0 && stats.total == 0)
            #expect(try fileCounts(store) == [:])
        }
    }

    @Test func aFailedCommitChangesNothingAndCountersAgreeOnceTheFaultClears() async throws {
        try await offPool {
            let path = tempDB()
            let store = try SQLiteJobStore(path: path)
            defer { store.close() }
            let queue = try JobQueue(store: store)
            let ids = try (0..<4).map { _ in try enqueue(queue).id }
            let running = try #require(queue.claimNext())
            queue.complete(running.id, result: ["ok": true])
            try durable(queue)

            // The file vanishes from its path: every commit fails until it is back.
            #expect(rename(path, path + ".away") == 0)
            let cancel = wait { done in queue.cancel(ids[1], completion: done) }
            #expect(throws: StoreError.self) { try cancel.get() }
            let clear = wait { done in queue.clearFinished(completion: done) }
            #expect(throws: StoreError.self) { try clear.get() }
            let created = wait { done in queue.enqueue(type: "echo", params: [:], completion: done) }
            #expect(throws: StoreError.self) { try created.get() }
            #expect(store.failure?.message.contains("deleted") == true)

            #expect(queue.job(ids[1])?.status == .pending)
            #expect(queue.job(ids[0])?.status == .completed)
            var expected = QueueStats()
            expected.pending = 3
            expected.completed = 1
            expected.total = 4
            #expect(queue.stats() == expected)

            // The fault clears: the job whose cancel failed is still there to claim,
            // in FIFO order, and memory, counters and file agree.
            #expect(rename(path + ".away", path) == 0)
            try durable(queue)
            #expect(queue.claimNext()?.id == ids[1])
            try durable(queue)
            #expect(try fileCounts(store) == [.completed: 1, .running: 1, .pending: 2])
            expected.pending = 2
            expected.running = 1
            #expect(queue.stats() == expected)
            #expect(store.failure == nil)
        }
    }

    @Test func aCancelThatFailsToCommitLetsTheJobEndAsItsTaskReported() async throws {
        try await offPool {
            let path = tempDB()
            let store = try SQLiteJobStore(path: path)
            defer { store.close() }
            let queue = try JobQueue(store: store)
            let job = try enqueue(queue)
            _ = queue.claimNext()
            try durable(queue)
            #expect(rename(path, path + ".away") == 0)
            let cancel = wait { done in queue.cancel(job.id, completion: done) }
            #expect(throws: StoreError.self) { try cancel.get() }
            // The task ended while the cancel was on its way and failed: its own
            // outcome stands once the store is back.
            #expect(queue.complete(job.id, result: ["done": true]))
            #expect(rename(path + ".away", path) == 0)
            try durable(queue)
            #expect(queue.job(job.id)?.status == .completed)
            #expect(try store.job(job.id)?.status == .completed)
        }
    }

    @Test(arguments: Backend.allCases) func aTransitionAfterTheStoreClosedDoesNotCrash(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            let queue = try JobQueue(store: store)
            let job = try enqueue(queue)
            _ = queue.claimNext()
            store.close()
            // Used to re-lock the queue's mutex from inside `submit` and trap.
            #expect(queue.fail(job.id, error: "late"))
            let after = wait { done in queue.whenDurable(done) }
            #expect(throws: StoreError.self) { try after.get() }
        }
    }

    @Test func aSecondStoreOnTheSameFileIsRefusedUntilTheFirstCloses() async throws {
        try await offPool {
            let path = tempDB()
            let first = try SQLiteJobStore(path: path)
            #expect {
                try SQLiteJobStore(path: path)
            } throws: { error in
                let message = (error as? StoreError)?.message ?? ""
                return message.contains(path) && message.contains("another jobrunnerd") && message.contains("pid \(getpid())")
            }
            first.close()
            let second = try SQLiteJobStore(path: path)
            second.close()
        }
    }

    @Test(arguments: Backend.allCases) func pruneKeepsTheSameJobsInMemoryAndInTheFile(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            let queue = try JobQueue(store: store)
            // Jobs finish out of id order: 3 first, then 1, then 2, then 4.
            let ids = try (0..<4).map { _ in try enqueue(queue).id }
            for _ in ids { _ = queue.claimNext() }
            for id in [ids[2], ids[0], ids[1], ids[3]] { queue.complete(id, result: [:]) }
            try durable(queue)

            try wait { done in queue.pruneFinished(before: nil, keep: 2, completion: done) }.get()
            // The newest two by id stay, in memory and in the file alike.
            #expect(queue.job(ids[0]) == nil)
            #expect(queue.job(ids[1]) == nil)
            #expect(queue.job(ids[2])?.status == .completed)
            #expect(queue.job(ids[3])?.status == .completed)
            #expect(try queue.list(JobQuery()).jobs.map(\.id) == [ids[2], ids[3]])
            #expect(queue.stats().completed == 2 && queue.stats().total == 2)
            #expect(queue.snapshot().jobs.map(\.id) == [ids[2], ids[3]])
        }
    }

    @Test func pruneInMemoryFollowsTheSameRule() {
        let queue = JobQueue()
        let ids = (0..<4).map { _ in queue.enqueue(type: "echo", params: [:]).id }
        for _ in ids { _ = queue.claimNext() }
        for id in [ids[2], ids[0], ids[1], ids[3]] { queue.complete(id, result: [:]) }
        queue.pruneFinished(before: nil, keep: 2)
        #expect(queue.allJobs().map(\.id) == [ids[2], ids[3]])
        #expect(queue.stats().completed == 2 && queue.stats().total == 2)
    }
}
