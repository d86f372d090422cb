import HTTPServer
import JSON
import JobQueue

/// `GET /api/webhooks/deliveries` and the body of every webhook POST.
extension JobRunnerAPI {
    static let maxDeliveriesLimit = 1000

    func addWebhookRoutes(_ r: inout Router) {
        r.get("/api/webhooks/deliveries") { [self] req in try listDeliveries(req) }
    }

    /// `?limit=N` (1-1000, default 100) and `?before=SEQ` (the cursor from the
    /// previous page's `next_before`): recent deliveries, newest first.
    func listDeliveries(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        var limit = 100
        if let text = request.queryValue("limit") {
            guard let n = Int(text), (1...Self.maxDeliveriesLimit).contains(n) else {
                throw HTTPError(400, "Invalid 'limit': must be an integer from 1 to \(Self.maxDeliveriesLimit)")
            }
            limit = n
        }
        var before: Int64?
        if let text = request.queryValue("before") {
            guard let n = Int64(text), n > 0 else { throw HTTPError(400, "Invalid 'before': must be a positive integer (a next_before value)") }
            before = n
        }
        guard let source = configuration.webhookDeliveries else {
            return .json(Array(#"{"deliveries":[],"next_before":null}"#.utf8))
        }
        let rows: [WebhookDeliveryRecord]
        do { rows = try source(limit + 1, before) } catch { throw HTTPError(503, error.message) }
        var w = JSONWriter(capacity: 256 * min(rows.count + 1, limit + 1))
        w.raw("{\"deliveries\":[")
        for (i, row) in rows.prefix(limit).enumerated() {
            if i > 0 { w.raw(",") }
            w.delivery(row)
        }
        w.raw("],\"next_before\":")
        if rows.count > limit, let last = rows.prefix(limit).last { w.int(last.seq) } else { w.raw("null") }
        w.raw("}")
        return .json(w.bytes)
    }

    /// The body of a webhook POST: `{"event", "delivery", "time", "job"}` (and
    /// `"schedule"` for `schedule_fired`); the job and schedule as the API shows them.
    public static let webhookBody: WebhookRenderer = { d in
        var w = JSONWriter(capacity: 512)
        w.raw("{\"event\":")
        w.string(d.event.rawValue)
        w.raw(",\"delivery\":")
        w.string(d.id)
        w.raw(",\"time\":")
        w.double(d.createdAt)
        switch d.subject {
        case .job(let job):
            w.raw(",\"job\":")
            w.job(job)
        case .schedule(let s, let job):
            w.raw(",\"schedule\":")
            w.write(.object(s.json))
            w.raw(",\"job\":")
            w.job(job)
        }
        w.raw("}")
        return w.bytes
    }
}

extension JSONWriter {
    /// One delivery of `GET /api/webhooks/deliveries` (its body is not shown).
    mutating func delivery(_ d: WebhookDeliveryRecord) {
        raw("{\"seq\":")
        int(d.seq)
        raw(",\"id\":")
        string(d.id)
        raw(",\"url\":")
        string(d.url)
        raw(",\"event\":")
        string(d.event)
        raw(",\"job_id\":")
        if let id = d.jobID { int(id) } else { raw("null") }
        raw(",\"schedule\":")
        if let s = d.schedule { string(s) } else { raw("null") }
        raw(",\"status\":")
        string(d.status.rawValue)
        raw(",\"attempts\":")
        int(Int64(d.attempts))
        raw(",\"created_at\":")
        double(d.createdAt)
        raw(",\"last_attempt_at\":")
        optionalDouble(d.lastAttemptAt)
        raw(",\"next_attempt_at\":")
        optionalDouble(d.nextAttemptAt)
        raw(",\"last_status\":")
        if let s = d.lastHTTPStatus { int(Int64(s)) } else { raw("null") }
        raw(",\"last_error\":")
        if let e = d.lastError { string(e) } else { raw("null") }
        raw("}")
    }
}
