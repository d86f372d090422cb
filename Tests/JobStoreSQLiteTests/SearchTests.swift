import Glibc
import JSON
import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Synchronization
import Testing

/// History at scale: the new filters (queue, time range, text search) give the
/// same answers from SQLite (FTS5) and PostgreSQL (tsvector) as from memory,
/// existing databases migrate, and bulk deletes remove finished jobs only.
@Suite(.serialized) struct SearchTests {
    /// Jobs with varied params, errors, queues, statuses and creation times.
    /// `inOrder: false` makes creation times jump back and forth (a clock that
    /// was set back): time ranges are then not id ranges.
    static func jobs(inOrder: Bool = true) -> [Job] {
        let words = ["backup main database", "disk-usage /var", "hello world", "Héllo Wörld", "backups nightly",
                     "report 2025 Q4", "archive \"quoted\" thing", "日本語 テキスト"]
        let errors: [String?] = [nil, "Exited with status 2: disk full", "Timed out after 30 seconds", nil,
                                 "Killed by signal 9 (SIGKILL)"]
        let queues = ["default", "nightly", "reports"]
        var out: [Job] = []
        for i in 1...120 {
            var job = Job(id: Int64(i), type: i % 4 == 0 ? "prime" : "echo",
                          params: ["message": .string(words[i % words.count]), "delay": .int(Int64(i % 7))],
                          createdAt: 1_764_000_000 + Double(inOrder ? i : (i * 37) % 120) * 10)
            job.queue = queues[i % queues.count]
            switch i % 5 {
            case 0: job.status = .completed
            case 1: job.status = .failed
            case 2: job.status = .cancelled
            case 3: job.status = .running
            default: job.status = .pending
            }
            if job.status == .failed { job.error = errors[i % errors.count] ?? "failed" }
            out.append(job)
        }
        return out
    }

    static func store(_ jobs: [Job], _ backend: Backend = .sqlite) throws -> any JobStore {
        let store = try backend.fresh()
        try commit(store, jobs.map { .upsert($0) })
        return store
    }

    func ids(_ page: JobPage) -> [Int64] { page.jobs.map(\.id) }

    static let texts = ["backup", "back", "back*", "BACKUP main", "\"main database\"", "\"main data\"*", "\"database main\"",
                               "disk-usage", "disk", "usage var", "héllo", "HÉLLO wö*", "2025", "q4 report", "exited status 2", "sigkill",
                               "timed out", "message", "日本語", "nothing-like-this", "quoted", "7", "1*"]

