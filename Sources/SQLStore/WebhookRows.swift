import JobQueue

/// The webhook outbox's rows, read alike in every SQL store: a delivery row is
/// written in the transaction of the transition it reports, so a crash neither
/// loses one nor invents one; the delivery thread reads due rows.
extension SQLConnection {
    /// The pending deliveries to `url`, the earliest due first. With `node`
    /// (several daemons) only that node's (or nobody's): each node delivers the
    /// deliveries it wrote, so no two nodes send one.
    public func dueWebhookDeliveries(url: String, limit: Int, node: String?) throws(SQLError) -> [WebhookDeliveryRecord] {
        try rows(Self.dialect.sql("""
            SELECT \(WebhookRow.columns(body: true)) FROM webhook_deliveries
            WHERE status = 'pending' AND url = ?\(node == nil ? "" : " AND (node IS NULL OR node = ?)")
            ORDER BY next_attempt_at, seq LIMIT ?
            """), [.text(url)] + (node.map { [.text($0)] } ?? []) + [.int(Int64(limit))]) { row in WebhookRow.delivery(row) }
    }

    /// The newest deliveries before `before`, without bodies (the list shows none: none is read).
    public func webhookDeliveries(limit: Int, before: Int64?) throws(SQLError) -> [WebhookDeliveryRecord] {
        try rows(Self.dialect.sql("SELECT \(WebhookRow.columns(body: false)) FROM webhook_deliveries WHERE seq < ? ORDER BY seq DESC LIMIT ?"),
                 [.int(before ?? Int64.max), .int(Int64(limit))]) { row in WebhookRow.delivery(row) }
    }
}

public enum WebhookRow {
    /// The columns `delivery` reads; without `body`, an empty one in its place.
    static func columns(body: Bool) -> String {
        """
        seq, delivery_id, url, event, job_id, schedule, created_at, \(body ? "body" : "''"), status, attempts, next_attempt_at,
        last_attempt_at, last_http_status, last_error
        """
    }

    static func delivery<Row: SQLRow>(_ row: Row) -> WebhookDeliveryRecord {
        WebhookDeliveryRecord(
            seq: row.int(0), id: row.text(1), url: row.text(2), event: row.text(3),
            jobID: row.optionalInt(4), schedule: row.optionalText(5), createdAt: row.double(6),
            body: Array(row.text(7).utf8), status: WebhookDeliveryStatus(rawValue: row.text(8)) ?? .dead,
            attempts: Int(row.int(9)), nextAttemptAt: row.optionalDouble(10), lastAttemptAt: row.optionalDouble(11),
            lastHTTPStatus: row.optionalInt(12).map { Int($0) }, lastError: row.optionalText(13))
    }

    /// The values of a new delivery row (`delivery_id, url, event, job_id,
    /// schedule, created_at, body, next_attempt_at`). The body is rendered here,
    /// on the writer thread, not under the queue's lock.
    public static func outboxValues(_ d: WebhookDelivery) -> [SQLValue] {
        [.text(d.id), .text(d.url), .text(d.event.rawValue), .int(d.jobID), .optional(d.scheduleName),
         .double(d.createdAt), .text(String(decoding: d.body(), as: UTF8.self)), .double(d.createdAt)]
    }
}
