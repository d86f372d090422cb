import JSON

/// Sleeps that end at once when the job is cancelled.
private func sleep(seconds: Double) async throws {
    try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
}

private func param(_ params: JSONObject, _ name: String) -> Int64 {
    params[name]?.intValue ?? 0
}

/// `countdown`: one progress step a second, then `Countdown complete!`.
public struct CountdownJob: JobType {
    public init() {}
    public let name = "countdown"
    public let description = "Count down from N seconds"
    public let parameters: [ParameterSpec] = [
        .integer("seconds", default: 10, min: 1, max: 60, "Number of seconds to count down"),
    ]

    public func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        let seconds = param(params, "seconds")
        for elapsed in 0..<seconds {
            try Task.checkCancellation()
            let remaining = seconds - elapsed
            context.progress(Int(elapsed * 100 / seconds),
                             remaining == 1 ? "1 second remaining..." : "\(remaining) seconds remaining...")
            try await sleep(seconds: 1)
        }
        context.progress(100, "Complete!")
        return ["message": "Countdown complete!", "duration": .int(seconds)]
    }
}

/// `prime`: trial division of 2...limit, progress at every further 5% checked.
public struct PrimeJob: JobType {
    public init() {}
    public let name = "prime"
    public let description = "Find prime numbers up to N"
    public let parameters: [ParameterSpec] = [
        .integer("limit", default: 1000, min: 10, max: 100_000, "Find primes up to this number"),
    ]

    public func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        let limit = param(params, "limit")
        let total = limit - 1
        var primes: [Int64] = []
        var lastReported: Int64 = 0
        for n in 2...limit {
            if Self.isPrime(n) { primes.append(n) }
            let checked = n - 1
            let percent = checked * 100 / total
            if percent >= lastReported + 5 {
                lastReported = percent - percent % 5
                context.progress(Int(percent), "Checked \(checked) numbers, found \(primes.count) primes...")
                // A CPU-bound job yields between steps so it never hogs a thread of
                // the shared pool, and notices a cancel here.
                await Task.yield()
                try Task.checkCancellation()
            }
        }
        context.progress(100, "Complete!")
        return [
            "message": .string("Found \(primes.count) prime numbers up to \(limit)"),
            "prime_count": .int(Int64(primes.count)),
            "largest": primes.last.map(JSONValue.int) ?? .null,
            "sample": .array(primes.prefix(10).map(JSONValue.int)),
        ]
    }

    static func isPrime(_ n: Int64) -> Bool {
        if n < 2 { return false }
        if n < 4 { return true }
        if n % 2 == 0 { return false }
        var d: Int64 = 3
        while d * d <= n {
            if n % d == 0 { return false }
            d += 2
        }
        return true
    }
}

/// `fibonacci`: F(0)...F(count-1), one every 0.1 s.
public struct FibonacciJob: JobType {
    public init() {}
    public let name = "fibonacci"
    public let description = "Calculate Fibonacci sequence"
    public let parameters: [ParameterSpec] = [
        .integer("count", default: 20, min: 5, max: 50, "Number of Fibonacci numbers to calculate"),
    ]

    public func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        let count = Int(param(params, "count"))
        var sequence: [Int64] = []
        sequence.reserveCapacity(count)
        for i in 0..<count {
            try Task.checkCancellation()
            let value: Int64 = i < 2 ? Int64(i) : sequence[i - 1] + sequence[i - 2]
            sequence.append(value)
            context.progress(i * 100 / (count - 1), "Calculated F(\(i)) = \(value)")
            try await sleep(seconds: 0.1)
        }
        context.progress(100, "Complete!")
        return [
            "message": .string("Calculated \(count) Fibonacci numbers"),
            "count": .int(Int64(count)),
            "sequence": .array(sequence.map(JSONValue.int)),
            "last": .int(sequence.last ?? 0),
        ]
    }
}

/// `echo`: waits `delay` seconds with a countdown, then echoes the message.
public struct EchoJob: JobType {
    public init() {}
    public let name = "echo"
    public let description = "Echo a message after delay"
    public let parameters: [ParameterSpec] = [
        .string("message", default: "Hello, World!", maxLength: 200, "Message to echo back"),
        .integer("delay", default: 3, min: 1, max: 30, "Delay in seconds before echoing"),
    ]

    public func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        let message = params["message"]?.stringValue ?? ""
        let delay = param(params, "delay")
        for i in 1...delay {
            try Task.checkCancellation()
            let remaining = delay - i + 1
            context.progress(Int((i - 1) * 100 / delay),
                             remaining == 1 ? "Echoing in 1 second..." : "Echoing in \(remaining) seconds...")
            try await sleep(seconds: 1)
        }
        context.progress(100, "Complete!")
        return ["message": .string(message), "echoed": .string(message), "delay": .int(delay)]
    }
}
