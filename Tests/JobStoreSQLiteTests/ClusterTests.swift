import Dispatch
import Essentials
import Glibc
import JobQueue
import JobStorePostgres
import PostgresTestSupport
import Synchronization
import Testing

/// The job events one node publishes, in order.
final class JobEvents: Sendable {
    private let events = Mutex<[QueueEvent]>([])

    init(_ queue: JobQueue) {
        _ = queue.subscribe { e in if e.jobID != 0 { self.events.withLock { $0.append(e) } } }
    }

    var all: [QueueEvent] { events.withLock { $0 } }

    /// Events reach subscribers just after the view changes: tests wait for the event.
    func waitForCompleted(_ node: String) throws {
        try ClusterTests.eventually("\(node) to publish completed") {
            all.contains { if case .completed = $0.kind { true } else { false } }
        }
    }
}

/// Several nodes on one PostgreSQL database, each a queue over its own store
/// in this process (as separate daemons would be): claims, what each node
/// sees of the others, cancels across nodes, and the leader's rescue.
@Suite struct ClusterTests {
    /// Waits for `condition` (polled every 10 ms), failing after `seconds`.
    static func eventually(_ what: String, seconds: Double = 10, _ condition: () throws -> Bool) throws {
        let deadline = monotonicNow() + seconds
        while try !condition() {
            guard monotonicNow() < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            usleep(10_000)
        }
    }

    static func node(_ url: String, _ id: String, timeout: Double = 30) throws -> (PostgresJobStore, JobQueue) {
        let store = try PostgresJobStore(url: url, nodeID: id, nodeTimeout: timeout)
        return (store, try JobQueue(store: store))
    }

    /// Two nodes, "a" and "b", on a fresh database.
    static func twoNodes() throws -> (PostgresJobStore, JobQueue, PostgresJobStore, JobQueue) {
        let url = try TestPostgres.cluster().newDatabase()
        let (storeA, a) = try node(url, "a")
        let (storeB, b) = try node(url, "b")
        return (storeA, a, storeB, b)
    }

