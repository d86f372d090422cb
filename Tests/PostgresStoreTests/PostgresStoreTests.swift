import Essentials
import Glibc
import JSON
import JobQueue
import JobStorePostgres
import PostgresTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct PostgresStoreTests {
    @Test func aNewerSchemaVersionIsRefused() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            try PostgresJobStore(url: url).close()
            try cluster.execute(url, "UPDATE schema_version SET version = 99")
            #expect {
                try PostgresJobStore(url: url)
            } throws: { error in
                (error as? StoreError)?.message.contains("schema version 99 is newer") == true
            }
        }
    }

    /// Daemons starting together on one database: the schema is made once (under
    /// the migration lock); nodes with distinct ids share it, while a second
    /// daemon with a live node's id is refused, naming the id; once that node
    /// closes, its id may be used again.
    @Test func nodesShareADatabaseButNotANodeID() async throws {
        try await offPool {
            let url = try TestPostgres.cluster().newDatabase()
            let errors = Mutex<[String]>([])
            let started = Mutex<[PostgresJobStore]>([])
            let threads = try (0..<6).map { i in
                try ThreadLauncher.joinable(name: "store opener") {
                    do {
                        let s = try PostgresJobStore(url: url, nodeID: "node-\(i % 3)")
                        started.withLock { $0.append(s) }
                    } catch {
                        errors.withLock { $0.append("\(error)") }
                    }
                }
            }
            for t in threads { t.join() }
            let refused = errors.withLock { $0 }
            #expect(refused.count == 3)
            #expect(refused.allSatisfy { $0.contains("node id 'node-") && $0.contains("is in use by another running jobrunnerd") })
            let stores = started.withLock { $0 }.sorted { $0.nodeID < $1.nodeID }
            try #require(stores.map(\.nodeID) == ["node-0", "node-1", "node-2"])
            #expect(try stores[0].nodes().map(\.id) == ["node-0", "node-1", "node-2"])
            // Ids from the shared sequence never repeat across nodes.
            let a = try stores[0].takeIDs(50)
            let b = try stores[1].takeIDs(50)
            #expect(Set(a).isDisjoint(with: b) && a.count == 50 && b.count == 50)
            try commit(stores[0], [.upsert(sampleJob(1))])
            #expect(try stores[1].job(1) == sampleJob(1))
            stores[0].close()
            // A clean stop removes the node's row; its id is free again.
            #expect(try stores[1].nodes().map(\.id) == ["node-1", "node-2"])
            let again = try PostgresJobStore(url: url, nodeID: "node-0")
            again.close()
            stores[1].close()
            stores[2].close()
        }
    }

    /// While another session holds a lock that keeps the writer from committing,
    /// the queue shows nothing of the change: no state, no counter, no event, no answer.
    @Test func readersSeeNothingBeforeTheCommit() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let store = try PostgresJobStore(url: url)
            defer { store.close() }
            let queue = try JobQueue(store: store)
            let job = try enqueueCommitted(queue)
            let events = Mutex<[QueueEvent]>([])
            _ = queue.subscribe { e in events.withLock { $0.append(e) } }

            let blocker = try cluster.session(url)
            try blocker.execute("BEGIN; LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE")
            let answer = Mutex<Result<JobQueue.CancelOutcome, StoreError>?>(nil)
            let answered = Semaphore()
            queue.cancel(job.id) { r in
                answer.withLock { $0 = r }
                answered.signal()
            }
            #expect(queue.job(job.id)?.status == .pending)
            #expect(try store.job(job.id)?.status == .pending) // readers are not blocked
            #expect(queue.stats().cancelled == 0 && queue.stats().pending == 1)
            #expect(events.withLock { $0.isEmpty })
            #expect(answer.withLock { $0 } == nil)

            try blocker.execute("COMMIT")
            answered.wait()
            #expect(answer.withLock { $0 }.map { (try? $0.get()) == .cancelled(wasRunning: false) } == true)
            #expect(queue.job(job.id)?.status == .cancelled)
            #expect(try store.job(job.id)?.status == .cancelled)
            #expect(events.withLock { $0.count } == 1)
        }
    }

    /// Writes go to the server in pipelines of many statements: a large commit
    /// lands whole, and a statement the server refuses in the middle of one fails
    /// the commit with the server's reason, changes nothing, and leaves the
    /// connection fit for the next commit.
    @Test func aRefusedStatementInAPipelineFailsTheWholeCommit() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let store = try PostgresJobStore(url: url)
            defer { store.close() }
            try commit(store, (1...1000).map { .upsert(sampleJob(Int64($0))) })
            var q = JobQuery()
            q.limit = 1
            #expect(try store.query(q).total == 1000)

            try cluster.execute(url, "ALTER TABLE jobs ADD CONSTRAINT no_bad CHECK (type <> 'bad')")
            let bad = Job(id: 1500, type: "bad", params: [:], createdAt: 1)
            var ops: [StoreOp] = (1001...1400).map { .upsert(sampleJob(Int64($0))) }
            ops.append(.upsert(bad))
            ops += (1401...1450).map { .upsert(sampleJob(Int64($0))) }
            #expect {
                try commit(store, ops)
            } throws: { error in
                let message = (error as? StoreError)?.message ?? ""
                return message.hasPrefix("Storage unavailable: ") && message.contains("no_bad") && message.contains("SQLSTATE 23514")
            }
            #expect(try store.query(q).total == 1000)
            try commit(store, [.upsert(sampleJob(1001))])
            #expect(try store.query(q).total == 1001)
            #expect(store.failure == nil)
        }
    }

    @Test func anUnreachableServerIsAClearErrorWithoutThePassword() async throws {
        try await offPool {
            let url = "postgresql://jobs:s3cret@localhost/jobs?host=/nonexistent-jobrunner-socket-dir&password=s3cret"
            #expect {
                try PostgresJobStore(url: url)
            } throws: { error in
                let message = (error as? StoreError)?.message ?? ""
                return message.contains("cannot be reached") && message.contains("postgresql://jobs:***@localhost/jobs")
                    && !message.contains("s3cret")
            }
        }
    }

    @Test func urlsAreMaskedForLogs() {
        #expect(PostgresJobStore.redacted("postgresql://u:p%40ss@db.example:5432/jobs") == "postgresql://u:***@db.example:5432/jobs")
        #expect(PostgresJobStore.redacted("postgres://u@db/jobs?sslmode=require&password=x&Password=y")
            == "postgres://u@db/jobs?sslmode=require&password=***&password=***")
        #expect(PostgresJobStore.redacted("postgresql:///jobs?host=/run/postgresql") == "postgresql:///jobs?host=/run/postgresql")
        #expect(PostgresJobStore.accepts("postgres://x") && PostgresJobStore.accepts("postgresql://x") && !PostgresJobStore.accepts("/var/lib/jobs.db"))
    }

    /// The server stops under the store and comes back: a write during the outage
    /// fails (503 for the API) and changes nothing, a write with `retry` waits and
    /// lands, reads and later writes work again on new connections.
    @Test func writesFailDuringAnOutageAndSucceedAfterTheServerIsBack() async throws {
        try await offPool {
            let cluster = try TestPostgres()
            let url = try cluster.newDatabase()
            let store = try PostgresJobStore(url: url)
            defer { store.close() }
            let changes = Mutex<[String?]>([])
            store.onFailureChange { f in changes.withLock { $0.append(f?.message) } }
            try commit(store, [.upsert(sampleJob(1))])
            #expect(try store.job(1) != nil) // a reader connection now sits in the pool

            try cluster.stop()
            #expect(throws: StoreError.self) { try commit(store, [.upsert(sampleJob(2))]) }
            #expect(store.failure?.message.hasPrefix("Storage unavailable: ") == true)
            #expect(throws: StoreError.self) { try store.job(1) }
            // Kept and tried again until the server is back.
            let retried = Semaphore()
            let retriedResult = Mutex<Result<Void, StoreError>?>(nil)
            store.submit([.upsert(sampleJob(3))], retry: true) { r in
                retriedResult.withLock { $0 = r }
                retried.signal()
            }

            try cluster.start()
            retried.wait()
            #expect(throws: Never.self) { try retriedResult.withLock { $0! }.get() }
            try commit(store, [.upsert(sampleJob(4))])
            #expect(store.failure == nil)
            #expect(try store.query(JobQuery()).jobs.map(\.id) == [1, 3, 4])
            let seen = changes.withLock { $0 }
            // Told once when writes start failing (a message safe for clients: no socket
            // or host), once when they succeed again.
            #expect(seen == ["Storage unavailable: the PostgreSQL server cannot be reached", nil])
        }
    }
}
