import Essentials
import Glibc
import JSON
import JobQueue
import JobStorePostgres
import PostgresTestSupport
import Synchronization
import Testing

/// What both stores keep beyond jobs (logs, schedules, queue settings,
/// idempotency keys), with identical answers.
@Suite struct StoredExtrasTests {
    @Test(arguments: Backend.allCases) func logsKeepEveryByteAndAreTrimmedByTheSameRuleAsInMemory(_ backend: Backend) async throws {
        try await offPool {
            let place = try backend.newPlace()
            let texts = ["plain", "with\u{0}nul", "ünïcode ✓ 🚀", "", "'quotes' \"and\" \\backslash\\", String(repeating: "x", count: 300)]
            var lines: [LogLine] = []
            for (i, text) in (texts + texts + texts).enumerated() {
                lines.append(LogLine(seq: UInt64(i + 1), ts: 1_764_371_234.25 + Double(i), stream: i % 3 == 0 ? .stderr : .stdout, text: text))
            }
            var expected = JobLog()
            do {
                let store = try backend.open(place)
                try commit(store, [.upsert(sampleJob(1, status: .running))])
                for chunk in stride(from: 0, to: lines.count, by: 4) {
                    let part = Array(lines[chunk..<min(chunk + 4, lines.count)])
                    try commit(store, [.appendLog(id: 1, lines: part, dropped: 0, maxBytes: 700)])
                    expected.append(part, maxBytes: 700)
                }
                try commit(store, [.appendLog(id: 1, lines: [], dropped: 2, maxBytes: 700)])
                expected.dropped += 2
                store.close()
            }
            #expect(expected.dropped > 2, "the budget was never reached")
            let store = try backend.open(place)
            defer { store.close() }
            #expect(try store.log(1, after: 0) == expected)
            let last = expected.lines[expected.lines.count - 2].seq
            #expect(try store.log(1, after: last)?.lines == Array(expected.lines.suffix(1)))
            #expect(try store.log(2, after: 0) == nil)
            // A page: at most `limit` lines after `seq`, the same from every store
            // and from a log kept in memory.
            let from = expected.lines[1].seq
            let page = try #require(try store.log(1, after: from, limit: 3))
            #expect(page.lines == Array(expected.lines[2..<5]))
            #expect(page.dropped == expected.dropped && page.bytes == expected.bytes)
            #expect(expected.after(from, limit: 3) == page)
            #expect(try store.log(1, after: 0, limit: 0)?.lines == [])
            #expect(try store.log(1, after: last, limit: 10)?.lines == Array(expected.lines.suffix(1)))
            #expect(try store.log(2, after: 0, limit: 1) == nil)
        }
    }

    @Test(arguments: Backend.allCases) func schedulesQueuesAndIdempotencyKeysSurviveAReopen(_ backend: Backend) async throws {
        try await offPool {
            let place = try backend.newPlace()
            var nightly = Schedule(name: "nightly", cron: "30 3 * * *", timezone: "Europe/Paris", jobType: "echo",
                                   params: ["message": "hi"], options: ["queue": "batch"], createdAt: 1_764_000_000)
            nightly.nextRunAt = 1_764_037_800
            nightly.lastJobID = 4
            let other = Schedule(name: "Zed", cron: "* * * * *", timezone: "UTC", jobType: "prime", params: [:], createdAt: 5)
            let gone = Schedule(name: "gone", cron: "* * * * *", timezone: "UTC", jobType: "prime", params: [:], createdAt: 5)
            var keyed = sampleJob(3)
            keyed.idempotencyKey = "order-17"
            keyed.queue = "batch"
            keyed.priority = -5
            keyed.maxAttempts = 3
            keyed.attempt = 2
            keyed.runAt = 1_764_000_100.5
            keyed.timeout = 30
            keyed.backoff = Backoff(initial: 2, max: 60)
            keyed.errors = [AttemptError(attempt: 1, error: "first try failed", at: 1_764_000_050.125)]
            keyed.schedule = "nightly"
            do {
                let store = try backend.open(place)
                try commit(store, [.upsertSchedule(nightly), .upsertSchedule(other), .upsertSchedule(gone),
                                   .queueSettings(name: "batch", QueueSettings(concurrency: 2, paused: true)),
                                   .queueSettings(name: "fast", QueueSettings()), .upsert(keyed)])
                try commit(store, [.deleteSchedule(name: "gone"), .queueSettings(name: "fast", QueueSettings(concurrency: 8))])
                store.close()
            }
            let store = try backend.open(place)
            defer { store.close() }
            let snapshot = try store.load(recentFinished: 10)
            #expect(snapshot.schedules.map(\.name) == ["Zed", "nightly"]) // by byte, as SQLite sorts
            #expect(snapshot.schedules.last?.nextRunAt == nightly.nextRunAt)
            #expect(snapshot.schedules.last?.lastJobID == 4)
            #expect(snapshot.queues == ["batch": QueueSettings(concurrency: 2, paused: true), "fast": QueueSettings(concurrency: 8)])
            #expect(snapshot.queueCounts["batch"]?.pending == 1)
            #expect(try store.job(idempotencyKey: "order-17") == keyed)
            #expect(try store.job(idempotencyKey: "order-18") == nil)
            var q = JobQuery()
            q.schedule = "nightly"
            #expect(try store.query(q).jobs.map(\.id) == [3])
        }
    }
}

@Suite struct PostgresStoreTests {
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
            let job = try DurableQueueTests().enqueue(queue)
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
