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
/// sees of the others, cancels across nodes (silent nodes and the leader:
/// `ClusterFailoverTests`).
@Suite(.timeLimit(.minutes(10))) struct ClusterTests {
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
}
