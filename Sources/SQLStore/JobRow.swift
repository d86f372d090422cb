import JSON
import JobQueue

/// A job as a row of the `jobs` table, the same in every SQL store: its
/// columns, their order, and the codec both ways.
public enum JobRow {
    /// The columns `job(_:)` reads, in its order.
    public static let columns = """
        id, type, params, status, progress_percent, progress_message, result, error, created_at, started_at, completed_at, sequence,
        queue, priority, run_at, attempt, max_attempts, timeout, backoff_initial, backoff_max, idempotency_key, errors, schedule
        """

    /// `columns`, each prefixed with `table.`.
    public static func qualified(_ table: String) -> String {
        columns.split(separator: ",").map { table + "." + $0.filter { $0 != " " && $0 != "\n" } }.joined(separator: ", ")
    }

    public static func errorsJSON(_ errors: [AttemptError]) -> String {
        JSONValue.array(errors.map { e in
            .object(JSONObject([("attempt", .int(Int64(e.attempt))), ("error", .string(e.error)), ("at", .double(e.at))]))
        }).jsonString
    }

    /// The `errors` column's value: NULL for none.
    public static func errorsValue(_ job: Job) -> SQLValue {
        .optional(job.errors.isEmpty ? nil : errorsJSON(job.errors))
    }

    public static func errors(_ text: String?) -> [AttemptError] {
        guard let text, case .array(let items)? = try? JSONValue.parse(Array(text.utf8)) else { return [] }
        return items.compactMap { item in
            guard case .int(let attempt)? = item["attempt"], case .string(let error)? = item["error"] else { return nil }
            let at: Double = switch item["at"] { case .double(let d)?: d; case .int(let i)?: Double(i); default: 0 }
            return AttemptError(attempt: Int(attempt), error: error, at: at)
        }
    }

    /// The job in `row` (read with `columns`); with `node`, column 23 is its node.
    public static func job<Row: SQLRow>(_ row: Row, node: Bool = false) throws(SQLError) -> Job {
        let params = (try? JSONValue.parse(row.text(2)))?.objectValue ?? JSONObject()
        var job = Job(id: row.int(0), type: row.text(1), params: params, createdAt: row.double(8))
        guard let status = JobStatus(rawValue: row.text(3)) else {
            throw SQLError(code: 11, message: "job \(job.id) has an unknown status '\(row.text(3))'")
        }
        job.status = status
        job.progress = JobProgress(percent: Int(row.int(4)), message: row.text(5))
        job.result = row.optionalText(6).flatMap { try? JSONValue.parse($0) }
        job.error = row.optionalText(7)
        job.startedAt = row.optionalDouble(9)
        job.completedAt = row.optionalDouble(10)
        job.sequence = UInt64(row.int(11))
        job.queue = row.text(12)
        job.priority = Int(row.int(13))
        job.runAt = row.optionalDouble(14)
        job.attempt = Int(row.int(15))
        job.maxAttempts = Int(row.int(16))
        job.timeout = row.optionalDouble(17)
        job.backoff = Backoff(initial: row.double(18), max: row.double(19))
        job.idempotencyKey = row.optionalText(20)
        job.errors = errors(row.optionalText(21))
        job.schedule = row.optionalText(22)
        if node { job.node = row.optionalText(23) }
        return job
    }

    /// Writes a whole row (`values`, then the `extra` columns, each with its
    /// placeholder), or, for a row already there, what a transition changes.
    public static func upsertSQL(extra: [(column: String, placeholder: String)] = []) -> String {
        let names = extra.map(\.column)
        let placeholders = Array(repeating: "?", count: 23) + extra.map(\.placeholder)
        return """
            INSERT INTO jobs (\(([columns] + names).joined(separator: ", ")))
            VALUES (\(placeholders.joined(separator: ", ")))
            ON CONFLICT (id) DO UPDATE SET \((["status", "progress_percent", "progress_message", "result", "error", "started_at",
                                                "completed_at", "sequence", "run_at", "attempt", "errors"] + names)
                                               .map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
            """
    }

    /// The values of a new row, in `columns` order.
    public static func values(_ job: Job, params: String) -> [SQLValue] {
        [
            .int(job.id), .text(job.type), .text(params), .text(job.status.rawValue),
            .int(Int64(job.progress.percent)), .text(job.progress.message), .optional(job.result?.jsonString),
            .optional(job.error), .double(job.createdAt), .optional(job.startedAt), .optional(job.completedAt),
            .int(Int64(job.sequence)), .text(job.queue), .int(Int64(job.priority)), .optional(job.runAt),
            .int(Int64(job.attempt)), .int(Int64(job.maxAttempts)), .optional(job.timeout),
            .double(job.backoff.initial), .double(job.backoff.max), .optional(job.idempotencyKey),
            errorsValue(job), .optional(job.schedule),
        ]
    }
}
