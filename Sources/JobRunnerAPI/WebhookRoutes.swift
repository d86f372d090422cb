import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `GET /api/webhooks/deliveries` and the body of every webhook POST.
extension JobRunnerAPI {
    static let maxDeliveriesLimit = 1000

    /// Webhook deliveries name their URLs (which may carry a key): admin only.
    static let webhookRoutes: [APIRoute] = [
        APIRoute("GET", "/api/webhooks/deliveries", .scope(.admin), handle: { api, req in try api.listDeliveries(req) },
                 doc: OpenAPI.listWebhookDeliveries),
    ]

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
            return .json(Self.deliveries([], limit: limit))
        }
        let rows: [WebhookDeliveryRecord]
        do { rows = try source(limit + 1, before) } catch { throw HTTPError(503, error.message) }
        return .json(Self.deliveries(rows, limit: limit))
    }

    /// A page of deliveries: `limit` of `rows`, and the cursor to the next page
    /// when there are more (`rows` holds one more than the page then).
    static func deliveries(_ rows: [WebhookDeliveryRecord], limit: Int) -> [UInt8] {
        var w = JSONWriter(capacity: 256 * min(rows.count + 1, limit + 1))
        w.object { o in
            o.array("deliveries", rows.prefix(limit)) { w, row in w.delivery(row) }
            o.int("next_before", rows.count > limit ? rows.prefix(limit).last?.seq : nil)
        }
        return w.bytes
    }

    /// The body of a webhook POST: `{"event", "delivery", "time", "job"}` (and
    /// `"schedule"` for `schedule_fired`); the job and schedule as the API shows them.
    public static let webhookBody: WebhookRenderer = { d in
        var w = JSONWriter(capacity: 512)
        w.object { o in
            o.string("event", d.event.rawValue)
            o.string("delivery", d.id)
            o.double("time", d.createdAt)
            switch d.subject {
            case .job(let job):
                o.write("job") { $0.job(job) }
            case .schedule(let s, let job):
                o.write("schedule", .object(s.json))
                o.write("job") { $0.job(job) }
            }
        }
        return w.bytes
    }
}

extension JSONWriter {
    /// One delivery of `GET /api/webhooks/deliveries` (its body is not shown).
    mutating func delivery(_ d: WebhookDeliveryRecord) {
        object { o in
            o.int("seq", d.seq)
            o.string("id", d.id)
            o.string("url", d.url)
            o.string("event", d.event)
            o.int("job_id", d.jobID)
            o.string("schedule", d.schedule)
            o.string("status", d.status.rawValue)
            o.int("attempts", d.attempts)
            o.double("created_at", d.createdAt)
            o.double("last_attempt_at", d.lastAttemptAt)
            o.double("next_attempt_at", d.nextAttemptAt)
            o.int("last_status", d.lastHTTPStatus.map(Int64.init))
            o.string("last_error", d.lastError)
        }
    }
}

extension OpenAPI {
    static func listWebhookDeliveries(_: JobRegistry) -> Doc {
        Doc(id: "listWebhookDeliveries", tag: "webhooks", summary: "Recent webhook deliveries, newest first",
            description: "Each delivery with its attempts and last answer (the body sent is not shown). Follow `next_before` for older ones.",
            parameters: [queryParameter("limit", ["type": "integer", "minimum": 1, "maximum": .int(Int64(JobRunnerAPI.maxDeliveriesLimit)), "default": 100], "Page size."),
                         queryParameter("before", ["type": "integer", "minimum": 1, "maximum": .int(largestID)], "The previous page's `next_before`.")],
            responses: ["200": response("A page of deliveries.", object(["deliveries": ["type": "array", "items": ref("WebhookDelivery")],
                                                                         "next_before": ["type": ["integer", "null"]]])),
                        "400": error("A bad limit or cursor."),
                        "503": error("Storage unavailable.")])
    }
}
