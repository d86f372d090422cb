import JobQueue

/// Where the shared op code sends its statements: SQLite runs each at once;
/// PostgreSQL queues those whose answer is not needed in its pipeline, and
/// sends them before any statement whose rows it reads (order is kept).
public protocol StatementSink {
    associatedtype Connection: SQLConnection
    /// A statement (written with `?`) whose answer is not needed.
    mutating func send(_ sql: String, _ params: [SQLValue], _ db: Connection) throws(SQLError)
    /// Sends what waits, before a statement whose rows are read.
    mutating func flush(_ db: Connection) throws(SQLError)
}

/// What a store's SQL differs in for the ops written alike.
public struct OpRules: Sendable {
    /// The larger of two values: `MAX` (SQLite) or `GREATEST` (PostgreSQL).
    let greatest: String
    /// A log line's length in bytes.
    let lineBytes: String
    /// This node (several daemons on one database): progress is written only
    /// while the job is still this node's, and each node sends the webhook
    /// deliveries it wrote.
    let node: String?
    /// Log lines per INSERT: 1 where each statement is prepared once and kept
    /// (SQLite), many where a round trip costs more (PostgreSQL).
    let linesPerInsert: Int

    public init(greatest: String, lineBytes: String, node: String?, linesPerInsert: Int) {
        self.greatest = greatest
        self.lineBytes = lineBytes
        self.node = node
        self.linesPerInsert = linesPerInsert
    }
}

/// The ops every SQL store writes alike, inside the writer's transaction (the
/// driver writes jobs' rows, guarded updates and the cluster's ops itself).
public enum SharedOps {
    static let finished = "status IN ('completed','failed','cancelled')"

