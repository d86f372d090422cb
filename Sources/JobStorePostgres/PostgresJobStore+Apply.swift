import JSON
import JobQueue
import SQLStore

/// How each `StoreOp` is written to PostgreSQL, inside the writer's transaction.
extension PostgresJobStore {
    /// Every op, in one `switch` (new ops add a case here). Writes whose answer is
    /// not needed join `batch`, sent in pipeline mode; an op that reads what it
    /// wrote sends the batch first (order is kept); a guarded write that finds
    /// its job changed does nothing and marks its entry a conflict. `notes`
    /// collects what the other nodes are told.
    func apply(_ op: StoreOp, _ db: PostgresConnection, _ batch: inout Batch,
                       _ notes: inout Notes) throws(PostgresError) {
        switch op {
        case .update(let job, let expect):
            let params = JSONValue.object(job.params).jsonString
            batch.guarded(("""
                UPDATE jobs SET status = $2, progress_percent = $3, progress_message = $4, result = $5, error = $6,
                    started_at = $7, completed_at = $8, sequence = GREATEST(sequence + 1, $9), run_at = $10, attempt = $11,
                    errors = $12, words = $13::tsvector, node = $14
                WHERE id = $1 AND status = $15 AND node IS NOT DISTINCT FROM $16
                  AND ($17::bigint IS NULL OR (attempt = $17 AND started_at IS NOT DISTINCT FROM $18))
                """, [
                    .int(job.id), .text(job.status.rawValue), .int(Int64(job.progress.percent)), .text(job.progress.message),
                    .optional(job.result?.jsonString), .optional(job.error), .optional(job.startedAt), .optional(job.completedAt),
                    .int(Int64(job.sequence)), .optional(job.runAt), .int(Int64(job.attempt)),
                    .optional(job.errors.isEmpty ? nil : JobRow.errorsJSON(job.errors)),
                    .text(Self.words(params: params, error: job.error)), .optional(job.node),
                    .text(expect.status.rawValue), .optional(expect.node),
                    expect.attempt.map { .int(Int64($0)) } ?? .null, .optional(expect.startedAt),
                ]))
            notes.jobs.insert(job.id)
        case .claim(let request):
            try batch.flush(db)
            try claim(request, db, &notes)
        case .fence(let epoch):
            try batch.flush(db)
            if try !LeaderLease.holds(db, node: writer.node, epoch: epoch) {
                batch.conflicts.insert(batch.entry)
                batch.fencedOut = true
            }
        case .adopt(let silent, let node, let report):
            try batch.flush(db)
            let r = try db.run("UPDATE jobs SET node = $2 WHERE status = 'running' AND node = $1 RETURNING \(Self.table.columns)",
                               [.text(silent), .text(node)])
            // Its webhook deliveries still to send are the leader's to send now.
            try db.run("UPDATE webhook_deliveries SET node = $2 WHERE status = 'pending' AND node = $1", [.text(silent), .text(node)])
            var adopted: [Job] = []
            for i in 0..<r.rows { adopted.append(try Self.table.job(r.row(i))) }
            report(adopted.sorted { $0.id < $1.id })
        case .upsert(let job):
            notes.jobs.insert(job.id)
            // A new job created earlier than one before it clears `created_in_order`.
            if writer.order.note(job) { batch.append((CreatedOrder.clearSQL, [])) }
            let params = JSONValue.object(job.params).jsonString
            batch.append((Self.upsertSQL, JobRow.values(job, params: params)
                          + [.text(Self.words(params: params, error: job.error)), .optional(job.node)]))
        case .appendLog(let id, let lines, _, _, let expect):
            try batch.flush(db)
            if let expect, try !holds(id, expect, db) {
                batch.conflicts.insert(batch.entry)
                return
            }
            try SharedOps.write(op, rules, &batch, db)
            if let first = lines.first, let last = lines.last { notes.logs.append((id, first.seq, last.seq)) }
        case .upsertSchedule, .deleteSchedule, .queueSettings, .progress, .deleteFinished, .prune, .deleteJobs,
             .webhookOutbox, .webhookAttempt, .webhookMaintenance:
            notes.deleted += try SharedOps.write(op, rules, &batch, db)
            switch op {
            case .upsertSchedule(let schedule): notes.schedules.insert(schedule.name)
            case .deleteSchedule(let name): notes.schedules.insert(name)
            case .queueSettings(let name, _): notes.queues.insert(name)
            case .progress(let id, _, _): notes.jobs.insert(id)
            case .deleteFinished: notes.cleared = true
            default: break
            }
        }
    }