    /// A cancel's outcome once it is committed.
    static func cancel(_ queue: JobQueue, _ id: Int64) -> Result<JobQueue.CancelOutcome, StoreError> {
        let outcome = Mutex<Result<JobQueue.CancelOutcome, StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        queue.cancel(id) { r in
            outcome.withLock { $0 = r }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success else { return .failure(StoreError("no answer in 10 s")) }
        return outcome.withLock { $0 }!
    }

    static func enqueue(_ queue: JobQueue, _ type: String = "echo", options: JobOptions = JobOptions()) throws -> Job {
        let result = Mutex<Result<JobQueue.Submitted, StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        queue.enqueue(type: type, params: [:], options: options) { r in
            result.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0 }!.get().job
    }

    /// A claim's jobs; a claim not answered within 10 s is a failure (never a hang).
    static func claim(_ queue: JobQueue, _ limit: Int) -> [Job] {
        let result = Mutex<[Job]>([])
        let done = DispatchSemaphore(value: 0)
        queue.claim(limit: limit) { jobs in
            result.withLock { $0 = jobs }
            done.signal()
        }
        if done.wait(timeout: .now() + 10) == .timedOut { Issue.record("a claim took over 10 s") }
        return result.withLock { $0 }
    }

    /// Two nodes claiming at once from 200 jobs made on either: every job is
    /// claimed exactly once, and both nodes show every job (made, started and
    /// completed on either) with the same counts.
    @Test func twoNodesClaimEveryJobOnceAndSeeEachOthersJobs() async throws {
        try await offPool {
            let (storeA, a, storeB, b) = try Self.twoNodes()
            defer { storeA.close(); storeB.close() }
            var made: [Int64] = []
            for i in 0..<200 { made.append(try Self.enqueue(i % 2 == 0 ? a : b).id) }
            #expect(Set(made).count == 200)
            let claimed = Mutex<[String: [Int64]]>([:])
            let deadline = monotonicNow() + 60
            let threads = try [("a", a), ("b", b)].map { name, queue in
                try ThreadLauncher.joinable(name: "claimer \(name)") {
                    while true {
                        let jobs = Self.claim(queue, 7)
                        if jobs.isEmpty && queue.stats().pending == 0 { break }
                        if jobs.isEmpty && monotonicNow() > deadline {
                            Issue.record("node \(name) still shows \(queue.stats().pending) pending after 60 s")
                            break
                        }
                        for job in jobs {
                            #expect(job.status == .running && job.node == name)
                            queue.complete(job.id, result: .object([:]))
                        }
                        claimed.withLock { $0[name, default: []] += jobs.map(\.id) }
                    }
                }
            }
            for t in threads { t.join() }
            let all = claimed.withLock { $0 }
            let ids = (all["a"] ?? []) + (all["b"] ?? [])
            #expect(ids.count == 200 && Set(ids) == Set(made), "each job claimed exactly once")
            try Self.eventually("both nodes to show 200 completed") {
                a.stats().completed == 200 && b.stats().completed == 200 && a.stats().total == 200 && b.stats().total == 200
            }
            #expect(a.stats() == b.stats())
            // Who ran a job is the same on both nodes.
            for id in made.prefix(20) { #expect(a.job(id)?.node != nil && a.job(id)?.node == b.job(id)?.node) }
        }
    }

    /// A job made on one node: the other publishes its events in order
    /// (created, started, log, completed).
    @Test func anotherNodePublishesEveryChangeOfAJob() async throws {
        try await offPool {
            let (storeA, a, storeB, b) = try Self.twoNodes()
            defer { storeA.close(); storeB.close() }
            let events = JobEvents(b)
            let job = try Self.enqueue(a)
            let running = Self.claim(a, 1)
            try #require(running.map(\.id) == [job.id])
            a.appendLog(job.id, .stdout, ["one", "two"])
            try ClusterTests.eventually("the log on node b") { events.all.contains { if case .log = $0.kind { true } else { false } } }
            a.complete(job.id, result: .object(["ok": .bool(true)]))
            try events.waitForCompleted("node b")
            let kinds = events.all.filter { $0.jobID == job.id }.map { e -> String in
                switch e.kind {
                case .created: "created"
                case .started: "started"
                case .progress(let p): "progress \(p.percent)"
                case .log(let lines): "log \(lines.count)"
                case .completed: "completed"
                default: "other"
                }
            }
            #expect(kinds.first == "created" && kinds.last == "completed", "\(kinds)")
            #expect(kinds.contains("started") && kinds.contains("log 2"), "\(kinds)")
            let sequences = events.all.filter { $0.jobID == job.id }.map(\.sequence)
            #expect(sequences == sequences.sorted(), "a job's events in order: \(sequences)")
            #expect(b.job(job.id)?.node == "a")
        }
    }

    /// A job that started and ended on one node before another heard of its
    /// start: the other still publishes `started` (when, and which node) before
    /// `completed`, so its dashboards and streams learn where it ran.
    @Test func aStartAnotherNodeMissedIsStillPublished() async throws {
        try await offPool {
            let (storeA, a, storeB, b) = try Self.twoNodes()
            defer { storeA.close(); storeB.close() }
            let events = JobEvents(b)
            let job = try Self.enqueue(a)
            try Self.eventually("pending on node b") { b.job(job.id)?.status == .pending }
            // Started and completed on a in one transaction, as node b may read it.
            var done = job
            done.status = .completed
            done.node = "a"
            done.startedAt = job.createdAt + 1
            done.completedAt = job.createdAt + 2
            done.result = .object([:])
            done.sequence = job.sequence + 2
            try commit(storeA, [.update(done, expect: JobGuard(status: .pending, node: nil))])
            try events.waitForCompleted("node b")
            let seen = events.all.filter { $0.jobID == job.id }
            let started = seen.compactMap { e -> (UInt64, Double, String?)? in
                if case .started(let at, let node) = e.kind { (e.sequence, at, node) } else { nil }
            }
            #expect(started.count == 1 && started.first?.0 == job.sequence + 1 && started.first?.1 == job.createdAt + 1 && started.first?.2 == "a",
                    "\(started)")
            #expect(seen.map(\.sequence) == seen.map(\.sequence).sorted())
            #expect(seen.last.map { if case .completed = $0.kind { true } else { false } } == true)
        }
    }

    /// A cancel on another node of a running job: committed there, the running
    /// node hears of it and stops the job's task; later writes of the running
    /// node lose (guarded) and change nothing.
    @Test func aCancelOnAnotherNodeStopsTheRunningNodesTask() async throws {
        try await offPool {
            let (storeA, a, storeB, b) = try Self.twoNodes()
            defer { storeA.close(); storeB.close() }
            let stopped = Mutex<[Int64]>([])
            a.onTaskStop { id in stopped.withLock { $0.append(id) } }
            let job = try Self.enqueue(a)
            try #require(Self.claim(a, 1).map(\.id) == [job.id])
            try Self.eventually("running on node b") { b.job(job.id)?.status == .running }
            let outcome = Self.cancel(b, job.id)
            #expect(try outcome.get() == .cancelled(wasRunning: true))
            try Self.eventually("node a to stop the task") { stopped.withLock { $0 } == [job.id] }
            #expect(a.job(job.id)?.status == .cancelled)
            // The task's own end arrives late: ignored.
            a.complete(job.id, result: .object([:]))
            a.whenDurable { _ in }
            #expect(try storeB.job(job.id)?.status == .cancelled)
            try Self.eventually("both views to count it cancelled") {
                a.stats().running == 0 && a.stats().cancelled == 1 && b.stats().cancelled == 1
            }
        }
    }

    /// A pending job cancelled on a node whose view is behind (another node
    /// claimed it meanwhile): the guarded write loses, the job is read again
    /// and the cancel is decided again, as a cancel of a running job.
    @Test func aCancelDecidedOnAStaleViewIsDecidedAgain() async throws {
        try await offPool {
            let (storeA, a, storeB, b) = try Self.twoNodes()
            defer { storeA.close(); storeB.close() }
            let job = try Self.enqueue(a)
            try Self.eventually("pending on node b") { b.job(job.id)?.status == .pending }
            // Claimed on a, straight in the database (b has not heard yet when it decides).
            try commit(storeA, [.update({ var j = job; j.status = .running; j.node = "a"; j.startedAt = 1; return j }(),
                                        expect: JobGuard(status: .pending, node: nil))])
            let outcome = Self.cancel(b, job.id)
            #expect(try outcome.get() == .cancelled(wasRunning: true), "\(outcome)")
            #expect(try storeA.job(job.id)?.status == .cancelled)
        }
    }

    /// A node back from a stall: its job was rescued and retried on node b.
    /// The stale task's reports (log, progress, its end, whichever way it
    /// ends) are for an attempt the job is no longer on: they change nothing,
    /// here or in the database, and b's attempt is not stopped. The store
    /// refuses such writes too, for a node that has not heard yet.
    @Test func aStaleAttemptsEndChangesNothing() async throws {
        try await offPool {
            let (storeA, a, storeB, b) = try Self.twoNodes()
            defer { storeA.close(); storeB.close() }
            let stoppedOnA = Mutex<[Int64]>([])
            let stoppedOnB = Mutex<[Int64]>([])
            a.onTaskStop { id in stoppedOnA.withLock { $0.append(id) } }
            b.onTaskStop { id in stoppedOnB.withLock { $0.append(id) } }
            var options = JobOptions()
            options.maxAttempts = 3
            options.backoff = Backoff(initial: 0.01, max: 0.01)
            let job = try Self.enqueue(a, options: options)
            let stale = try #require(Self.claim(a, 1).first)
            try Self.eventually("running on node b") { b.job(job.id)?.status == .running }
            // Node a went silent: b rescues its job and runs the retry.
            b.rescue(["a"])
            try Self.eventually("the retry pending") { try storeB.job(job.id)?.status == .pending }
            var retry: [Job] = []
            try Self.eventually("the retry claimed on b") {
                retry = Self.claim(b, 1)
                return !retry.isEmpty
            }
            let healthy = try #require(retry.first)
            #expect(healthy.attempt == 2 && healthy.node == "b")
            try Self.eventually("node a to hear and stop its task") { stoppedOnA.withLock { $0 } == [job.id] }
            try Self.eventually("node a to see b's attempt") { a.job(job.id).map { JobAttempt($0) } == JobAttempt(healthy) }
            // The stale task's reports and end, every way it can end.
            let attempt = JobAttempt(stale)
            #expect(!a.appendLog(job.id, .stdout, ["stale line"], attempt: attempt))
            #expect(!a.updateProgress(job.id, percent: 50, message: "stale", attempt: attempt))
            #expect(!a.fail(job.id, error: JobQueue.interruptedMessage, retryable: true, attempt: attempt))
            #expect(!a.fail(job.id, error: "boom", attempt: attempt))
            #expect(!a.complete(job.id, result: .object([:]), attempt: attempt))
            let settled = Mutex(false)
            a.whenDurable { _ in settled.withLock { $0 = true } }
            try Self.eventually("node a's changes committed") { settled.withLock { $0 } }
            // A node that has not heard yet decides from its old view: the store refuses.
            var ended = stale
            ended.status = .completed
            ended.completedAt = stale.startedAt.map { $0 + 1 }
            ended.sequence = stale.sequence + 5
            #expect(throws: StoreError.self) { try commit(storeA, [.update(ended, expect: JobGuard(stale))]) }
            #expect(throws: StoreError.self) {
                try commit(storeA, [.appendLog(id: job.id, lines: [LogLine(seq: healthy.sequence + 1, ts: 1, stream: .stdout, text: "stale")],
                                               dropped: 0, maxBytes: 1 << 20, expect: JobGuard(stale))])
            }
            let row = try #require(try storeB.job(job.id))
            #expect(row.status == .running && row.node == "b" && row.attempt == 2 && row.startedAt == healthy.startedAt)
            #expect(try storeB.log(job.id, after: 0)?.lines.isEmpty == true)
            #expect(stoppedOnB.withLock { $0 }.isEmpty, "b's attempt was not stopped")
            // b's attempt runs to its own end.
            #expect(b.complete(job.id, result: .object(["ok": .bool(true)]), attempt: JobAttempt(healthy)))
            try Self.eventually("completed on both nodes") { a.job(job.id)?.status == .completed && b.job(job.id)?.status == .completed }
            #expect(try storeA.job(job.id)?.attempt == 2)
        }
    }

