import JSON

extension Schedule {
    /// The API's shape: name, cron, timezone, job_type, params, options, overlap,
    /// catch_up, paused, next_run_at, last_run_at, last_job_id, created_at.
    public var json: JSONObject {
        JSONObject([
            ("name", .string(name)), ("cron", .string(cron)), ("timezone", .string(timezone)),
            ("job_type", .string(jobType)), ("params", .object(params)), ("options", .object(options)),
            ("overlap", .string(overlap.rawValue)), ("catch_up", .string(catchUp.rawValue)), ("paused", .bool(paused)),
            ("next_run_at", nextRunAt.map(JSONValue.double) ?? .null), ("last_run_at", lastRunAt.map(JSONValue.double) ?? .null),
            ("last_job_id", lastJobID.map(JSONValue.int) ?? .null), ("created_at", .double(createdAt)),
            ("description", reading.map(JSONValue.string) ?? .null),
        ])
    }

    /// What the store keeps: the API's shape plus the options as they apply.
    public var stored: JSONValue {
        var o = json
        let j = jobOptions
        o["job_options"] = .object(JSONObject([
            ("queue", j.queue.map(JSONValue.string) ?? .null), ("priority", j.priority.map { .int(Int64($0)) } ?? .null),
            ("timeout", j.timeout.map(JSONValue.double) ?? .null), ("max_attempts", j.maxAttempts.map { .int(Int64($0)) } ?? .null),
            ("backoff_initial", j.backoff.map { .double($0.initial) } ?? .null), ("backoff_max", j.backoff.map { .double($0.max) } ?? .null),
        ]))
        return .object(o)
    }

    /// A schedule as the store kept it (nil for something unreadable).
    public init?(stored value: JSONValue) {
        guard case .object(let o) = value, case .string(let name)? = o["name"], case .string(let cron)? = o["cron"],
              case .string(let zone)? = o["timezone"], case .string(let type)? = o["job_type"] else { return nil }
        func number(_ v: JSONValue?) -> Double? {
            switch v { case .double(let d)?: d; case .int(let i)?: Double(i); default: nil }
        }
        self.init(name: name, cron: cron, timezone: zone, jobType: type, params: o["params"]?.objectValue ?? [:],
                  options: o["options"]?.objectValue ?? [:], createdAt: number(o["created_at"]) ?? 0)
        overlap = o["overlap"]?.stringValue.flatMap(Overlap.init(rawValue:)) ?? .skip
        catchUp = o["catch_up"]?.stringValue.flatMap(CatchUp.init(rawValue:)) ?? .none
        if case .bool(let p)? = o["paused"] { paused = p }
        nextRunAt = number(o["next_run_at"])
        lastRunAt = number(o["last_run_at"])
        if case .int(let id)? = o["last_job_id"] { lastJobID = id }
        reading = o["description"]?.stringValue
        if case .object(let j)? = o["job_options"] {
            jobOptions.queue = j["queue"]?.stringValue
            if case .int(let p)? = j["priority"] { jobOptions.priority = Int(p) }
            jobOptions.timeout = number(j["timeout"])
            if case .int(let m)? = j["max_attempts"] { jobOptions.maxAttempts = Int(m) }
            if let i = number(j["backoff_initial"]), let m = number(j["backoff_max"]) { jobOptions.backoff = Backoff(initial: i, max: m) }
        }
    }
}
