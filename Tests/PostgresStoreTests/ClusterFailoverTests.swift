import Dispatch
import Essentials
import Glibc
import JobQueue
import JobStorePostgres
import PostgresTestSupport
import Synchronization
import Testing

/// Nodes that go silent on one PostgreSQL database: the leader's rescue of a
/// silent node's jobs, a node back from a stall whose runs were taken over, the
/// leader's lease and its fencing (helpers from `ClusterTests`).
@Suite(.timeLimit(.minutes(10))) struct ClusterFailoverTests {
    /// A node back from a stall: its job was rescued and retried on node b.
    /// The stale task's reports (log, progress, its end, whichever way it
    /// ends) are for an attempt the job is no longer on: they change nothing,
    /// here or in the database, and b's attempt is not stopped. The store
    /// refuses such writes too, for a node that has not heard yet.
    @Test func aStaleAttemptsEndChangesNothing() async throws {
        try await offPool {
            // b first: it leads (and rescues).
            let url = try TestPostgres.cluster().newDatabase()
            let (storeB, b) = try ClusterTests.node(url, "b")
            let (storeA, a) = try ClusterTests.node(url, "a")
            defer { storeA.close(); storeB.close() }
            let stoppedOnA = Mutex<[Int64]>([])
            let stoppedOnB = Mutex<[Int64]>([])
            a.onTaskStop { id in stoppedOnA.withLock { $0.append(id) } }
            b.onTaskStop { id in stoppedOnB.withLock { $0.append(id) } }
            var options = JobOptions()
            options.maxAttempts = 3
            options.backoff = Backoff(initial: 0.01, max: 0.01)
            let job = try ClusterTests.enqueue(a, options: options)
            let stale = try #require(ClusterTests.claim(a, 1).first)
            try ClusterTests.eventually("running on node b") { b.job(job.id)?.status == .running }
            // Node a went silent: b rescues its job and runs the retry.
            b.rescue(["a"])
            try ClusterTests.eventually("the retry pending") { try storeB.job(job.id)?.status == .pending }
            var retry: [Job] = []
            try ClusterTests.eventually("the retry claimed on b") {
                retry = ClusterTests.claim(b, 1)
                return !retry.isEmpty
            }
            let healthy = try #require(retry.first)
            #expect(healthy.attempt == 2 && healthy.node == "b")
            try ClusterTests.eventually("node a to hear and stop its task") { stoppedOnA.withLock { $0 } == [job.id] }
            try ClusterTests.eventually("node a to see b's attempt") { a.job(job.id).map { JobAttempt($0) } == JobAttempt(healthy) }
            // The stale task's reports and end, every way it can end.
            let attempt = JobAttempt(stale)
            #expect(!a.appendLog(job.id, .stdout, ["stale line"], attempt: attempt))
            #expect(!a.updateProgress(job.id, percent: 50, message: "stale", attempt: attempt))
            #expect(!a.fail(job.id, error: JobQueue.interruptedMessage, retryable: true, attempt: attempt))
            #expect(!a.fail(job.id, error: "boom", attempt: attempt))
            #expect(!a.complete(job.id, result: .object([:]), attempt: attempt))
            let settled = Mutex(false)
            a.whenDurable { _ in settled.withLock { $0 = true } }
            try ClusterTests.eventually("node a's changes committed") { settled.withLock { $0 } }
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
            try ClusterTests.eventually("completed on both nodes") { a.job(job.id)?.status == .completed && b.job(job.id)?.status == .completed }
            #expect(try storeA.job(job.id)?.attempt == 2)
        }
    }

    /// The leader's lease: taken over (as the next node does once a frozen
    /// leader's lease expired), the old leader finds out at its next heartbeat;
    /// whatever it decided under its old epoch (a schedule's job, a prune, a
    /// rescue) changes nothing in the database.
    @Test func aDeposedLeadersChoresChangeNothing() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let (storeA, a) = try ClusterTests.node(url, "a", timeout: 2)
            defer { storeA.close() }
            let (storeB, _) = try ClusterTests.node(url, "b", timeout: 2)
            defer { storeB.close() }
            let old = try #require(storeA.leaderEpoch)
            #expect(storeB.leaderEpoch == nil && !storeB.isLeader)
            let done = try ClusterTests.enqueue(a)
            try #require(ClusterTests.claim(a, 1).map(\.id) == [done.id])
            a.complete(done.id, result: .object([:]))
            try ClusterTests.eventually("completed") { try storeB.job(done.id)?.status == .completed }
            let running = try ClusterTests.enqueue(a)
            try #require(ClusterTests.claim(a, 1).map(\.id) == [running.id])
            // The lease goes to b, as after a's silence (b's own from now on).
            try cluster.execute(url, "UPDATE leader_lease SET node = 'b', epoch = epoch + 1, expires_at = extract(epoch from clock_timestamp()) + 3600")
            try ClusterTests.eventually("b to lead") { storeB.isLeader }
            try ClusterTests.eventually("a to know it does not") { !storeA.isLeader && storeA.leaderEpoch == nil }
            #expect(try #require(storeB.leaderEpoch) > old)
            #expect(try storeB.nodes().filter(\.leader).map(\.id) == ["b"])
            // a's chores decided under its old epoch.
            var fired = Job(id: 1_000_000, type: "echo", params: [:], createdAt: 1)
            fired.schedule = "tick"
            #expect(throws: StoreError.self) { try commit(storeA, [.fence(epoch: old), .upsert(fired)]) }
            #expect(throws: StoreError.self) { try commit(storeA, [.fence(epoch: old), .prune(before: nil, keep: 0, report: { _ in })]) }
            #expect(throws: StoreError.self) { try commit(storeA, [.fence(epoch: old), .adopt(from: "a", node: "b", report: { _ in })]) }
            #expect(try storeB.job(fired.id) == nil, "no job fired")
            #expect(try storeB.job(done.id)?.status == .completed, "nothing pruned")
            #expect(try storeB.job(running.id)?.node == "a", "nothing adopted")
            // Under the epoch it holds, b's chores are made.
            let epoch = try #require(storeB.leaderEpoch)
            try commit(storeB, [.fence(epoch: epoch), .prune(before: nil, keep: 0, report: { _ in })])
            #expect(try storeB.job(done.id) == nil)
        }
    }

    /// A version 4 database (leadership by advisory lock, `nodes.leader`)
    /// migrates to the lease: the first node to start leads by it.
    @Test func aVersion4DatabaseMigratesToTheLease() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let (seed, _) = try ClusterTests.node(url, "a")
            seed.close()
            try cluster.execute(url, """
                DROP TABLE leader_lease; ALTER TABLE nodes ADD COLUMN leader BOOLEAN NOT NULL DEFAULT false;
                UPDATE schema_version SET version = 4
                """)
            let (store, _) = try ClusterTests.node(url, "a")
            defer { store.close() }
            #expect(store.leaderEpoch == 1)
            #expect(try store.nodes().map { [$0.id: $0.leader] } == [["a": true]])
        }
    }

    /// The leader rescues the running jobs of a node gone silent: one with
    /// attempts left is retried (and claimable again), one without fails as
    /// interrupted; the silent node's row goes.
    @Test func theLeaderRescuesASilentNodesJobs() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let (storeA, a) = try ClusterTests.node(url, "a", timeout: 1)
            var options = JobOptions()
            options.maxAttempts = 2
            let retried = try ClusterTests.enqueue(a, options: options)
            let failed = try ClusterTests.enqueue(a)
            try #require(Set(ClusterTests.claim(a, 2).map(\.id)) == [retried.id, failed.id])
            storeA.close()
            // Node a was killed: its row stays, its heartbeat stops.
            try cluster.execute(url, "INSERT INTO nodes (id, address, pid, started_at, heartbeat_at) VALUES ('a', '', 1, 0, 0)")
            let (storeB, b) = try ClusterTests.node(url, "b", timeout: 1)
            defer { storeB.close() }
            try ClusterTests.eventually("the rescue") {
                try storeB.job(retried.id)?.status == .pending && storeB.job(failed.id)?.status == .failed
            }
            let again = try #require(try storeB.job(retried.id))
            #expect(again.attempt == 2 && again.errors.map(\.error) == [JobQueue.interruptedMessage])
            #expect(try storeB.job(failed.id)?.error == JobQueue.interruptedMessage)
            try ClusterTests.eventually("node a's row to go") { try storeB.nodes().map(\.id) == ["b"] }
            #expect(try storeB.nodes().first?.leader == true)
            #expect(b.job(retried.id)?.status == .pending)
        }
    }
}
