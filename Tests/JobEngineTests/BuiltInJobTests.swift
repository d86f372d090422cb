import JSON
import JobEngine
import JobQueue
import Synchronization
import Testing

/// Runs a built-in type directly and records its progress.
func runJob(_ type: any JobType, _ params: JSONValue) async throws -> (JSONValue, [JobProgress]) {
    let seen = Mutex<[JobProgress]>([])
    let context = JobContext(jobID: 1) { p, m in seen.withLock { $0.append(JobProgress(percent: p, message: m)) } }
    let result = try await type.run(try type.validate(params), context)
    return (result, seen.withLock { $0 })
}

@Suite(.timeLimit(.minutes(10))) struct BuiltInJobTests {
    @Test func primeFindsPrimesWithProgressEveryFivePercent() async throws {
        let (result, progress) = try await runJob(PrimeJob(), ["limit": 100])
        #expect(result == [
            "message": "Found 25 prime numbers up to 100", "prime_count": 25, "largest": 97,
            "sample": [2, 3, 5, 7, 11, 13, 17, 19, 23, 29],
        ])
        #expect(progress.last == JobProgress(percent: 100, message: "Complete!"))
        let steps = progress.dropLast()
        #expect(steps.count == 20)
        #expect(steps.first?.message.hasPrefix("Checked 5 numbers, found 3 primes") == true)
        #expect(zip(steps, steps.dropFirst()).allSatisfy { $1.percent >= $0.percent + 5 })
    }

    @Test func primeAtTheLargestLimit() async throws {
        let (result, _) = try await runJob(PrimeJob(), ["limit": 100_000])
        #expect(result["prime_count"] == 9592)
        #expect(result["largest"] == 99991)
    }

    @Test func fibonacciUpToF49NeedsSixtyFourBits() async throws {
        let (result, progress) = try await runJob(FibonacciJob(), ["count": 50])
        #expect(result["count"] == 50)
        #expect(result["last"] == .int(7_778_742_049))
        #expect(result["sequence"]?.arrayValue?.prefix(6) == [0, 1, 1, 2, 3, 5])
        #expect(result["message"] == "Calculated 50 Fibonacci numbers")
        #expect(progress.first == JobProgress(percent: 0, message: "Calculated F(0) = 0"))
        #expect(progress[49] == JobProgress(percent: 100, message: "Calculated F(49) = 7778742049"))
        #expect(progress[10] == JobProgress(percent: 20, message: "Calculated F(10) = 55"))
    }

    @Test func echoCountsDownThenEchoes() async throws {
        let (result, progress) = try await runJob(EchoJob(), ["message": "hi <b>", "delay": 2])
        #expect(result == ["message": "hi <b>", "echoed": "hi <b>", "delay": 2])
        #expect(progress == [
            JobProgress(percent: 0, message: "Echoing in 2 seconds..."),
            JobProgress(percent: 50, message: "Echoing in 1 second..."),
            JobProgress(percent: 100, message: "Complete!"),
        ])
    }

    @Test func countdownReportsEachSecond() async throws {
        let (result, progress) = try await runJob(CountdownJob(), ["seconds": 2])
        #expect(result == ["message": "Countdown complete!", "duration": 2])
        #expect(progress == [
            JobProgress(percent: 0, message: "2 seconds remaining..."),
            JobProgress(percent: 50, message: "1 second remaining..."),
            JobProgress(percent: 100, message: "Complete!"),
        ])
    }
}