    /// Every text with every combination of the other filters and cursors; one
    /// store per backend and creation order.
    @Test(arguments: Backend.allCases)
    func searchAgreesWithMemory(_ backend: Backend) async throws {
        try await offPool {
            for inOrder in [true, false] {
                let jobs = Self.jobs(inOrder: inOrder)
                let s = try Self.store(jobs, backend)
                defer { s.close() }
                for text in Self.texts {
                    for statuses in [[], [JobStatus.failed], [.pending, .running]] {
                        for queues in [[], ["nightly"], ["default", "reports"]] {
                            for (after, before) in [(nil, nil), (1_764_000_300.0, nil), (nil, 1_764_000_600.0), (1_764_000_300.0, 1_764_000_900.0)] as [(Double?, Double?)] {
                                for cursor in [nil, 60] as [Int64?] {
                                    var q = JobQuery()
                                    q.search = try JobSearch(text)
                                    q.statuses = statuses
                                    q.queues = queues
                                    q.createdAfter = after
                                    q.createdBefore = before
                                    q.beforeID = cursor
                                    q.limit = 7
                                    let sql = try s.query(q)
                                    let memory = q.run(over: jobs)
                                    #expect(ids(sql) == ids(memory), "\(text) \(statuses) \(queues) \(String(describing: after)) \(String(describing: before))")
                                    #expect(sql.total == memory.total && sql.more == memory.more, "\(text)")
                                    // The other way: the oldest jobs above the cursor.
                                    q.beforeID = nil
                                    q.afterID = cursor
                                    q.order = .desc
                                    let up = try s.query(q)
                                    let upMemory = q.run(over: jobs)
                                    #expect(ids(up) == ids(upMemory) && up.total == upMemory.total && up.more == upMemory.more, "\(text) after")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: Backend.allCases) func searchFindsWordsPrefixesAndPhrasesInParamsAndErrors(_ backend: Backend) async throws {
        try await offPool {
            let jobs = Self.jobs()
            let s = try Self.store(jobs, backend)
            defer { s.close() }
            func found(_ text: String) throws -> Set<Int64> {
                var q = JobQuery()
                q.search = try JobSearch(text)
                return Set(try s.query(q).jobs.map(\.id))
            }
            let backup = Set(jobs.filter { $0.params["message"]?.stringValue?.hasPrefix("backup") == true }.map(\.id))
            #expect(try found("backup*") == backup)                       // "backup ..." and "backups ..."
            #expect(try found("backup").count == 15)                      // the whole word: only "backup main database"
            #expect(try found("\"backup main\"").count == 15)             // the phrase
            #expect(try found("\"backup mai\"*").count == 15)             // the phrase, its last word a prefix
            #expect(try found("\"main backup\"").isEmpty)                 // words out of order are not the phrase
            #expect(try found("disk full") == Set(jobs.filter { $0.error?.contains("disk full") == true }.map(\.id)))
            #expect(try found("héllo") == Set(jobs.filter { $0.params["message"]?.stringValue == "Héllo Wörld" }.map(\.id)))
            #expect(try found("zzz").isEmpty)
        }
    }

    @Test(arguments: Backend.allCases) func timeRangesWithoutSearchAgreeWithMemoryInAndOutOfOrder(_ backend: Backend) async throws {
        try await offPool {
            for inOrder in [true, false] {
                let jobs = Self.jobs(inOrder: inOrder)
                let s = try Self.store(jobs, backend)
                defer { s.close() }
                for (after, before) in [(1_764_000_300.0, nil), (nil, 1_764_000_600.0), (1_764_000_305.0, 1_764_000_900.0),
                                        (1_764_009_000.0, nil), (1_764_000_500.0, 1_764_000_500.0)] as [(Double?, Double?)] {
                    for statuses in [[], [JobStatus.completed]] {
                        var q = JobQuery()
                        q.createdAfter = after
                        q.createdBefore = before
                        q.statuses = statuses
                        q.limit = 5
                        let sql = try s.query(q)
                        let memory = q.run(over: jobs)
                        #expect(ids(sql) == ids(memory) && sql.total == memory.total && sql.more == memory.more,
                                "\(inOrder) \(String(describing: after)) \(String(describing: before))")
                    }
                }
            }
        }
    }

    @Test(arguments: Backend.allCases) func aJobCreatedBeforeAnEarlierOneKeepsTimeRangesRight(_ backend: Backend) async throws {
        try await offPool {
            // In order first (time ranges are id ranges), then a job whose clock went back.
            let s = try Self.store([Job(id: 1, type: "echo", params: [:], createdAt: 100),
                                    Job(id: 2, type: "echo", params: [:], createdAt: 200)], backend)
            defer { s.close() }
            var q = JobQuery()
            q.createdBefore = 150
            #expect(ids(try s.query(q)) == [1])
            try commit(s, [.upsert(Job(id: 3, type: "echo", params: [:], createdAt: 50))])
            #expect(ids(try s.query(q)) == [1, 3])
            q.createdBefore = nil
            q.createdAfter = 60
            #expect(ids(try s.query(q)) == [1, 2])
        }
    }

    @Test(arguments: Backend.allCases) func countingStopsAtTheCapForSearches(_ backend: Backend) async throws {
        try await offPool {
            var jobs: [Job] = []
            for i in 1...(JobQuery.countCap + 5) {
                // Every tenth a "prime" job, the newest one among them id 10,000.
                jobs.append(Job(id: Int64(i), type: i % 10 == 0 ? "prime" : "echo", params: ["message": "same words"], createdAt: Double(i)))
            }
            let s = try Self.store(jobs, backend)
            defer { s.close() }
            var q = JobQuery()
            q.search = try JobSearch("same")
            q.limit = 3
            let sql = try s.query(q)
            let memory = q.run(over: jobs)
            #expect(sql.total == JobQuery.countCap && sql.totalCapped)
            #expect(memory.total == JobQuery.countCap && memory.totalCapped)
            #expect(ids(sql) == [10_003, 10_004, 10_005] && ids(memory) == ids(sql))
            q.search = try JobSearch("words")
            q.createdBefore = 101
            let few = try s.query(q)
            #expect(few.total == 100 && !few.totalCapped)
            // Another filter over more candidates than the cap: the newest ones count.
            q.createdBefore = nil
            q.types = ["prime"]
            let typed = try s.query(q)
            let typedMemory = q.run(over: jobs)
            #expect(typed.total == typedMemory.total && typed.totalCapped && typedMemory.totalCapped && ids(typed) == ids(typedMemory))
            #expect(typed.total == 1_000)
            q.createdBefore = 5_000
            let fewer = try s.query(q)
            #expect(fewer.total == q.run(over: jobs).total && fewer.total == 499 && !fewer.totalCapped)
        }
    }

    @Test(arguments: Backend.allCases) func anErrorSetLaterIsFoundAndDeletedJobsAreNot(_ backend: Backend) async throws {
        try await offPool {
            let s = try Self.store([Job(id: 1, type: "echo", params: ["message": "one"], createdAt: 1)], backend)
            defer { s.close() }
            var failed = Job(id: 1, type: "echo", params: ["message": "one"], createdAt: 1)
            failed.status = .failed
            failed.error = "Exited with status 3: quota exceeded"
            try commit(s, [.upsert(failed)])
            var q = JobQuery()
            q.search = try JobSearch("quota")
            #expect(ids(try s.query(q)) == [1])
            try commit(s, [.deleteFinished])
            #expect(ids(try s.query(q)).isEmpty)
        }
    }

    @Test func aVersion4DatabaseMigratesAndItsJobsAreSearchable() async throws {
        try await offPool {
            let path = tempDB()
            // The same rows in the layout of version 4: no search index, no time
            // index, no webhook outbox (version 6).
            let seed = try SQLiteJobStore(path: tempDB())
            try commit(seed, Self.jobs().map { .upsert($0) })
            seed.close()
            let rc = system("""
                sqlite3 \(seed.path) "DROP TRIGGER jobs_fts_insert; DROP TRIGGER jobs_fts_delete; DROP TRIGGER jobs_fts_update; \
                DROP TABLE jobs_fts; DROP INDEX jobs_created; DROP TABLE webhook_deliveries; PRAGMA user_version = 4;" && cp \(seed.path) \(path)
                """)
            #expect(rc == 0)
            let migrated = try SQLiteJobStore(path: path)
            defer { migrated.close() }
            var q = JobQuery()
            q.search = try JobSearch("disk")
            q.createdAfter = 1_764_000_500
            let page = try migrated.query(q)
            #expect(!page.jobs.isEmpty)
            #expect(ids(page) == ids(q.run(over: Self.jobs())))
            let probe = system("test \"$(sqlite3 \(path) 'PRAGMA user_version')\" = \(SQLiteJobStore.schemaVersion)")
            #expect(probe == 0)
        }
    }

    /// Phrases whose words also appear in the wrong order in many jobs (more
    /// than a page of candidates to check), and a word longer than an index
    /// entry's: the same answers as memory.
    @Test(arguments: Backend.allCases) func phrasesAndLongWordsAgreeWithMemory(_ backend: Backend) async throws {
        try await offPool {
            var jobs: [Job] = []
            for i in 1...1_200 {
                let text = i % 300 == 0 ? "backup main now" : "main backup now"
                var job = Job(id: Int64(i), type: "echo", params: ["message": .string(text)], createdAt: Double(i))
                if i % 600 == 0 { job.status = .completed }
                jobs.append(job)
            }
            let long = String(repeating: "x", count: 3_000)
            jobs.append(Job(id: 1_201, type: "echo", params: ["message": .string(long + " backup")], createdAt: 1_201))
            let s = try Self.store(jobs, backend)
            defer { s.close() }
            let short = String(repeating: "x", count: 150)
            for text in ["\"backup main\"", "\"backup main\" now", "\"main backup\"", "backup", "\(short)*", short, "\"main ba\"*", "nothing"] {
                for (limit, statuses) in [(1, []), (3, [JobStatus.pending]), (1_000, [])] {
                    var q = JobQuery()
                    q.search = try JobSearch(text)
                    q.limit = limit
                    q.statuses = statuses
                    let sql = try s.query(q)
                    let memory = q.run(over: jobs)
                    #expect(ids(sql) == ids(memory) && sql.total == memory.total && sql.more == memory.more, "\(text) \(limit)")
                    q.afterID = 500
                    let up = try s.query(q)
                    let upMemory = q.run(over: jobs)
                    #expect(ids(up) == ids(upMemory) && up.total == upMemory.total && up.more == upMemory.more, "\(text) \(limit) after")
                }
            }
            var q = JobQuery()
            q.search = try JobSearch("\"backup main\"")
            #expect(ids(try s.query(q)) == [300, 600, 900, 1_200])
        }
    }

    /// A job whose text has more distinct words than an index entry holds is
    /// found by words, prefixes and phrases, and counted, as in memory.
    @Test(arguments: Backend.allCases) func aJobWithMoreWordsThanAnIndexEntryHoldsIsFound(_ backend: Backend) async throws {
        try await offPool {
            // 200,000 distinct words: about 1.4 MB of them.
            let huge = (0..<200_000).map { "w\($0)" }.joined(separator: " ")
            var jobs = [Job(id: 1, type: "echo", params: ["message": "w5 alone"], createdAt: 1),
                        Job(id: 2, type: "echo", params: ["message": .string(huge)], createdAt: 2),
                        Job(id: 3, type: "echo", params: ["message": "w6 w5"], createdAt: 3)]
            jobs[1].status = .completed
            let s = try Self.store(jobs, backend)
            defer { s.close() }
            for text in ["w199999", "w19999*", "\"w5 w6\"", "\"w6 w5\"", "w5", "nothing"] {
                for statuses in [[], [JobStatus.pending]] {
                    var q = JobQuery()
                    q.search = try JobSearch(text)
                    q.statuses = statuses
                    let sql = try s.query(q)
                    let memory = q.run(over: jobs)
                    #expect(ids(sql) == ids(memory) && sql.total == memory.total, "\(text) \(statuses) \(ids(sql)) \(ids(memory))")
                }
            }
            var q = JobQuery()
            q.search = try JobSearch("\"w5 w6\"")
            #expect(ids(try s.query(q)) == [2])
        }
    }

    /// A PostgreSQL database of version 1 (before the webhook outbox and the
    /// search words) migrates: its jobs are found by text and time, and
    /// deliveries are kept.
    @Test(arguments: [true, false]) func aVersion1PostgreSQLDatabaseMigratesAndItsJobsAreSearchable(inOrder: Bool) async throws {
        try await offPool {
            let jobs = Self.jobs(inOrder: inOrder)
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let seed = try PostgresJobStore(url: url)
            try commit(seed, jobs.map { .upsert($0) })
            seed.close()
            try cluster.execute(url, """
                DROP TABLE webhook_deliveries; DROP INDEX jobs_words; DROP INDEX jobs_created; ALTER TABLE jobs DROP COLUMN words;
                ALTER TABLE jobs DROP COLUMN node; DROP INDEX jobs_claim; DROP TABLE nodes; DROP SEQUENCE job_ids; DROP TABLE leader_lease;
                DELETE FROM meta WHERE key = 'created_in_order'; UPDATE schema_version SET version = 1
                """)
            let migrated = try PostgresJobStore(url: url)
            var q = JobQuery()
            q.search = try JobSearch("disk")
            q.createdAfter = 1_764_000_500
            let page = try migrated.query(q)
            #expect(!page.jobs.isEmpty)
            #expect(ids(page) == ids(q.run(over: jobs)) && page.total == q.run(over: jobs).total)
            var range = JobQuery()
            range.createdAfter = 1_764_000_300
            range.createdBefore = 1_764_000_900
            #expect(ids(try migrated.query(range)) == ids(range.run(over: jobs)))
            try commit(migrated, [.webhookOutbox(WebhookDelivery(id: "d1", url: "http://127.0.0.1:9/hook", event: .jobCompleted,
                                                                  createdAt: 5, subject: .job(jobs[0]), renderer: { _ in Array("{}".utf8) }))])
            #expect(try migrated.dueWebhookDeliveries(url: "http://127.0.0.1:9/hook", limit: 5).map(\.id) == ["d1"])
            migrated.close()
            // Opened again: nothing left to migrate, the rows are there.
            let again = try PostgresJobStore(url: url)
            defer { again.close() }
            #expect(ids(try again.query(q)) == ids(page))
            #expect(ids(try again.query(range)) == ids(range.run(over: jobs)))
            #expect(try again.webhookDeliveries(limit: 5, before: nil).count == 1)
        }
    }

    @Test(arguments: Backend.allCases) func deleteJobsRemovesOnlyFinishedOnesWithTheirLogs(_ backend: Backend) async throws {
        try await offPool {
            let jobs = Self.jobs()
            let s = try Self.store(jobs, backend)
            defer { s.close() }
            try commit(s, [.appendLog(id: 5, lines: [LogLine(seq: 2, ts: 1, stream: .stdout, text: "a line")], dropped: 0, maxBytes: 1 << 20)])
            let reported = Cell2<[PrunedJob]>()
            try commit(s, [.deleteJobs(ids: [3, 4, 5, 6, 7, 999], report: { reported.set($0) })])
            // 3 running and 4 pending stay; 5 completed, 6 failed, 7 cancelled go; 999 never existed.
            #expect(reported.get().map(\.id).sorted() == [5, 6, 7])
            #expect(try s.job(3) != nil && s.job(4) != nil)
            #expect(try s.job(5) == nil && s.job(6) == nil && s.job(7) == nil)
            #expect(try s.log(5, after: 0) == nil)
            var q = JobQuery()
            q.search = try JobSearch(jobs[4].params["message"]!.stringValue!)
            #expect(!ids(try s.query(q)).contains(5))
        }
    }
}

/// A value set on the writer thread and read after the commit.
final class Cell2<T: Sendable>: Sendable {
    private let m = Mutex<T?>(nil)
    func set(_ v: T) { m.withLock { $0 = v } }
    func get() -> T { m.withLock { $0! } }
}
