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
@Suite(.timeLimit(.minutes(10))) struct StoredExtrasTests {
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
