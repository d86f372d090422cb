import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `GET /api/openapi.json`: the REST API as an OpenAPI 3.1 document, built from
/// the live job types (built-ins and command types) with the same parameter and
/// option schemas that validate submissions, and the scopes of `AuthPolicy`.
/// Serialized once per set of job types (they change on SIGHUP), never per request.
enum OpenAPI {
    static let specVersion = "3.1.0"

    /// The document for these job types. `signIn`: whether the daemon has tokens
    /// (without them `POST /api/session` has nothing to offer and is left out).
    static func document(registry: JobRegistry, version: String, signIn: Bool = true) -> JSONValue {
        var paths = JSONObject()
        for op in operations(registry) where signIn || op.json["operationId"] != "signIn" {
            let path = openAPIPath(op.pattern)
            var item = paths[path]?.objectValue ?? JSONObject()
            item[op.method.lowercased()] = .object(op.json)
            paths[path] = .object(item)
        }
        return .object([
            "openapi": .string(specVersion),
            "info": .object([
                "title": "JobRunner API",
                "version": .string(version),
                "summary": "Submit, watch and manage jobs of a jobrunnerd daemon.",
                "description": .string(infoDescription),
            ]),
            "tags": .array(tags.map { ["name": .string($0.key), "description": .string($0.value)] }),
            "paths": .object(paths),
            // Not an HTTP operation (a client that follows the paths gets no
            // queue from it): the upgrade, described for readers.
            "x-websockets": ["/ws/queue": OpenAPIRules.queueSocket],
            "components": .object([
                "schemas": .object(schemas(registry)),
                "securitySchemes": .object([
                    "bearerAuth": ["type": "http", "scheme": "bearer",
                                    "description": "A token from the config file's 'tokens' (jobrunnerd token new NAME --scopes read,submit). The scopes listed on an operation are the token scopes it needs (admin implies all)."],
                    "sessionCookie": ["type": "apiKey", "in": "cookie", "name": .string(Authenticator.cookieName),
                                       "description": "The dashboard's session, made by POST /api/session; it carries the token's scopes."],
                ]),
            ]),
        ])
    }

    static let infoDescription = """
        The REST API of jobrunnerd. Bodies are UTF-8 JSON; times are Unix epoch seconds \
        (numbers with a fraction); job ids are integers. Every error is a JSON object \
        {"error": "..."} with a 4xx status (5xx: nothing changed, retrying is safe). \
        With tokens configured, every operation except health checks and /api/session \
        needs a bearer token or the session cookie with the scope the operation names; \
        a daemon without tokens (open, loopback only) needs neither. Job types and their \
        params are this daemon's own: the document follows its configuration. \
        The per-job SSE stream and the WebSocket protocol (/ws/queue) are described in docs/protocol.md.
        """

    static let tags: KeyValuePairs<String, String> = [
        "jobs": "Submit, list, cancel and retry jobs; their progress stream and log.",
        "job-types": "The job types this daemon runs and their params.",
        "queues": "Named queues: counts, pause and concurrency.",
        "schedules": "Cron schedules that submit jobs.",
        "status": "Counts, worker figures, liveness and readiness.",
        "session": "The dashboard's sign-in with a token.",
        "webhooks": "Deliveries of the webhooks the config file declares.",
        "meta": "This document and its reader (the WebSocket /ws/queue: x-websockets, docs/protocol.md).",
    ]