    /// The leader rescues the running jobs of a node gone silent: one with
    /// attempts left is retried (and claimable again), one without fails as
    /// interrupted; the silent node's row goes.
    @Test func theLeaderRescuesASilentNodesJobs() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let (storeA, a) = try Self.node(url, "a", timeout: 1)
            var options = JobOptions()
            options.maxAttempts = 2
            let retried = try Self.enqueue(a, options: options)
            let failed = try Self.enqueue(a)
            try #require(Set(Self.claim(a, 2).map(\.id)) == [retried.id, failed.id])
            storeA.close()
            // Node a was killed: its row stays, its heartbeat stops.
            try cluster.execute(url, "INSERT INTO nodes (id, address, pid, started_at, heartbeat_at) VALUES ('a', '', 1, 0, 0)")
            let (storeB, b) = try Self.node(url, "b", timeout: 1)
            defer { storeB.close() }
            try Self.eventually("the rescue") {
                try storeB.job(retried.id)?.status == .pending && storeB.job(failed.id)?.status == .failed
            }
            let again = try #require(try storeB.job(retried.id))
            #expect(again.attempt == 2 && again.errors.map(\.error) == [JobQueue.interruptedMessage])
            #expect(try storeB.job(failed.id)?.error == JobQueue.interruptedMessage)
            try Self.eventually("node a's row to go") { try storeB.nodes().map(\.id) == ["b"] }
            #expect(try storeB.nodes().first?.leader == true)
            #expect(b.job(retried.id)?.status == .pending)
        }
    }
}
