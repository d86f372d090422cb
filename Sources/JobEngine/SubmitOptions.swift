import JSON
import JobQueue

/// What a job type sets for its jobs unless a submission says otherwise.
public struct JobDefaults: Sendable {
    public var queue: String?
    public var priority: Int?
    public var timeout: Double?
    public var maxAttempts: Int?
    public var backoff: Backoff?
    /// Jobs of the type running at once (nil: no limit of its own).
    public var concurrency: Int?

    public init(queue: String? = nil, priority: Int? = nil, timeout: Double? = nil, maxAttempts: Int? = nil,
                backoff: Backoff? = nil, concurrency: Int? = nil) {
        self.queue = queue
        self.priority = priority
        self.timeout = timeout
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.concurrency = concurrency
    }
}

extension JobOptions {
    /// The options fields of a submission (REST body or WebSocket `create_job`),
    /// checked; `header` is the `Idempotency-Key` header. `delay` becomes `run_at`.
    public static func parse(_ o: JSONObject, header: String? = nil, now: Double) throws(ValidationError) -> JobOptions {
        func invalid(_ field: String, _ why: String) -> ValidationError {
            ValidationError("Invalid '\(field)' field: \(why)")
        }
        func present(_ field: String) -> JSONValue? {
            guard let v = o[field], !v.isNull else { return nil }
            return v
        }
        var options = JobOptions()
        if let v = present("queue") {
            guard case .string(let name) = v, isQueueName(name) else { throw invalid("queue", "must match ^[a-z0-9_-]{1,64}$") }
            options.queue = name
        }
        if let v = present("priority") {
            guard let p = v.wholeNumber, priorityRange.contains(p) else { throw invalid("priority", "must be an integer from -100 to 100") }
            options.priority = Int(p)
        }
        let runAt = present("run_at"), delay = present("delay")
        if runAt != nil && delay != nil { throw invalid("delay", "give either 'run_at' or 'delay', not both") }
        if let v = runAt {
            guard let t = v.finiteNumber, t >= 0, t < latestRunAt else { throw invalid("run_at", "must be a time in epoch seconds") }
            options.runAt = t
        }
        if let v = delay {
            guard let d = v.finiteNumber, d >= 0, d <= longestSeconds else { throw invalid("delay", "must be a number of seconds from 0 to 31536000") }
            options.runAt = now + d
        }
        if let v = present("timeout") {
            guard let t = v.finiteNumber, t > 0, t <= longestSeconds else { throw invalid("timeout", "must be a number of seconds from more than 0 to 31536000") }
            options.timeout = t
        }
        if let v = present("max_attempts") {
            guard let n = v.wholeNumber, maxAttemptsRange.contains(n) else { throw invalid("max_attempts", "must be an integer from 1 to 100") }
            options.maxAttempts = Int(n)
        }
        if let v = present("backoff") {
            let shape = "must be an object like {\"initial\": 1, \"max\": 3600} (seconds, 0 < initial <= max <= 31536000)"
            guard case .object(let b) = v, b.allSatisfy({ $0.key == "initial" || $0.key == "max" }) else { throw invalid("backoff", shape) }
            var backoff = Backoff()
            if let i = b["initial"] {
                guard let x = i.finiteNumber, x > 0 else { throw invalid("backoff", shape) }
                backoff.initial = x
            }
            if let m = b["max"] {
                guard let x = m.finiteNumber, x > 0, x <= longestSeconds else { throw invalid("backoff", shape) }
                backoff.max = x
            }
            guard backoff.initial <= backoff.max else { throw invalid("backoff", shape) }
            options.backoff = backoff
        }
        if let v = present("idempotency_key") {
            guard case .string(let key) = v, idempotencyKeyLength.contains(key.count) else {
                throw invalid("idempotency_key", "must be a string of 1 to 200 characters")
            }
            if let header, header != key { throw invalid("idempotency_key", "differs from the Idempotency-Key header") }
            options.idempotencyKey = key
        } else if let header {
            guard idempotencyKeyLength.contains(header.count) else { throw ValidationError("Invalid Idempotency-Key header: must be 1 to 200 characters") }
            options.idempotencyKey = header
        }
        return options
    }

    /// A submission's options with the type's defaults filled in.
    public func resolved(with defaults: JobDefaults) -> JobOptions {
        var o = self
        o.queue = queue ?? defaults.queue
        o.priority = priority ?? defaults.priority
        o.timeout = timeout ?? defaults.timeout
        o.maxAttempts = maxAttempts ?? defaults.maxAttempts
        o.backoff = backoff ?? defaults.backoff
        return o
    }

    public static func isQueueName(_ name: String) -> Bool {
        let b = Array(name.utf8)
        return (1...64).contains(b.count) && b.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }
}

extension JSONValue {
    /// A JSON integer, or a number with no fraction (`4.0`): what JSON Schema
    /// calls an integer.
    public var wholeNumber: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d) where d.isFinite && d.rounded() == d && abs(d) < 9e15: Int64(d)
        default: nil
        }
    }

    var finiteNumber: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d) where d.isFinite: d
        default: nil
        }
    }
}