    /// Writes `op`; returns the jobs removed (prune, delete, clear: empty).
    @discardableResult
    public static func write<Sink: StatementSink>(_ op: StoreOp, _ rules: OpRules, _ sink: inout Sink,
                                                  _ db: Sink.Connection) throws(SQLError) -> [PrunedJob] {
        switch op {
        case .upsertSchedule(let schedule):
            try sink.send("INSERT INTO schedules (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                          [.text(schedule.name), .text(schedule.stored.jsonString)], db)
        case .deleteSchedule(let name):
            try sink.send("DELETE FROM schedules WHERE name = ?", [.text(name)], db)
        case .queueSettings(let name, let settings):
            try sink.send("""
                INSERT INTO queues (name, concurrency, paused) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, paused = excluded.paused
                """, [.text(name), .optional(settings.concurrency), .bool(settings.paused)], db)
        case .progress(let id, let progress, let sequence):
            try sink.send("UPDATE jobs SET progress_percent = ?, progress_message = ?, sequence = ? WHERE id = ? AND status = 'running'"
                          + (rules.node == nil ? "" : " AND (node IS NULL OR node = ?)"),
                          [.int(Int64(progress.percent)), .text(progress.message), .int(Int64(sequence)), .int(id)]
                          + (rules.node.map { [.text($0)] } ?? []), db)
        case .deleteFinished:
            try rememberNextID(rules, &sink, db)
            try sink.send("DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs WHERE \(finished))", [], db)
            try sink.send("DELETE FROM jobs WHERE \(finished)", [], db)
        case .appendLog(let id, let lines, let dropped, let maxBytes, _):
            try sink.flush(db)
            try appendLog(id, lines, maxBytes, rules, db)
            if dropped > 0 { try db.run(Sink.Connection.dialect.sql("UPDATE jobs SET log_dropped = log_dropped + ? WHERE id = ?"),
                                        [.int(Int64(dropped)), .int(id)]) { _ in } }
        case .prune(let before, let keep, let report):
            try rememberNextID(rules, &sink, db)
            try sink.flush(db)
            var clauses: [String] = []
            var params: [SQLValue] = []
            if let before {
                clauses.append("completed_at < ?")
                params.append(.double(before))
            }
            if let keep {
                clauses.append("id NOT IN (SELECT id FROM jobs WHERE \(finished) ORDER BY id DESC LIMIT ?)")
                params.append(.int(Int64(keep)))
            }
            let removed = try delete(clauses.joined(separator: " OR "), params, db)
            report(removed)
            return removed
        case .deleteJobs(let ids, let report):
            try rememberNextID(rules, &sink, db)
            try sink.flush(db)
            var removed: [PrunedJob] = []
            for chunk in chunks(ids) {
                removed += try delete("id IN (\(placeholders(chunk.count)))", chunk.map { .int($0) }, db)
            }
            report(removed)
            return removed
        case .webhookOutbox(let d):
            try sink.send("""
                INSERT INTO webhook_deliveries (delivery_id, url, event, job_id, schedule, created_at, body, next_attempt_at\(rules.node == nil ? "" : ", node"))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?\(rules.node == nil ? "" : ", ?"))
                """, WebhookRow.outboxValues(d) + (rules.node.map { [.text($0)] } ?? []), db)
        case .webhookAttempt(let a):
            try sink.send("""
                UPDATE webhook_deliveries SET status = ?, attempts = ?, last_attempt_at = ?, next_attempt_at = ?,
                    last_http_status = ?, last_error = ? WHERE seq = ?
                """, [.text(a.status.rawValue), .int(Int64(a.attempts)), .double(a.at), .optional(a.nextAttemptAt),
                      .optional(a.httpStatus), .optional(a.error), .int(a.seq)], db)
        case .webhookMaintenance(let keep, let configured, let at):
            // Pending deliveries to URLs no longer configured (none configured:
            // every pending one) become dead; this node's only, with several.
            try sink.send("""
                UPDATE webhook_deliveries SET status = 'dead', next_attempt_at = NULL, last_attempt_at = ?,
                    last_error = 'its URL is no longer in the webhooks configuration'
                WHERE status = 'pending'\(rules.node == nil ? "" : " AND node IS NOT DISTINCT FROM ?")\
                \(configured.isEmpty ? "" : " AND url NOT IN (\(placeholders(configured.count)))")
                """, [.double(at)] + (rules.node.map { [.text($0)] } ?? []) + configured.map { .text($0) }, db)
            try sink.send("""
                DELETE FROM webhook_deliveries WHERE status != 'pending' AND seq NOT IN
                    (SELECT seq FROM webhook_deliveries WHERE status != 'pending' ORDER BY seq DESC LIMIT ?)
                """, [.int(Int64(keep))], db)
        case .upsert, .update, .claim, .adopt, .fence:
            preconditionFailure("the driver writes \(op)")
        }
        return []
    }

    /// Ids are never reused: before rows leave, the next id is written down.
    static func rememberNextID<Sink: StatementSink>(_ rules: OpRules, _ sink: inout Sink, _ db: Sink.Connection) throws(SQLError) {
        try sink.send("""
            UPDATE meta SET value = \(rules.greatest)(value, (SELECT COALESCE(MAX(id), 0) + 1 FROM jobs)) WHERE key = 'next_id'
            """, [], db)
    }

    /// Deletes the finished jobs matching `condition`, and their logs; the jobs removed.
    static func delete<C: SQLConnection>(_ condition: String, _ params: [SQLValue], _ db: C) throws(SQLError) -> [PrunedJob] {
        var removed: [PrunedJob] = []
        try db.run(C.dialect.sql("DELETE FROM jobs WHERE \(finished) AND (\(condition)) RETURNING id, status, queue"), params) { row in
            if let status = JobStatus(rawValue: row.text(1)) { removed.append(PrunedJob(id: row.int(0), status: status, queue: row.text(2))) }
        }
        for chunk in chunks(removed.map(\.id)) {
            try db.run(C.dialect.sql("DELETE FROM job_logs WHERE job_id IN (\(placeholders(chunk.count)))"), chunk.map { .int($0) }) { _ in }
        }
        return removed
    }

    /// Adds lines; past `maxBytes` the oldest go, down to three quarters of the
    /// budget (the same rule as `JobLog.append`), and the job counts them as dropped.
    static func appendLog<C: SQLConnection>(_ id: Int64, _ lines: [LogLine], _ maxBytes: Int, _ rules: OpRules, _ db: C) throws(SQLError) {
        var added = 0
        for chunk in chunks(lines, size: rules.linesPerInsert) {
            // 5 parameters a line, far below either database's limit.
            try db.run(C.dialect.sql("""
                INSERT INTO job_logs (job_id, seq, ts, stream, line) VALUES \(Array(repeating: "(?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                ON CONFLICT (job_id, seq) DO UPDATE SET ts = excluded.ts, stream = excluded.stream, line = excluded.line
                """), chunk.flatMap { line -> [SQLValue] in
                    [.int(id), .int(Int64(line.seq)), .double(line.ts), .text(line.stream.rawValue), .bytes(line.text)]
                }) { _ in }
            added += chunk.reduce(0) { $0 + $1.bytes }
        }
        var total = 0
        try db.run(C.dialect.sql("UPDATE jobs SET log_bytes = log_bytes + ? WHERE id = ? RETURNING log_bytes"),
                   [.int(Int64(added)), .int(id)]) { total = Int($0.int(0)) }
        guard total > maxBytes else { return }
        var freed = 0
        var cut = 0
        var lastSeq: Int64 = -1
        try db.run(C.dialect.sql("SELECT seq, \(rules.lineBytes) FROM job_logs WHERE job_id = ? ORDER BY seq"), [.int(id)]) { row in
            guard total - freed > maxBytes * 3 / 4 else { return }
            freed += Int(row.int(1)) + 1
            cut += 1
            lastSeq = row.int(0)
        }
        try db.run(C.dialect.sql("DELETE FROM job_logs WHERE job_id = ? AND seq <= ?"), [.int(id), .int(lastSeq)]) { _ in }
        try db.run(C.dialect.sql("UPDATE jobs SET log_bytes = log_bytes - ?, log_dropped = log_dropped + ? WHERE id = ?"),
                   [.int(Int64(freed)), .int(Int64(cut)), .int(id)]) { _ in }
    }

    static func placeholders(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ",") }

    static func chunks<T>(_ items: [T], size: Int = 500) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }
}
