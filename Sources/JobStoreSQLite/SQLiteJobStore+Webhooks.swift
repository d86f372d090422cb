import JobQueue

/// The webhook outbox (schema version 6): a delivery row is written in the
/// transaction of the transition it reports, so a crash neither loses one nor
/// invents one; the delivery thread reads due rows and records each attempt.
extension SQLiteJobStore: WebhookOutboxStore {
    static let webhookColumns = """
        seq, delivery_id, url, event, job_id, schedule, created_at, body, status, attempts, next_attempt_at,
        last_attempt_at, last_http_status, last_error
        """

    func applyWebhookOp(_ op: StoreOp, _ db: SQLiteConnection) throws(SQLiteError) {
        switch op {
        case .webhookOutbox(let d):
            // Rendered here, on the writer thread, not under the queue's lock.
            let body = String(decoding: d.body(), as: UTF8.self)
            try db.run("""
                INSERT INTO webhook_deliveries (delivery_id, url, event, job_id, schedule, created_at, body, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(d.id), .text(d.url), .text(d.event.rawValue), .int(d.jobID), .optional(d.scheduleName),
                      .double(d.createdAt), .text(body), .double(d.createdAt)])
        case .webhookAttempt(let a):
            try db.run("""
                UPDATE webhook_deliveries SET status = ?, attempts = ?, last_attempt_at = ?, next_attempt_at = ?,
                    last_http_status = ?, last_error = ? WHERE seq = ?
                """, [.text(a.status.rawValue), .int(Int64(a.attempts)), .double(a.at), .optional(a.nextAttemptAt),
                      a.httpStatus.map { .int(Int64($0)) } ?? .null, .optional(a.error), .int(a.seq)])
        case .webhookMaintenance(let keep, let configured, let at):
            let placeholders = configured.map { _ in "?" }.joined(separator: ",")
            try db.run("""
                UPDATE webhook_deliveries SET status = 'dead', next_attempt_at = NULL, last_attempt_at = ?,
                    last_error = 'its URL is no longer in the webhooks configuration'
                WHERE status = 'pending' AND url NOT IN (\(placeholders))
                """, [.double(at)] + configured.map { .text($0) })
            try db.run("""
                DELETE FROM webhook_deliveries WHERE status != 'pending' AND seq NOT IN
                    (SELECT seq FROM webhook_deliveries WHERE status != 'pending' ORDER BY seq DESC LIMIT ?)
                """, [.int(Int64(keep))])
        default:
            break
        }
    }

    public func dueWebhookDeliveries(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord] {
        try read { db throws(SQLiteError) in
            var out: [WebhookDeliveryRecord] = []
            try db.run("SELECT \(Self.webhookColumns) FROM webhook_deliveries WHERE status = 'pending' AND url = ? ORDER BY next_attempt_at, seq LIMIT ?",
                       [.text(url), .int(Int64(limit))]) { row in out.append(Self.delivery(row)) }
            return out
        }
    }

    public func webhookDeliveries(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord] {
        try read { db throws(SQLiteError) in
            var out: [WebhookDeliveryRecord] = []
            // The list shows no bodies: none is read.
            try db.run("SELECT \(Self.listColumns) FROM webhook_deliveries WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                       [.int(before ?? Int64.max), .int(Int64(limit))]) { row in out.append(Self.delivery(row)) }
            return out
        }
    }

    /// The column list with an empty body in place of the stored one.
    static let listColumns = """
        seq, delivery_id, url, event, job_id, schedule, created_at, '', status, attempts, next_attempt_at,
        last_attempt_at, last_http_status, last_error
        """

    static func delivery(_ row: SQLiteRow) -> WebhookDeliveryRecord {
        WebhookDeliveryRecord(
            seq: row.int(0), id: row.text(1), url: row.text(2), event: row.text(3),
            jobID: row.isNull(4) ? nil : row.int(4), schedule: row.optionalText(5), createdAt: row.double(6),
            body: Array(row.text(7).utf8), status: WebhookDeliveryStatus(rawValue: row.text(8)) ?? .dead,
            attempts: Int(row.int(9)), nextAttemptAt: row.optionalDouble(10), lastAttemptAt: row.optionalDouble(11),
            lastHTTPStatus: row.isNull(12) ? nil : Int(row.int(12)), lastError: row.optionalText(13))
    }
}
