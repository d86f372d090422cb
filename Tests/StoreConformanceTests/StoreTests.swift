import Glibc
import JSON
import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Synchronization
import Testing

/// Every store keeps and returns what it is given alike (the suites of this
/// target run against each `StoreBackend`).
@Suite(.timeLimit(.minutes(10))) struct StoreTests {
    @Test(arguments: Backend.allCases) func everyFieldRoundTrips(_ backend: Backend) async throws {
        try await offPool {
            let path = try backend.newPlace()
            var job = sampleJob(7, status: .completed)
            job.progress = JobProgress(percent: 100, message: "Complete")
            job.result = ["sequence": [0, 1, 1, 2], "last": .int(7_778_742_049), "note": "ünïcode ✓"]
            job.error = nil
            job.startedAt = 1_764_371_235.25
            job.completedAt = 1_764_371_240.75
            job.sequence = 42
            var failed = sampleJob(8, status: .failed)
            failed.error = "it broke"
            do {
                let store = try backend.open(path)
                try commit(store, [.upsert(job), .upsert(failed)])
                #expect(try store.job(7) == job)
                store.close()
            }
            let reopened = try backend.open(path)
            defer { reopened.close() }
            #expect(try reopened.job(7) == job)
            #expect(try reopened.job(8)?.error == "it broke")
            #expect(try reopened.job(9) == nil)
            let snapshot = try reopened.load(recentFinished: 10)
            #expect(snapshot.recentFinished.map(\.id) == [7, 8])
            #expect(snapshot.stats.completed == 1 && snapshot.stats.failed == 1 && snapshot.stats.total == 2)
            #expect(snapshot.nextID == 9)
        }
    }

    @Test(arguments: Backend.allCases) func progressUpdatesOnlyRunningJobs(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            try commit(store, [.upsert(sampleJob(1, status: .running)), .upsert(sampleJob(2, status: .completed))])
            try commit(store, [.progress(id: 1, progress: JobProgress(percent: 40, message: "busy"), sequence: 5),
                               .progress(id: 2, progress: JobProgress(percent: 40, message: "late"), sequence: 5)])
            #expect(try store.job(1)?.progress == JobProgress(percent: 40, message: "busy"))
            #expect(try store.job(1)?.sequence == 5)
            #expect(try store.job(2)?.progress == JobProgress(percent: 0, message: "Queued"))
        }
    }

    @Test(arguments: Backend.allCases) func idsAreNeverReusedAfterClearing(_ backend: Backend) async throws {
        try await offPool {
            let path = try backend.newPlace()
            do {
                let store = try backend.open(path)
                try commit(store, [.upsert(sampleJob(1, status: .completed)), .upsert(sampleJob(2, status: .cancelled))])
                try commit(store, [.deleteFinished])
                store.close()
            }
            let store = try backend.open(path)
            defer { store.close() }
            let snapshot = try store.load(recentFinished: 10)
            #expect(snapshot.stats.total == 0)
            #expect(snapshot.nextID == 3)
        }
    }

    @Test(arguments: Backend.allCases) func pruneByAgeAndCountReportsWhatItRemoved(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.fresh()
            defer { store.close() }
            var ops: [StoreOp] = []
            for id in 1...10 {
                var job = sampleJob(Int64(id), status: id % 2 == 0 ? .completed : .failed)
                job.completedAt = Double(1000 + id)
                ops.append(.upsert(job))
            }
            ops.append(.upsert(sampleJob(11)))
            try commit(store, ops)
            let reported = Mutex<[[PrunedJob]]>([])
            try commit(store, [.prune(before: 1004.5, keep: nil, report: { c in reported.withLock { $0.append(c) } })])
            try commit(store, [.prune(before: nil, keep: 3, report: { c in reported.withLock { $0.append(c) } })])
            let removed = reported.withLock { $0 }
            #expect(removed.count == 2)
            #expect(removed[0].map(\.id).sorted() == [1, 2, 3, 4])
            #expect(removed[0].filter { $0.status == .completed }.count == 2)
            #expect(removed[1].map(\.id).sorted() == [5, 6, 7])        // by id: 8, 9, 10 are the newest
            let left = try store.query(JobQuery()).jobs.map(\.id)
            #expect(left == [8, 9, 10, 11])
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct PaginationTests {
    func store(_ backend: Backend, jobs: Int) throws -> any JobStore {
        let store = try backend.fresh()
        var ops: [StoreOp] = []
        for id in 1...jobs {
            var job = sampleJob(Int64(id), status: id % 3 == 0 ? .completed : .pending)
            if id % 5 == 0 { job = Job(id: Int64(id), type: "prime", params: [:], createdAt: 1) }
            ops.append(.upsert(job))
        }
        try commit(store, ops)
        return store
    }

    func ids(_ page: JobPage) -> [Int64] { page.jobs.map(\.id) }

    @Test(arguments: Backend.allCases) func newestPageInAscendingOrderThenOlder(_ backend: Backend) async throws {
        try await offPool {
            let s = try store(backend, jobs: 25)
            defer { s.close() }
            var q = JobQuery()
            q.limit = 10
            let first = try s.query(q)
            #expect(ids(first) == Array(16...25))
            #expect(first.total == 25 && first.more)
            q.beforeID = 16
            let second = try s.query(q)
            #expect(ids(second) == Array(6...15))
            q.beforeID = 6
            let last = try s.query(q)
            #expect(ids(last) == Array(1...5))
            #expect(!last.more)
        }
    }

    @Test(arguments: Backend.allCases) func forwardWithAfterIDAndDescending(_ backend: Backend) async throws {
        try await offPool {
            let s = try store(backend, jobs: 25)
            defer { s.close() }
            var q = JobQuery()
            q.limit = 4
            q.afterID = 20
            #expect(ids(try s.query(q)) == [21, 22, 23, 24])
            q.order = .desc
            #expect(ids(try s.query(q)) == [24, 23, 22, 21])
            q.afterID = nil
            #expect(ids(try s.query(q)) == [25, 24, 23, 22])
        }
    }

    @Test(arguments: Backend.allCases) func filtersAndTotals(_ backend: Backend) async throws {
        try await offPool {
            let s = try store(backend, jobs: 30)
            defer { s.close() }
            var q = JobQuery()
            q.types = ["prime"]
            let primes = try s.query(q)
            #expect(ids(primes) == [5, 10, 15, 20, 25, 30])
            #expect(primes.total == 6)
            q.types = ["prime", "echo"]
            q.statuses = [.pending]
            q.limit = 4
            let several = try s.query(q)
            #expect(ids(several) == [26, 28, 29, 30]) // every pending job is a prime or an echo
            #expect(several.total == 22)
            q = JobQuery()
            q.statuses = [.completed]
            q.limit = 3
            let done = try s.query(q)
            #expect(ids(done) == [21, 24, 27])
            #expect(done.total == 8) // multiples of 3 except 15 and 30 (prime jobs are pending)
        }
    }

    @Test(arguments: Backend.allCases) func memoryQueryAgreesWithSQLite(_ backend: Backend) async throws {
        try await offPool {
            let s = try store(backend, jobs: 40)
            defer { s.close() }
            let all = try s.query({ var q = JobQuery(); q.limit = 100; return q }()).jobs
            for limit in [1, 7, 100] {
                for after in [nil, 0, 13] as [Int64?] {
                    for before in [nil, 30] as [Int64?] {
                        for order in [JobQuery.Order.asc, .desc] {
                            for types in [[], ["prime"], ["echo", "prime"]] {
                                var q = JobQuery()
                                q.limit = limit
                                q.afterID = after
                                q.beforeID = before
                                q.order = order
                                q.types = types
                                let sql = try s.query(q)
                                let memory = q.run(over: all)
                                #expect(ids(sql) == ids(memory), "\(q)")
                                #expect(sql.more == memory.more && sql.total == memory.total)
                            }
                        }
                    }
                }
            }
        }
    }
}