    /// `/api/jobs/:id` → `/api/jobs/{id}`.
    static func openAPIPath(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{" + segment.dropFirst() + "}" : String(segment)
        }.joined(separator: "/")
    }

    // MARK: Operations

    struct Operation {
        var method: String
        var pattern: String
        var json: JSONObject
    }

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func nullable(_ type: String) -> JSONValue { ["type": [.string(type), "null"]] }

    static func jsonContent(_ schema: JSONValue) -> JSONValue { ["application/json": ["schema": schema]] }

    static func response(_ description: String, _ schema: JSONValue? = nil, headers: JSONObject? = nil) -> JSONValue {
        var o: JSONObject = ["description": .string(description)]
        if let headers { o["headers"] = .object(headers) }
        if let schema { o["content"] = jsonContent(schema) }
        return .object(o)
    }

    static func error(_ description: String, headers: JSONObject? = nil) -> JSONValue {
        response(description, ref("Error"), headers: headers)
    }

    static func header(_ description: String, _ schema: JSONValue, required: Bool = false) -> JSONValue {
        var o: JSONObject = ["description": .string(description), "schema": schema]
        if required { o["required"] = true }
        return .object(o)
    }

    static func pathParameter(_ name: String, _ schema: JSONValue, _ description: String) -> JSONValue {
        ["name": .string(name), "in": "path", "required": true, "schema": schema, "description": .string(description)]
    }

    static func queryParameter(_ name: String, _ schema: JSONValue, _ description: String, extra: JSONObject = [:]) -> JSONValue {
        var o: JSONObject = ["name": .string(name), "in": "query", "schema": schema, "description": .string(description)]
        for m in extra { o[m.key] = m.value }
        return .object(o)
    }

    static let jobID = pathParameter("id", ["type": "integer", "minimum": 1, "maximum": .int(largestID)], "The job's id.")
    static let queueName = pathParameter("name", ["type": "string", "pattern": "^[a-z0-9_-]{1,64}$"], "The queue's name.")
    static let scheduleName = pathParameter("name", ["type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"], "The schedule's name.")
    static let sequence: JSONValue = ["type": "integer", "minimum": 0, "maximum": .int(largestID)]
    /// Ids and sequence numbers go up to 2^63-1; the document says 2^53-1, the
    /// largest integer JavaScript (and so many clients) reads exactly.
    static let largestID: Int64 = 9_007_199_254_740_991

    /// One operation: the scope from `AuthPolicy` and the errors every operation
    /// of its kind can answer besides its own.
    static func operation(_ method: String, _ pattern: String, id: String, tag: String, summary: String, description: String? = nil,
                          parameters: [JSONValue] = [], body: JSONValue? = nil, bodyRequired: Bool = true,
                          responses: JSONObject) -> Operation {
        var o: JSONObject = ["operationId": .string(id), "tags": [.string(tag)], "summary": .string(summary)]
        if let description { o["description"] = .string(description) }
        if !parameters.isEmpty { o["parameters"] = .array(parameters) }
        if let body {
            o["requestBody"] = ["required": .bool(bodyRequired), "content": jsonContent(body)]
        }
        let rule = AuthPolicy.rules.first { $0.method == method && $0.pattern == pattern } ?? AuthPolicy.rule(method: method, path: pattern)
        var all = responses
        let changes = method != "GET"
        switch rule.access {
        case .open:
            o["security"] = [[:]]
            o["x-scope"] = "open"
        case .scope(let scope):
            let s = JSONValue.string(scope.rawValue)
            o["security"] = [["bearerAuth": [s]], ["sessionCookie": [s]]]
            o["x-scope"] = s
            if all["401"] == nil {
                all["401"] = error("Tokens are required and none was given (or it is unknown, or the session ended).",
                                   headers: ["WWW-Authenticate": header("Bearer", ["type": "string"], required: true)])
            }
            if all["403"] == nil {
                all["403"] = error(changes ? "The token lacks the '\(scope.rawValue)' scope, or a browser's cross-site request was refused."
                                           : "The token lacks the '\(scope.rawValue)' scope.")
            }
        }
        if changes && all["403"] == nil { all["403"] = error("A browser's cross-site request was refused.") }
        if body != nil && all["413"] == nil { all["413"] = error("The body is over the daemon's --max-body.") }
        if rule.rateLimited {
            all["429"] = error("Over --rate-limit: wait as long as Retry-After says.",
                               headers: ["Retry-After": header("Seconds to wait.", ["type": "integer"], required: true)])
        }
        if changes && all["503"] == nil && rule.access != .open {
            all["503"] = error("The store could not commit, or the daemon is shutting down: nothing changed, retrying is safe.")
        }
        var sorted = JSONObject()
        for m in all.sorted(by: { $0.key < $1.key }) { sorted[m.key] = m.value }
        o["responses"] = .object(sorted)
        return Operation(method: method, pattern: pattern, json: o)
    }

    /// `POST /api/jobs/bulk/ACTION`: a count first (`dry_run`), then the action
    /// with the count the user confirmed.
    static func bulkOperation(_ action: String, _ summary: String, _ filter: JSONValue) -> Operation {
        var body = object(["filter": filter, "expected_count": ["type": "integer", "minimum": 0],
                           "dry_run": ["type": "boolean"]], required: ["filter"])
        if case .object(var o) = body {
            o["additionalProperties"] = false
            // A real run names the count the user confirmed; a dry run needs none.
            o["anyOf"] = [["required": ["expected_count"]],
                          ["required": ["dry_run"], "properties": ["dry_run": ["const": true]]]]
            body = .object(o)
        }
        let outcome = object(["action": ["const": .string(action)], "count": ["type": "integer", "minimum": 0],
                              "done": ["type": "integer", "minimum": 0], "failed": ["type": "integer", "minimum": 1],
                              "error": ["type": ["string", "null"]]], required: ["action", "count"])
        return operation("POST", "/api/jobs/bulk/\(action)", id: "bulk\(action.prefix(1).uppercased())\(action.dropFirst())", tag: "jobs", summary: summary,
                         description: "With `\"dry_run\": true` the answer is only the count. Otherwise `expected_count` must equal the count the filter selects now (else 409 with the new count); at most \(JobEngine.bulkLimit) jobs per call.",
                         body: body,
                         responses: ["200": response("The count, and for a real run how many were done (and failed, with the first error).", outcome),
                                     "400": error("A bad body or filter, a missing expected_count, or more than \(JobEngine.bulkLimit) jobs selected."),
                                     "409": response("The filter now selects another number of jobs: confirm again.",
                                                     object(["error": ["type": "string"], "count": ["type": "integer", "minimum": 0]])),
                                     "503": error("Shutting down (retry), or the store could not be read or written.")])
    }

    static func operations(_ registry: JobRegistry) -> [Operation] {
        jobOperations(registry) + otherOperations() + scheduleOperations()
    }

    static func jobOperations(_ registry: JobRegistry) -> [Operation] {
        let statuses = JSONValue.array(JobStatus.allCases.map { .string($0.rawValue) })
        let types = JSONValue.array(registry.types.map { .string($0.name) })
        let list: [JSONValue] = [
            queryParameter("limit", ["type": "integer", "minimum": 1, "maximum": .int(Int64(JobsQueryParser.maxLimit)), "default": 1000],
                           "Page size."),
            queryParameter("before_id", ["type": "integer", "minimum": 0, "maximum": .int(largestID)], "Only jobs with a smaller id."),
            queryParameter("after_id", ["type": "integer", "minimum": 0, "maximum": .int(largestID)],
                           "Only jobs with a larger id; the page is then the oldest matching jobs above it."),
            queryParameter("order", ["type": "string", "enum": ["asc", "desc"], "default": "asc"], "Order within the page."),
            queryParameter("status", ["type": "array", "items": ["type": "string", "enum": statuses]],
                           "Comma-separated statuses; a job matches any of them.", extra: ["style": "form", "explode": false]),
            queryParameter("type", ["type": "array", "items": ["type": "string", "enum": types]],
                           "Comma-separated job type names; a job matches any of them.", extra: ["style": "form", "explode": false]),
            queryParameter("schedule", ["type": "string", "pattern": .string(OpenAPIRules.scheduleNamePattern)], "Only jobs this schedule made."),
            queryParameter("queue", ["type": "array", "items": ["type": "string", "pattern": .string(OpenAPIRules.queueNamePattern)],
                                     "maxItems": .int(Int64(JobsQueryParser.maxQueueNames))],
                           "Comma-separated queue names (at most 100); a job matches any of them.", extra: ["style": "form", "explode": false]),
            queryParameter("created_after", OpenAPIRules.timeText,
                           "Only jobs created at or after this time: epoch seconds, or ISO 8601 with a zone (2026-11-29T14:00:00Z)."),
            queryParameter("created_before", OpenAPIRules.timeText, "Only jobs created before this time (same forms as created_after)."),
            queryParameter("q", OpenAPIRules.search,
                           "Text search in params and error: whole words, `word*` for a prefix, `\"a phrase\"`; every term must match; at most 200 characters, 800 bytes and 16 words (docs/history.md)."),
        ]
        // Lists as comma-separated strings or arrays of names, times as epoch
        // seconds (numbers or text) or ISO 8601 text; null is no filter.
        let nameList: (String, [String]) -> JSONValue = { what, names in
            ["anyOf": [["type": "string", "pattern": .string(OpenAPIRules.commaList(names))],
                       ["type": "array", "items": ["enum": .array(names.map(JSONValue.string))]],
                       ["type": "null"]],
             "description": .string("Comma-separated \(what), or an array of them; a job matches any.")]
        }
        let queues: JSONValue = ["anyOf": [["type": "string", "pattern": .string(OpenAPIRules.queueList)],
                                           ["type": "array", "items": ["type": "string", "pattern": .string(OpenAPIRules.queueNamePattern)],
                                            "maxItems": .int(Int64(JobsQueryParser.maxQueueNames))],
                                           ["type": "null"]],
                                 "description": "Comma-separated queue names, or an array of them (at most 100); a job matches any."]
        let orNull: (JSONValue) -> JSONValue = { ["anyOf": [$0, ["type": "null"]]] }
        var jobsFilter = object(["status": nameList("statuses", JobStatus.allCases.map(\.rawValue)),
                                 "type": nameList("job type names", registry.types.map(\.name)), "queue": queues,
                                 "schedule": orNull(["type": "string", "pattern": .string(OpenAPIRules.scheduleNamePattern)]),
                                 "created_after": orNull(OpenAPIRules.timeValue), "created_before": orNull(OpenAPIRules.timeValue),
                                 "q": orNull(OpenAPIRules.search)],
                                required: [], description: "The filters of GET /api/jobs, no others.")
        if case .object(var o) = jobsFilter { o["additionalProperties"] = false; jobsFilter = .object(o) }
        let submissions = registry.types.map { ref("Submission.\($0.name)") }
        let mapping = JSONObject(registry.types.map { ($0.name, .string("#/components/schemas/Submission.\($0.name)")) })
        let location = header("The job's URL.", ["type": "string"], required: true)
        let badJob = error("The job has finished: it cannot be cancelled (the body also has 'job_id').")
        return [
            operation("GET", "/api/jobs", id: "listJobs", tag: "jobs", summary: "A page of jobs, filtered",
                      description: "Without after_id: the newest `limit` matching jobs (below before_id if given); with after_id: the oldest above it. Follow the Link header for the next page until it is absent.",
                      parameters: list,
                      responses: [
                        "200": response("The jobs of the page, in `order`.", ["type": "array", "items": ref("Job")], headers: [
                            "X-Total-Count": header("How many jobs match the filters, whatever the cursor.", ["type": "integer", "minimum": 0], required: true),
                            "Link": header("`</api/jobs?...>; rel=\"next\"` when more jobs lie beyond the page.", ["type": "string"]),
                            "X-Total-Count-Capped": header("`true` when a search or time range matched more jobs than are counted: X-Total-Count is then a lower bound.",
                                                           ["type": "string", "enum": ["true"]]),
                        ]),
                        "400": error("A query parameter is invalid (the message names it)."),
                        "503": error("The store could not be read."),
                      ]),
            operation("POST", "/api/jobs", id: "createJob", tag: "jobs", summary: "Submit a job",
                      description: "The body names the job type (`job_type`), its `params` and options. Each type's params are checked as its schema says, in declaration order; the first failure is the 400's message.",
                      parameters: [["name": "Idempotency-Key", "in": "header", "schema": ["type": "string", "minLength": 1, "maxLength": 200],
                                    "description": "Same as the body's idempotency_key (they must agree when both are given)."]],
                      body: ["oneOf": .array(submissions), "discriminator": ["propertyName": "job_type", "mapping": .object(mapping)]],
                      responses: [
                        "201": response("The new job.", ref("Job"), headers: ["Location": location]),
                        "200": response("A job with this idempotency key exists: that job, nothing new.", ref("Job"), headers: ["Location": location]),
                        "400": error("Invalid JSON, an unknown type, invalid params or options (the message names the field and rule)."),
                      ]),
            bulkOperation("cancel", "Cancel every pending or running job a filter selects", jobsFilter),
            bulkOperation("retry", "Retry every failed or cancelled job a filter selects", jobsFilter),
            bulkOperation("delete", "Delete every finished job a filter selects, with its log", jobsFilter),
            operation("POST", "/api/jobs/clear-completed", id: "clearCompleted", tag: "jobs", summary: "Remove every finished job",
                      responses: ["200": response("How many completed, failed and cancelled jobs were removed.", ref("Cleared"))]),
            operation("GET", "/api/jobs/:id", id: "getJob", tag: "jobs", summary: "One job", parameters: [jobID],
                      responses: ["200": response("The job.", ref("Job")), "404": error("No such job (or cleared, or pruned).")]),
            operation("DELETE", "/api/jobs/:id", id: "cancelJob", tag: "jobs", summary: "Cancel a pending or running job", parameters: [jobID],
                      responses: ["200": response("Cancelled.", ref("Cancelled")), "409": badJob, "404": error("No such job.")]),
            operation("POST", "/api/jobs/:id/retry", id: "retryJob", tag: "jobs", summary: "Put a failed or cancelled job back to pending",
                      parameters: [jobID],
                      responses: ["200": response("The job, pending again with a fresh set of attempts.", ref("Job")),
                                  "404": error("No such job."),
                                  "409": error("The job is not failed or cancelled (the body also has 'job_id').")]),
            operation("GET", "/api/jobs/:id/progress", id: "streamProgress", tag: "jobs", summary: "The job's Server-Sent Events stream",
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
                      ]),
            operation("GET", "/api/jobs/:id/log", id: "getJobLog", tag: "jobs", summary: "The job's log",
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
                      ]),
        ]
    }

    static func otherOperations() -> [Operation] {
        [
            operation("GET", "/api/job-types", id: "listJobTypes", tag: "job-types", summary: "The job types and their params",
                      description: "The params of each type as the dashboard's forms use them. The same rules as JSON Schema: components Params.TYPE.",
                      responses: ["200": response("The types, in a fixed order.", ["type": "array", "items": ref("JobTypeInfo")])]),
            operation("GET", "/api/stats", id: "getStats", tag: "status", summary: "Job counts and worker figures",
                      responses: ["200": response("Counts per status, worker figures, live clients.", ref("Stats"))]),
            operation("GET", "/healthz", id: "health", tag: "status", summary: "Alive",
                      responses: ["200": response("The process serves.", ["type": "object", "required": ["status"],
                                                                               "properties": ["status": ["const": "ok"]]])]),
            operation("GET", "/readyz", id: "ready", tag: "status", summary: "Ready to take work",
                      responses: ["200": response("The store commits and the daemon is not draining.", ref("Readiness")),
                                  "503": response("Draining, or the store cannot commit.", ref("Readiness"))]),
            operation("GET", "/metrics", id: "metrics", tag: "status", summary: "Prometheus metrics",
                      description: "The Prometheus text format (version 0.0.4): jobs, run and pickup times, HTTP requests, clients, the store and the process; see docs/metrics.md.",
                      responses: ["200": ["description": "The metrics.", "content": ["text/plain": ["schema": ["type": "string"]]]],
                                  "404": error("Metrics are turned off (--metrics off).")]),
            operation("GET", "/api/queues", id: "listQueues", tag: "queues", summary: "Every named queue with its settings and counts",
                      responses: ["200": response("The queues.", ["type": "array", "items": ref("Queue")])]),
            operation("GET", "/api/nodes", id: "listNodes", tag: "status", summary: "The nodes sharing the store",
                      description: "Every daemon on the same PostgreSQL database, by id; one entry, this daemon, otherwise.",
                      responses: ["200": response("The nodes.", ["type": "array", "items": ref("Node")]),
                                  "503": error("The store cannot be read.")]),
            operation("PUT", "/api/queues/:name", id: "updateQueue", tag: "queues", summary: "Pause, resume or limit a queue",
                      description: "Takes effect at once and is kept across restarts; a paused queue starts nothing (its running jobs go on).",
                      parameters: [queueName], body: ref("QueueUpdate"),
                      responses: ["200": response("The queue's settings.", ref("Queue")),
                                  "400": error("Invalid JSON, a bad value, or an unknown field (the message names it).")]),
            operation("GET", "/api/session", id: "getSession", tag: "session", summary: "Who is signed in",
                      responses: ["200": response("The caller: by session cookie or bearer token (open daemon: anybody).", ref("Session")),
                                  "401": error("Nobody is signed in.",
                                                headers: ["WWW-Authenticate": header("Bearer", ["type": "string"], required: true)])]),
            operation("POST", "/api/session", id: "signIn", tag: "session", summary: "Trade a token for a session cookie",
                      body: ["type": "object", "required": ["token"], "additionalProperties": false,
                             "properties": ["token": ["type": "string", "minLength": 1, "maxLength": 1024,
                                                      "description": "A token of the config file (its text, as a bearer token carries it)."]]],
                      responses: ["200": response("Signed in: Set-Cookie carries the HttpOnly session.", ref("Session"),
                                                   headers: ["Set-Cookie": header("The session cookie.", ["type": "string"], required: true)]),
                                  "400": error("Authentication is off, or the body is not {\"token\": string}."),
                                  "401": error("The token is unknown.",
                                                headers: ["WWW-Authenticate": header("Bearer", ["type": "string"], required: true)]),
                                  "429": error("Too many sign-ins: wait as long as Retry-After says.",
                                               headers: ["Retry-After": header("Seconds to wait.", ["type": "integer"], required: true)])]),
            operation("DELETE", "/api/session", id: "signOut", tag: "session", summary: "End the cookie's session",
                      responses: ["200": response("Signed out (also when there was no session).",
                                                   ["type": "object", "required": ["signed_out"], "properties": ["signed_out": ["const": true]]])]),
            operation("GET", "/api/webhooks/deliveries", id: "listWebhookDeliveries", tag: "webhooks", summary: "Recent webhook deliveries, newest first",
                      description: "Each delivery with its attempts and last answer (the body sent is not shown). Follow `next_before` for older ones.",
                      parameters: [queryParameter("limit", ["type": "integer", "minimum": 1, "maximum": .int(Int64(JobRunnerAPI.maxDeliveriesLimit)), "default": 100], "Page size."),
                                   queryParameter("before", ["type": "integer", "minimum": 1, "maximum": .int(largestID)], "The previous page's `next_before`.")],
                      responses: ["200": response("A page of deliveries.", object(["deliveries": ["type": "array", "items": ref("WebhookDelivery")],
                                                                                   "next_before": ["type": ["integer", "null"]]])),
                                  "400": error("A bad limit or cursor."),
                                  "503": error("Storage unavailable.")]),
            operation("GET", "/api/openapi.json", id: "getOpenAPI", tag: "meta", summary: "This document",
                      responses: ["200": response("OpenAPI 3.1, with this daemon's job types.", ["type": "object"])]),
            operation("GET", "/api/docs", id: "getAPIDocs", tag: "meta", summary: "A page that renders this document",
                      responses: ["200": ["description": "The page.", "content": ["text/html": ["schema": ["type": "string"]]]],
                                  "404": error("The daemon serves no web root.")]),
        ]
    }

    static func scheduleOperations() -> [Operation] {
        let notFound = error("No such schedule.")
        return [
            operation("GET", "/api/schedules", id: "listSchedules", tag: "schedules", summary: "Every schedule",
                      responses: ["200": response("The schedules.", ["type": "array", "items": ref("Schedule")])]),
            operation("POST", "/api/schedules", id: "createSchedule", tag: "schedules", summary: "Create a schedule",
                      body: ref("NewSchedule"),
                      responses: ["201": response("The new schedule.", ref("Schedule"),
                                                   headers: ["Location": header("The schedule's URL.", ["type": "string"], required: true)]),
                                  "400": error("A field is invalid (the message names it): bad cron, unknown zone or type, invalid params."),
                                  "409": error("A schedule of that name exists.")]),
            operation("GET", "/api/schedules/:name", id: "getSchedule", tag: "schedules", summary: "One schedule",
                      parameters: [scheduleName], responses: ["200": response("The schedule.", ref("Schedule")), "404": notFound]),
            operation("PUT", "/api/schedules/:name", id: "putSchedule", tag: "schedules", summary: "Create or replace a schedule",
                      parameters: [scheduleName], body: ref("ScheduleDefinition"),
                      responses: ["200": response("Replaced.", ref("Schedule"),
                                                   headers: ["Location": header("The schedule's URL.", ["type": "string"], required: true)]),
                                  "201": response("Created.", ref("Schedule"),
                                                   headers: ["Location": header("The schedule's URL.", ["type": "string"], required: true)]),
                                  "400": error("A field is invalid (the message names it), or 'name' differs from the path.")]),
            operation("DELETE", "/api/schedules/:name", id: "deleteSchedule", tag: "schedules", summary: "Delete a schedule",
                      parameters: [scheduleName],
                      responses: ["200": response("Deleted.", ["type": "object", "required": ["deleted"], "properties": ["deleted": ["type": "string"]]]),
                                  "404": notFound]),
            operation("POST", "/api/schedules/:name/pause", id: "pauseSchedule", tag: "schedules", summary: "Pause a schedule",
                      parameters: [scheduleName], responses: ["200": response("The schedule, paused.", ref("Schedule")), "404": notFound]),
            operation("POST", "/api/schedules/:name/resume", id: "resumeSchedule", tag: "schedules", summary: "Resume a schedule",
                      parameters: [scheduleName], responses: ["200": response("The schedule, running.", ref("Schedule")), "404": notFound]),
            operation("POST", "/api/schedules/:name/run", id: "runSchedule", tag: "schedules", summary: "Submit the schedule's job now",
                      parameters: [scheduleName],
                      responses: ["201": response("The job it made.", ref("Job"),
                                                   headers: ["Location": header("The job's URL.", ["type": "string"], required: true)]),
                                  "404": notFound]),
            operation("GET", "/api/cron", id: "previewCron", tag: "schedules", summary: "What a cron expression means, and its next times",
                      parameters: [queryParameter("cron", ref("Cron"), "A five-field cron expression or an @-shortcut.",
                                                  extra: ["required": true, "example": "30 3 * * *"]),
                                   queryParameter("timezone", ref("TimeZone"), "An IANA time zone name (UTC if not given).")],
                      responses: ["200": response("A human reading and the next three times (epoch seconds).", ref("CronPreview")),
                                  "400": error("The expression or zone is invalid, or 'cron' is missing.")]),
        ]
    }

    // MARK: Schemas

    static func object(_ properties: KeyValuePairs<String, JSONValue>, required: [String]? = nil, description: String? = nil) -> JSONValue {
        var o: JSONObject = ["type": "object"]
        if let description { o["description"] = .string(description) }
        o["required"] = .array((required ?? properties.map(\.key)).map(JSONValue.string))
        var members = JSONObject()
        for (k, v) in properties { members[k] = v }
        o["properties"] = .object(members)
        return .object(o)
    }

    static let timestamp: JSONValue = ["type": "number", "description": "Epoch seconds."]
    static let optionalTimestamp: JSONValue = ["type": ["number", "null"], "description": "Epoch seconds, or null."]
    static let count: JSONValue = ["type": "integer", "minimum": 0]

    static func schemas(_ registry: JobRegistry) -> JSONObject {
        var s = JSONObject()
        s["Error"] = object(["error": ["type": "string"], "job_id": ["type": "integer"]], required: ["error"],
                            description: "Every error's body.")
        s["ProgressEvent"] = OpenAPIRules.progressEvent()
        s["Cron"] = OpenAPIRules.cron
        s["TimeZone"] = OpenAPIRules.zone
        s["Progress"] = object(["percent": ["type": "integer", "minimum": 0, "maximum": 100], "message": ["type": "string"]])
        s["Job"] = object([
            "id": ["type": "integer", "minimum": 1],
            "type": ["type": "string"],
            "params": ["type": "object", "description": "The validated params, defaults filled in."],
            "status": ["type": "string", "enum": .array(JobStatus.allCases.map { .string($0.rawValue) })],
            "progress": ref("Progress"),
            "result": ["description": "The type's result once completed, else null."],
            "error": nullable("string"),
            "created_at": timestamp, "started_at": optionalTimestamp, "completed_at": optionalTimestamp,
            "queue": ["type": "string"],
            "priority": ["type": "integer", "minimum": -100, "maximum": 100],
            "run_at": optionalTimestamp,
            "attempt": count, "max_attempts": ["type": "integer", "minimum": 1],
            "timeout": ["type": ["number", "null"], "description": "Seconds an attempt may run, or null."],
            "idempotency_key": nullable("string"),
            "schedule": ["type": ["string", "null"], "description": "The schedule that made the job, or null."],
            "node": ["type": ["string", "null"], "description": "On PostgreSQL: the node that runs (or last ran) the job; null before it first starts, and with SQLite or in memory."],
            "errors": ["type": "array", "items": object(["attempt": ["type": "integer"], "error": ["type": "string"], "at": timestamp])],
        ], required: ["id", "type", "params", "status", "progress", "result", "error", "created_at", "started_at", "completed_at",
                      "queue", "priority", "run_at", "attempt", "max_attempts", "timeout", "idempotency_key", "schedule", "node", "errors"],
           description: "A job (docs/protocol.md, the job model).")
        s["Cancelled"] = object(["success": ["const": true], "job_id": ["type": "integer"]])
        s["Node"] = object(["id": ["type": "string"], "address": ["type": "string"], "pid": ["type": "integer"],
                            "started_at": timestamp, "heartbeat_at": timestamp, "running": count,
                            "leader": ["type": "boolean"], "self": ["type": "boolean"], "alive": ["type": "boolean"]],
                           description: "A daemon sharing the store (docs/cluster.md).")
        s["Cleared"] = object(["cleared": count])
        s["LogLine"] = object(["seq": count, "ts": timestamp,
                               "stream": ["type": "string", "enum": .array(LogStream.allCases.map { .string($0.rawValue) })],
                               "line": ["type": "string"]])
        s["QueueStats"] = object(["pending": count, "running": count, "completed": count, "failed": count, "cancelled": count, "total": count])
        s["WorkerStats"] = object(["active": count, "capacity": ["type": "integer", "minimum": 1], "processed": count,
                                   "is_running": ["type": "boolean"]])
        s["Stats"] = object(["queue": ref("QueueStats"), "worker": ref("WorkerStats"),
                             "clients": object(["sse": count, "websocket": count])], required: ["queue", "worker"])
        let optionalTime: JSONValue = ["type": ["number", "null"]]
        s["WebhookDelivery"] = object(["seq": ["type": "integer"], "id": ["type": "string"], "url": ["type": "string"],
                                       "event": ["type": "string", "enum": .array(WebhookEvent.allCases.map { .string($0.rawValue) })],
                                       "job_id": ["type": ["integer", "null"]], "schedule": ["type": ["string", "null"]],
                                       "status": ["type": "string", "enum": .array(WebhookDeliveryStatus.allCases.map { .string($0.rawValue) })],
                                       "attempts": count, "created_at": ["type": "number"], "last_attempt_at": optionalTime,
                                       "next_attempt_at": optionalTime, "last_status": ["type": ["integer", "null"]],
                                       "last_error": ["type": ["string", "null"]]])
        s["Readiness"] = object(["status": ["type": "string", "enum": ["ready", "not ready"]], "error": ["type": "string"],
                                 "reasons": ["type": "array", "items": ["type": "string"]]], required: ["status"])
        s["Queue"] = object(["name": ["type": "string"], "paused": ["type": "boolean"],
                             "concurrency": ["type": ["integer", "null"], "minimum": 1], "counts": ref("QueueStats")],
                            required: ["name", "paused", "concurrency"], description: "A queue; `counts` in the list only.")
        var update = object(["paused": ["type": "boolean"],
                             "concurrency": ["type": ["integer", "null"], "minimum": 1, "maximum": 10_000, "description": "null: no limit of its own."]],
                            required: [])
        if case .object(var o) = update { o["additionalProperties"] = false; update = .object(o) }
        s["QueueUpdate"] = update
        s["Session"] = object(["auth": ["type": "string", "enum": ["none", "tokens"]], "name": nullable("string"),
                               "scopes": ["type": "array", "items": ["type": "string", "enum": .array(Scope.allCases.map { .string($0.rawValue) })]],
                               "via": ["type": ["string", "null"], "enum": ["token", "session", .null]],
                               "expires_in": ["type": "integer", "description": "Seconds the new session lasts (sign-in only)."]],
                              required: ["auth", "name", "scopes", "via"])
        s["CronPreview"] = object(["description": ["type": "string"], "next": ["type": "array", "items": timestamp]])
        s["ParamInfo"] = object([
            "name": ["type": "string"],
            "type": ["type": "string", "enum": ["integer", "number", "string", "boolean"]],
            "default": ["description": "null when the param has none."],
            "min": ["type": "number"], "max": ["type": "number"], "max_length": ["type": "integer"],
            "required": ["type": "boolean"], "pattern": ["type": "string"], "enum": ["type": "array"],
            "description": ["type": "string"],
        ], required: ["name", "type", "default", "description"], description: "A param as /api/job-types lists it (for forms).")
        s["JobTypeInfo"] = object(["name": ["type": "string"], "description": ["type": "string"],
                                   "params": ["type": "array", "items": ref("ParamInfo")]])
        s["Schedule"] = object([
            "name": ["type": "string"], "cron": ["type": "string"], "timezone": ["type": "string"],
            "job_type": ["type": "string"], "params": ["type": "object"], "options": ["type": "object"],
            "overlap": ["type": "string", "enum": .array(Schedule.Overlap.allCases.map { .string($0.rawValue) })],
            "catch_up": ["type": "string", "enum": .array(Schedule.CatchUp.allCases.map { .string($0.rawValue) })],
            "paused": ["type": "boolean"],
            "next_run_at": optionalTimestamp, "last_run_at": optionalTimestamp, "last_job_id": nullable("integer"),
            "created_at": timestamp,
            "description": ["type": ["string", "null"], "description": "A human reading of the cron expression."],
        ], description: "A schedule as stored (docs/schedules.md).")

        // The submission options once each, referred to by every type's submission and schedule.
        for m in JobOptions.fieldSchemas() { s["Option.\(m.key)"] = m.key == "backoff" ? OpenAPIRules.orderedBackoff(m.value) : m.value }
        var newSchedules: [JSONValue] = []
        var definitions: [JSONValue] = []
        for type in registry.types {
            s["Params.\(type.name)"] = OpenAPIRules.withoutNUL(type.paramsSchema)
            s["Submission.\(type.name)"] = submission(type)
            s["NewSchedule.\(type.name)"] = scheduleDefinition(type, nameRequired: true)
            s["ScheduleDefinition.\(type.name)"] = scheduleDefinition(type, nameRequired: false)
            newSchedules.append(ref("NewSchedule.\(type.name)"))
            definitions.append(ref("ScheduleDefinition.\(type.name)"))
        }
        s["NewSchedule"] = ["oneOf": .array(newSchedules), "description": "A schedule for one of the job types."]
        s["ScheduleDefinition"] = ["oneOf": .array(definitions),
                                   "description": "A schedule for one of the job types; 'name' may be left out (the path names it)."]
        return s
    }

    /// `POST /api/jobs` for one type: `job_type` is its name, `params` its schema, and the options.
    static func submission(_ type: any JobType) -> JSONValue {
        var properties = JSONObject()
        properties["job_type"] = ["const": .string(type.name)]
        properties["params"] = ref("Params.\(type.name)")
        for m in JobOptions.fieldSchemas() { properties[m.key] = ref("Option.\(m.key)") }
        var required: [JSONValue] = ["job_type"]
        if type.needsParams { required.append("params") }
        return .object([
            "type": "object",
            "title": .string(type.name),
            "description": .string(type.description),
            "required": .array(required),
            "properties": .object(properties),
            "not": ["required": ["run_at", "delay"], "description": "Give either run_at or delay, not both."],
        ])
    }

    static func scheduleDefinition(_ type: any JobType, nameRequired: Bool) -> JSONValue {
        var options: JSONObject = ["type": "object", "additionalProperties": false]
        var fields = JSONObject()
        for m in JobOptions.fieldSchemas(scheduled: true) { fields[m.key] = ref("Option.\(m.key)") }
        options["properties"] = .object(fields)
        options["description"] = "Options of the jobs it submits."
        var required: [JSONValue] = nameRequired ? ["name", "cron", "job_type"] : ["cron", "job_type"]
        if type.needsParams { required.append("params") }
        return .object([
            "type": "object",
            "title": .string(type.name),
            "required": .array(required),
            "properties": .object([
                "name": ["type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"],
                "cron": ref("Cron"),
                "timezone": ref("TimeZone"),
                "job_type": ["const": .string(type.name)],
                "params": ref("Params.\(type.name)"),
                "options": .object(options),
                "overlap": ["type": "string", "enum": .array(Schedule.Overlap.allCases.map { .string($0.rawValue) }), "default": "skip"],
                "catch_up": ["type": "string", "enum": .array(Schedule.CatchUp.allCases.map { .string($0.rawValue) }), "default": "none"],
                "paused": ["type": "boolean", "default": false],
            ]),
            "additionalProperties": false,
        ])
    }
}
