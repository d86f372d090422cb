import Essentials
import HTTPTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct EssentialsTests {
    @Test func joinableThreadRunsItsBodyAndJoinWaitsForIt() async throws {
        try await offPool {
            let ran = Atomic<Int>(0)
            let thread = try ThreadLauncher.joinable(name: "a-very-long-thread-name") {
                ran.store(1, ordering: .sequentiallyConsistent)
            }
            thread.join()
            #expect(ran.load(ordering: .sequentiallyConsistent) == 1)
            thread.join()  // a second join returns at once
        }
    }

    @Test func detachedThreadRuns() async throws {
        let value = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
            do {
                try ThreadLauncher.detached(name: "detached") { c.resume(returning: 42) }
            } catch {
                c.resume(throwing: error)
            }
        }
        #expect(value == 42)
    }

    @Test func monotonicClockNeverGoesBack() {
        var last = monotonicNow()
        for _ in 0..<1000 {
            let now = monotonicNow()
            #expect(now >= last)
            last = now
        }
    }

    @Test func logLevelsAreOrdered() {
        #expect(LogLevel.debug < .info && LogLevel.info < .warning && LogLevel.warning < .error)
    }
}
