import Cron
import JSON
import JobQueue
import Synchronization

/// Cron expressions and zones, parsed once per distinct text.
final class CronCache: Sendable {
    private let compiled = Mutex<[String: (CronExpression, TimeZoneRules)]>([:])

    func rules(_ cron: String, _ zone: String) throws(CronError) -> (CronExpression, TimeZoneRules) {
        let key = cron + "\u{0}" + zone
        if let hit = compiled.withLock({ $0[key] }) { return hit }
        let value = (try CronExpression(cron), try TimeZoneRules.named(zone))
        compiled.withLock { c in
            if c.count > 10_000 { c.removeAll() }
            c[key] = value
        }
        return value
    }

    /// The first slot strictly after `time`, or nil (an expression that never
    /// matches, or a zone that cannot be read any more).
    func next(_ schedule: Schedule, after time: Double) -> Double? {
        guard let (cron, zone) = try? rules(schedule.cron, schedule.timezone) else { return nil }
        return cron.next(after: time, in: zone)
    }
}

extension JobEngine {
    /// A schedule from its JSON definition (REST body, config file entry), every
    /// field checked with a message naming it; `name` comes from the path for PUT.
    public func scheduleDefinition(_ o: JSONObject, name pathName: String? = nil) throws(ValidationError) -> Schedule {
        func invalid(_ field: String, _ why: String) -> ValidationError { ValidationError("Invalid '\(field)' field: \(why)") }
        let known: Set<String> = ["name", "cron", "timezone", "job_type", "params", "options", "overlap", "catch_up", "paused"]
        for member in o where !known.contains(member.key) {
            throw ValidationError("Unknown field: \(member.key.prefix(100)) (known: \(known.sorted().joined(separator: ", ")))")
        }
        var name = pathName
        if let v = o["name"], !v.isNull {
            guard case .string(let given) = v else { throw invalid("name", "must be a string") }
            if let pathName, given != pathName { throw invalid("name", "differs from the name in the path") }
            name = given
        }
        guard let name else { throw ValidationError("Missing 'name' field") }
        guard Self.isScheduleName(name) else { throw invalid("name", "must match ^[a-z0-9][a-z0-9_.-]{0,63}$") }
        guard case .string(let cron)? = o["cron"] else { throw ValidationError("Missing 'cron' field") }
        var zone = "UTC"
        if let z = o["timezone"], !z.isNull {
            guard case .string(let text) = z else { throw invalid("timezone", "must be an IANA time zone name such as Europe/Berlin") }
            zone = text
        }
        let expression: CronExpression
        do { expression = try CronExpression(cron) } catch { throw invalid("cron", error.message) }
        do { _ = try TimeZoneRules.named(zone) } catch { throw invalid("timezone", error.message) }
        guard case .string(let type)? = o["job_type"] else { throw ValidationError("Missing 'job_type' field") }
        guard let jobType = registry.type(named: type) else { throw invalid("job_type", "unknown job type '\(type.prefix(100))'") }
        let params: JSONObject
        do { params = try jobType.validate(o["params"]) } catch { throw invalid("params", error.message) }
        var options = JSONObject()
        if let v = o["options"], !v.isNull {
            guard case .object(let given) = v else { throw invalid("options", "must be an object") }
            for bad in ["run_at", "delay", "idempotency_key"] where given[bad] != nil {
                throw invalid("options", "'\(bad)' does not apply to scheduled jobs")
            }
            options = given
        }
        let jobOptions: JobOptions
        do { jobOptions = try JobOptions.parse(options, now: now) } catch { throw invalid("options", error.message) }
        var s = Schedule(name: name, cron: cron, timezone: zone, jobType: type, params: params, options: options,
                         jobOptions: jobOptions.resolved(with: jobType.defaults), createdAt: now)
        s.reading = expression.humanReading
        if let v = o["overlap"], !v.isNull {
            guard let text = v.stringValue, let overlap = Schedule.Overlap(rawValue: text) else {
                throw invalid("overlap", "must be one of: skip, allow, cancel_previous")
            }
            s.overlap = overlap
        }
        if let v = o["catch_up"], !v.isNull {
            guard let text = v.stringValue, let catchUp = Schedule.CatchUp(rawValue: text) else {
                throw invalid("catch_up", "must be one of: none, latest")
            }
            s.catchUp = catchUp
        }
        if let v = o["paused"], !v.isNull {
            guard case .bool(let b) = v else { throw invalid("paused", "must be true or false") }
            s.paused = b
        }
        return s
    }

    static func isScheduleName(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard (1...64).contains(b.count) else { return false }
        func ok(_ c: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
        }
        return ok(b[0]) && b.allSatisfy { ok($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// What a cron expression means in a zone: its human reading and its next
    /// `count` slots after now (for a form's preview).
    public func previewCron(_ cron: String, zone: String, count: Int) throws(ValidationError) -> (String, [Double]) {
        let expression: CronExpression
        do { expression = try CronExpression(cron) } catch { throw ValidationError("Invalid 'cron' field: \(error.message)") }
        let rules: TimeZoneRules
        do { rules = try TimeZoneRules.named(zone) } catch { throw ValidationError("Invalid 'timezone' field: \(error.message)") }
        var slots: [Double] = []
        var t = now
        while slots.count < count, let next = expression.next(after: t, in: rules) {
            slots.append(next)
            t = next
        }
        return (expression.humanReading, slots)
    }

    /// A human reading of a cron expression ("at 03:30 every day").
    public func describeCron(_ cron: String) -> String? {
        (try? CronExpression(cron))?.humanReading
    }

    public func schedules() -> [Schedule] { queue.schedules() }

    public func schedule(_ name: String) -> Schedule? { queue.schedule(name) }

    public func upsertSchedule(_ s: Schedule, completion: @escaping @Sendable (Result<Schedule, StoreError>) -> Void) {
        queue.upsertSchedule(s, completion: completion)
    }

    public func deleteSchedule(_ name: String, completion: @escaping @Sendable (Result<Bool, StoreError>) -> Void) {
        queue.deleteSchedule(name, completion: completion)
    }

    public func runScheduleNow(_ name: String, completion: @escaping @Sendable (Result<Job?, StoreError>) -> Void) {
        queue.runScheduleNow(name, completion: completion)
    }

    /// Starts firing schedules (after the daemon loaded them and its job types).
    public func startSchedules() {
        let cache = CronCache()
        queue.setScheduleHooks(next: { s, t in cache.next(s, after: t) }, cancel: { [weak self] id in self?.cancel(id) { _ in } })
    }
}