    static let upsertSQL = PostgresConnection.dialect.sql(JobRow.upsertSQL(extra: [("words", "?::tsvector"), ("node", "?")]))

    /// This node's rules for the ops every SQL store writes alike.
    var rules: OpRules { OpRules(greatest: "GREATEST", lineBytes: "length(line)", node: writer.node, linesPerInsert: 1000) }

    /// A node's claim: the best pending jobs that are due, locked with `SKIP
    /// LOCKED` so nodes claiming at once never wait for or take the same rows,
    /// picked within the per-node budgets, then marked running on the node.
    private func claim(_ request: ClaimRequest, _ db: PostgresConnection, _ notes: inout Notes) throws(PostgresError) {
        guard request.limit > 0 else { return }
        let budgets = !request.queueBudgets.isEmpty || !request.typeBudgets.isEmpty
        let candidates = try db.run("""
            SELECT id, queue, type FROM jobs
            WHERE status = 'pending' AND (run_at IS NULL OR run_at <= $1)
              AND NOT (queue = ANY($2::text[])) AND NOT (type = ANY($3::text[]))
            ORDER BY priority DESC, id LIMIT $4 FOR UPDATE SKIP LOCKED
            """, [.double(request.now), Self.textArray(request.excludedQueues), Self.textArray(request.excludedTypes),
                   .int(Int64(budgets ? request.limit * 4 : request.limit))])
        let picked = request.pick((0..<candidates.rows).map { (candidates.int($0, 0), candidates.text($0, 1), candidates.text($0, 2)) })
        guard !picked.isEmpty else { return }
        let r = try db.run("""
            UPDATE jobs SET status = 'running', started_at = $1, progress_percent = 0, progress_message = $2,
                sequence = sequence + 1, node = $3
            WHERE id = ANY($4::bigint[]) RETURNING \(Self.table.columns)
            """, [.double(request.now), .text(JobProgress.starting.message), .text(request.node), Self.idArray(picked)])
        var claimed: [Int64: Job] = [:]
        for i in 0..<r.rows {
            let job = try Self.table.job(r.row(i))
            claimed[job.id] = job
            notes.jobs.insert(job.id)
        }
        request.claimed.withLock { $0 = picked.compactMap { claimed[$0] } }
    }

    /// Whether the job's row is as `expect` says, locked until the commit (a
    /// rescue taking the job over waits for it).
    private func holds(_ id: Int64, _ expect: JobGuard, _ db: PostgresConnection) throws(PostgresError) -> Bool {
        try db.run("""
            SELECT 1 FROM jobs WHERE id = $1 AND status = $2 AND node IS NOT DISTINCT FROM $3
              AND ($4::bigint IS NULL OR (attempt = $4 AND started_at IS NOT DISTINCT FROM $5)) FOR UPDATE
            """, [.int(id), .text(expect.status.rawValue), .optional(expect.node), expect.attempt.map { .int(Int64($0)) } ?? .null,
                   .optional(expect.startedAt)]).rows > 0
    }

    /// Names as one bound value: a PostgreSQL array literal of quoted text.
    static func textArray(_ names: [String]) -> PostgresValue {
        .text("{" + names.map { name in
            var quoted = "\""
            for c in name.unicodeScalars {
                if c == "\"" || c == "\\" { quoted.unicodeScalars.append("\\") }
                quoted.unicodeScalars.append(c)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}")
    }

    /// Ids as one bound value: a PostgreSQL array literal of integers.
    static func idArray(_ ids: [Int64]) -> PostgresValue {
        .text("{" + ids.map { String($0) }.joined(separator: ",") + "}")
    }
}
