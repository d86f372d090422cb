import JobQueue

/// The webhook outbox (schema version 2), as in SQLite: a delivery row is
/// written in the transaction of the transition it reports, so a crash neither
/// loses one nor invents one; the delivery thread reads due rows and records
/// each attempt.
extension PostgresJobStore: WebhookOutboxStore {
    static let webhookColumns = """
        seq, delivery_id, url, event, job_id, schedule, created_at, body, status, attempts, next_attempt_at,
        last_attempt_at, last_http_status, last_error
        """

    /// The column list with an empty body in place of the stored one.
    static let webhookListColumns = """
        seq, delivery_id, url, event, job_id, schedule, created_at, '', status, attempts, next_attempt_at,
        last_attempt_at, last_http_status, last_error
        """

    /// The statements of a webhook op; none needs an answer, so they join the
    /// writer's pipeline in order.
    /// Each node delivers the deliveries it wrote (the leader takes over those
    /// of a silent node), so no two nodes send one delivery.
    static func webhookStatements(_ op: StoreOp, node: String) -> [Statement] {
        switch op {
        case .webhookOutbox(let d):
            // Rendered here, on the writer thread, not under the queue's lock.
            let body = String(decoding: d.body(), as: UTF8.self)
            return [("""
                INSERT INTO webhook_deliveries (delivery_id, url, event, job_id, schedule, created_at, body, next_attempt_at, node)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """, [.text(d.id), .text(d.url), .text(d.event.rawValue), .int(d.jobID), .optional(d.scheduleName),
                      .double(d.createdAt), .text(body), .double(d.createdAt), .text(node)])]
        case .webhookAttempt(let a):
            return [("""
                UPDATE webhook_deliveries SET status = $1, attempts = $2, last_attempt_at = $3, next_attempt_at = $4,
                    last_http_status = $5, last_error = $6 WHERE seq = $7
                """, [.text(a.status.rawValue), .int(Int64(a.attempts)), .double(a.at), .optional(a.nextAttemptAt),
                      a.httpStatus.map { .int(Int64($0)) } ?? .null, .optional(a.error), .int(a.seq)])]
        case .webhookMaintenance(let keep, let configured, let at):
            // No URL configured: every pending delivery is an orphan.
            let kept = configured.isEmpty ? "" : " AND url NOT IN (" + configured.indices.map { "$\($0 + 3)" }.joined(separator: ",") + ")"
            return [
                ("""
                 UPDATE webhook_deliveries SET status = 'dead', next_attempt_at = NULL, last_attempt_at = $1,
                     last_error = 'its URL is no longer in the webhooks configuration'
                 WHERE status = 'pending' AND node IS NOT DISTINCT FROM $2\(kept)
                 """, [.double(at), .text(node)] + configured.map { .text($0) }),
                ("""
                 DELETE FROM webhook_deliveries WHERE status != 'pending' AND seq NOT IN
                     (SELECT seq FROM webhook_deliveries WHERE status != 'pending' ORDER BY seq DESC LIMIT $1)
                 """, [.int(Int64(keep))]),
            ]
        default:
            return []
        }
    }

    public func dueWebhookDeliveries(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord] {
        try read { db throws(PostgresError) in
            let r = try db.run("""
                SELECT \(Self.webhookColumns) FROM webhook_deliveries
                WHERE status = 'pending' AND url = $1 AND (node IS NULL OR node = $3)
                ORDER BY next_attempt_at, seq LIMIT $2
                """, [.text(url), .int(Int64(limit)), .text(nodeID)])
            return (0..<r.rows).map { Self.delivery(r, $0) }
        }
    }

    public func webhookDeliveries(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord] {
        try read { db throws(PostgresError) in
            // The list shows no bodies: none is read.
            let r = try db.run("SELECT \(Self.webhookListColumns) FROM webhook_deliveries WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                               [.int(before ?? Int64.max), .int(Int64(limit))])
            return (0..<r.rows).map { Self.delivery(r, $0) }
        }
    }

    static func delivery(_ r: PostgresResult, _ i: Int) -> WebhookDeliveryRecord {
        WebhookDeliveryRecord(
            seq: r.int(i, 0), id: r.text(i, 1), url: r.text(i, 2), event: r.text(i, 3),
            jobID: r.isNull(i, 4) ? nil : r.int(i, 4), schedule: r.optionalText(i, 5), createdAt: r.double(i, 6),
            body: Array(r.text(i, 7).utf8), status: WebhookDeliveryStatus(rawValue: r.text(i, 8)) ?? .dead,
            attempts: Int(r.int(i, 9)), nextAttemptAt: r.optionalDouble(i, 10), lastAttemptAt: r.optionalDouble(i, 11),
            lastHTTPStatus: r.isNull(i, 12) ? nil : Int(r.int(i, 12)), lastError: r.optionalText(i, 13))
    }
}
