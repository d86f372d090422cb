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
@Suite(.serialized, .timeLimit(.minutes(10))) struct SearchTests {
    static func jobs(inOrder: Bool = true) -> [Job] { searchJobs(inOrder: inOrder) }

    static func store(_ jobs: [Job], _ backend: Backend = .sqlite) throws -> any JobStore { try storeHolding(jobs, backend) }

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
