import HTTPServer
import JSON
import JobEngine
import JobQueue

/// What a job says while and after it runs: its Server-Sent Events stream
/// (`/api/jobs/:id/progress`) and its log (`/api/jobs/:id/log`).
extension JobRunnerAPI {
    static let jobOutputRoutes: [APIRoute] = [
        APIRoute("GET", "/api/jobs/:id/progress", .scope(.read), handle: { api, req in try api.progress(req) },
                 doc: OpenAPI.streamProgress),
        APIRoute("GET", "/api/jobs/:id/log", .scope(.read), handle: { api, req in try api.log(req) }, doc: OpenAPI.getJobLog),
    ]

    /// `GET /api/jobs/:id/progress`: the job's Server-Sent Events stream.
    func progress(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        guard let job = engine.job(id) else { throw notFound(request) }
        // A client that already saw the end (EventSource reconnecting after the
        // final event): 204 tells it to stop reconnecting.
        // Where the client resumes: `Last-Event-ID` (EventSource reconnecting) or
        // `?after=SEQ` (a first connection that already read the log up to SEQ).
        var resume = request.header("Last-Event-ID").flatMap(UInt64.init)
        if resume == nil { resume = try sequence(request, "after") }
        if job.status.isFinished, let last = resume, last >= job.sequence {
            return HTTPResponse(status: 204)
        }
        guard let stream = streams.open(jobID: id, engine: engine, resumeAfter: resume,
                                        principal: request.attachment as? Principal) else { throw notFound(request) }
        return HTTPResponse(status: 200, headers: [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
        ], body: .stream(stream))
    }

    /// `GET /api/jobs/:id/log`: the job's log as text (one line each; a first line
    /// says how many older lines were dropped), or `?format=jsonl` one JSON object
    /// per line; `?after=SEQ` for the lines after a sequence number.
    func log(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        let after = try sequence(request, "after") ?? 0
        let jsonl: Bool
        switch request.queryValue("format") {
        case nil, "text"?: jsonl = false
        case "jsonl"?: jsonl = true
        case let other?: throw HTTPError(400, "Invalid 'format' value '\(other.prefix(50))': use text or jsonl")
        }
        let found: JobLog?
        do { found = try engine.log(id, after: after) } catch { throw HTTPError(503, error.message) }
        guard let log = found else { throw notFound(request) }
        var body: [UInt8]
        if jsonl {
            var w = JSONWriter(capacity: log.bytes + log.lines.count * 64)
            for line in log.lines {
                w.logLine(line)
                w.raw("\n")
            }
            body = w.bytes
        } else {
            body = []
            body.reserveCapacity(log.bytes + 80)
            if log.dropped > 0 && after == 0 {
                body += Array("[\(log.dropped) earlier lines dropped: the log keeps the newest \(engine.maxLogBytes) bytes]\n".utf8)
            }
            for line in log.lines {
                body += line.text.utf8
                body.append(UInt8(ascii: "\n"))
            }
        }
        var headers = [("X-Log-Dropped", String(log.dropped))]
        if let last = log.lines.last { headers.append(("X-Log-Last-Seq", String(last.seq))) }
        return HTTPResponse(status: 200, headers: [("Content-Type", jsonl ? "application/x-ndjson" : "text/plain; charset=utf-8")] + headers,
                            body: .bytes(body))
    }

    /// A sequence number from the query (`after`), or nil when absent.
    func sequence(_ request: HTTPRequest, _ name: String) throws(HTTPError) -> UInt64? {
        guard let text = request.queryValue(name) else { return nil }
        guard text.utf8.count <= 19, let n = UInt64(text) else {
            throw HTTPError(400, "Invalid '\(name)' value '\(text.prefix(50))': must be a non-negative integer")
        }
        return n
    }
}

extension OpenAPI {
    static func streamProgress(_: JobRegistry) -> Doc {
        Doc(id: "streamProgress", tag: "jobs", summary: "The job's Server-Sent Events stream",
            description: "Events `status`, then `progress` and `log` as they happen, then one of `complete`, `failed` or `cancelled`, after which the response ends. Each event's `id:` is the job's sequence number (see docs/protocol.md).",
            parameters: [jobID,
                         ["name": "Last-Event-ID", "in": "header", "schema": sequence,
                          "description": "Resume after this event (EventSource sends it when it reconnects)."],
                         queryParameter("after", sequence, "Resume after this sequence number (a first connection that already read the log).")],
            responses: [
              "200": ["description": "The stream: each event as the schema says (an SSE parser's `event`, `data` and `id`).",
                       "content": ["text/event-stream": ["schema": ref("ProgressEvent")]]],
              "204": ["description": "The job has finished and the client already saw its final event."],
              "400": error("'after' is not a non-negative integer."),
              "404": error("No such job."),
            ])
    }

    static func getJobLog(_: JobRegistry) -> Doc {
        Doc(id: "getJobLog", tag: "jobs", summary: "The job's log",
            parameters: [jobID,
                         queryParameter("format", ["type": "string", "enum": ["text", "jsonl"], "default": "text"],
                                        "text: one line each; jsonl: one JSON object per line."),
                         queryParameter("after", sequence, "Only lines after this sequence number.")],
            responses: [
              "200": ["description": "The lines, oldest first (text: a first line says how many older lines were dropped).",
                       "headers": ["X-Log-Dropped": header("Lines dropped to keep the log within --max-log-bytes.", ["type": "integer", "minimum": 0], required: true),
                                   "X-Log-Last-Seq": header("The sequence number of the last line given.", ["type": "integer", "minimum": 0])],
                       "content": ["text/plain": ["schema": ["type": "string"]],
                                   "application/x-ndjson": ["schema": ["type": "string"],
                                                             "x-item-schema": ref("LogLine")]]],
              "400": error("'format' or 'after' is invalid."),
              "404": error("No such job."),
              "503": error("The store could not be read."),
            ])
    }
}
