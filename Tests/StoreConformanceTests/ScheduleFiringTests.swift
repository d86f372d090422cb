import Glibc
import JSON
import JobQueue
import JobStoreSQLite
import JobTestSupport
import PostgresTestSupport
import Synchronization
import Testing

/// Schedules fired by the queue's timer on a hand-moved clock, against a real
/// SQLite file: each slot fires once (also across a restart), and the overlap
/// and catch-up rules hold.
@Suite(.timeLimit(.minutes(10))) struct ScheduleFiringTests {
    /// Every whole minute.
    let everyMinute: NextSlot = { _, t in (floor(t / 60) + 1) * 60 }

    func open(_ backend: Backend, _ path: String, _ clock: ManualClock, cancelled: Cancelled = Cancelled()) throws -> (JobQueue, any JobStore) {
        let store = try backend.open(path)
        let q = try JobQueue(store: store, clock: clock)
        q.setScheduleHooks(next: everyMinute, cancel: { id in cancelled.ids.withLock { $0.append(id) } })
        return (q, store)
    }

    func durable(_ q: JobQueue) {
        let sem = Semaphore()
        q.whenDurable { _ in sem.signal() }
        sem.wait()
    }

    func add(_ q: JobQueue, _ clock: ManualClock, overlap: Schedule.Overlap = .skip, catchUp: Schedule.CatchUp = .none) {
        var s = Schedule(name: "tick", cron: "* * * * *", timezone: "UTC", jobType: "t", params: [:], createdAt: clock.now())
        s.overlap = overlap
        s.catchUp = catchUp
        let sem = Semaphore()
        q.upsertSchedule(s) { _ in sem.signal() }
        sem.wait()
    }

    func jobs(_ q: JobQueue) throws -> [Job] {
        var query = JobQuery()
        query.schedule = "tick"
        return try q.list(query).jobs
    }

    @Test(arguments: Backend.allCases) func eachSlotFiresOnceAcrossARestart(_ backend: Backend) async throws {
        try await offPool {
            let path = try backend.newPlace()
            let clock = ManualClock()
            do {
                let (q, store) = try open(backend, path, clock, cancelled: Cancelled())
                add(q, clock, overlap: .allow)
                let first = try #require(q.schedule("tick")?.nextRunAt)
                clock.advance(first - clock.now())
                durable(q)
                #expect(try jobs(q).count == 1)
                #expect(q.schedule("tick")?.lastRunAt == first)
                #expect(q.schedule("tick")?.nextRunAt == first + 60)
                store.close()   // as if killed right after the firing was committed
            }
            let (q, store) = try open(backend, path, clock)
            defer { store.close() }
            durable(q)
            #expect(try jobs(q).count == 1)    // the slot did not fire again
            clock.advance(60)
            durable(q)
            #expect(try jobs(q).count == 2)
        }
    }

    @Test(arguments: Backend.allCases) func overlapSkipAllowAndCancelPrevious(_ backend: Backend) async throws {
        try await offPool {
            for (overlap, expected) in [(Schedule.Overlap.skip, 1), (.allow, 2), (.cancelPrevious, 2)] {
                let clock = ManualClock()
                let cancelled = Cancelled()
                let (q, store) = try open(backend, try backend.newPlace(), clock, cancelled: cancelled)
                defer { store.close() }
                add(q, clock, overlap: overlap)
                clock.advance(try #require(q.schedule("tick")?.nextRunAt) - clock.now())
                durable(q)
                let first = try #require(try jobs(q).first)
                _ = q.claimNext()            // still running at the next slot
                clock.advance(60)
                durable(q)
                #expect(try jobs(q).count == expected, "\(overlap)")
                #expect(cancelled.ids.withLock { $0 } == (overlap == .cancelPrevious ? [first.id] : []))
            }
        }
    }

    @Test(arguments: Backend.allCases) func missedSlotsFollowTheCatchUpRule(_ backend: Backend) async throws {
        try await offPool {
            for (rule, expected) in [(Schedule.CatchUp.none, 0), (.latest, 1)] {
                let path = try backend.newPlace()
                let clock = ManualClock()
                do {
                    let (q, store) = try open(backend, path, clock)
                    add(q, clock, catchUp: rule)
                    store.close()
                }
                clock.advance(3600)          // down for an hour: 60 slots missed
                let (q, store) = try open(backend, path, clock)
                defer { store.close() }
                durable(q)
                #expect(try jobs(q).count == expected, "\(rule)")
                let next = try #require(q.schedule("tick")?.nextRunAt)
                #expect(next > clock.now() && next <= clock.now() + 60)
            }
        }
    }

    @Test(arguments: Backend.allCases) func aPausedScheduleDoesNotFire(_ backend: Backend) async throws {
        try await offPool {
            let clock = ManualClock()
            let (q, store) = try open(backend, try backend.newPlace(), clock)
            defer { store.close() }
            add(q, clock)
            var s = try #require(q.schedule("tick"))
            s.paused = true
            let sem = Semaphore()
            q.upsertSchedule(s) { _ in sem.signal() }
            sem.wait()
            clock.advance(600)
            durable(q)
            #expect(try jobs(q).isEmpty)
        }
    }
}

final class Cancelled: Sendable {
    let ids = Mutex<[Int64]>([])
}
