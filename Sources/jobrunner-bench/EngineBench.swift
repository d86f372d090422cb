import Glibc
import JSON
import JobEngine
import JobQueue
import Synchronization

/// Engine throughput: jobs per second through queue + engine with a job type that
/// does nothing, so what is measured is submission, FIFO, the state machine,
/// task start and completion, and event publication. Prints one JSON line.
/// `jobrunner-bench json ...` measures JSON parsing instead (JSONBench.swift).
struct NoopJob: JobType {
    let name = "noop"
    let description = "does nothing"
    let parameters: [ParameterSpec] = []
    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue { .null }
}

@main enum EngineBench {
    static func main() {
        let args = CommandLine.arguments
        if args.count > 1 && args[1] == "json" {
            runJSONBench(Array(args.dropFirst(2)))
            exit(0)
        }
        let count = args.count > 1 ? Int(args[1]) ?? 200_000 : 200_000
        let capacity = args.count > 2 ? Int(args[2]) ?? 16 : 16
        /// `jobrunner-bench N SLOTS metrics`: with the job metrics on, as the daemon keeps them.
        let metrics = args.count > 3 && args[3] == "metrics"
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        let writeEnd = fds[1]
        let engine = JobEngine(registry: JobRegistry([NoopJob()]), capacity: capacity)
        if metrics { engine.enableMetrics() }
        let finished = Atomic<Int>(0)
        _ = engine.subscribe { event in
            if event.isFinal, finished.add(1, ordering: .relaxed).newValue == count {
                var b: UInt8 = 1
                _ = write(writeEnd, &b, 1)
            }
        }
        let start = now()
        for _ in 0..<count {
            _ = try? engine.submit(type: "noop", params: nil)
        }
        var b: UInt8 = 0
        _ = read(fds[0], &b, 1)
        let elapsed = now() - start
        print("{\"jobs\":\(count),\"capacity\":\(capacity),\"seconds\":\(elapsed),\"jobs_per_second\":\(Double(count) / elapsed)}")
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
