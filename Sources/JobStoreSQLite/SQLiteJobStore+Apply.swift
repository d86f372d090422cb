import JobQueue
import JSON
import SQLStore

/// How each `StoreOp` is written to SQLite, inside the writer's transaction.
extension SQLiteJobStore {
    /// Writes one op; false when a guarded write found its row changed or gone.
    @discardableResult
    func apply(_ op: StoreOp, _ db: SQLiteConnection) throws(SQLiteError) -> Bool {
        switch op {
        case .update(let job, let expect):
            // One daemon per SQLite file, but a delete (bulk, clear, prune)
            // decided first may have removed the row: then nothing is written back.
            var held = false
            try db.run("""
                UPDATE jobs SET status = ?, progress_percent = ?, progress_message = ?, result = ?, error = ?,
                    started_at = ?, completed_at = ?, sequence = ?, run_at = ?, attempt = ?, errors = ?
                WHERE id = ? AND status = ? RETURNING id
                """, [
                    .text(job.status.rawValue), .int(Int64(job.progress.percent)), .text(job.progress.message),
                    .optional(job.result?.jsonString), .optional(job.error), .optional(job.startedAt), .optional(job.completedAt),
                    .int(Int64(job.sequence)), .optional(job.runAt), .int(Int64(job.attempt)),
                    JobRow.errorsValue(job), .int(job.id), .text(expect.status.rawValue),
                ]) { _ in held = true }
            return held
        case .claim, .adopt, .fence:
            // Only stores shared by several daemons claim (the queue never asks this one).
            break
        case .upsert(let job):
            // A new job created earlier than one before it clears `created_in_order`.
            if writer.order.note(job) { try db.run(CreatedOrder.clearSQL) }
            try db.run(Self.upsertSQL, JobRow.values(job, params: JSONValue.object(job.params).jsonString))
        case .upsertSchedule, .deleteSchedule, .queueSettings, .progress, .deleteFinished, .appendLog, .deleteJobs, .prune,
             .webhookOutbox, .webhookAttempt, .webhookMaintenance:
            var now = RunNow()
            try SharedOps.write(op, Self.rules, &now, db)
        }
        return true
    }

    static let upsertSQL = JobRow.upsertSQL()
    static let rules = OpRules(greatest: "MAX", lineBytes: "length(CAST(line AS BLOB))", node: nil, linesPerInsert: 1)
}

/// SQLite runs each statement at once (no round trip to save).
struct RunNow: StatementSink {
    func send(_ sql: String, _ params: [SQLValue], _ db: SQLiteConnection) throws(SQLiteError) { try db.run(sql, params) }
    func flush(_ db: SQLiteConnection) {}
}
