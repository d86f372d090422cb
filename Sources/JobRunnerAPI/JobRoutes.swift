import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `/api/jobs`: submit, list, get, cancel, retry and clear jobs (the bulk
/// actions, the progress stream and the log have files of their own), and
/// `/api/job-types`, the types a submission names.
extension JobRunnerAPI {
    static let jobRoutes: [APIRoute] = [
        APIRoute("GET", "/api/jobs", .scope(.read), handle: { api, req in try api.listJobs(req) }, doc: OpenAPI.listJobs),
        APIRoute("POST", "/api/jobs", .scope(.submit), rateLimited: true, handle: { api, req in try api.createJob(req) },
                 doc: OpenAPI.createJob),
    ] + bulkRoutes + [
        APIRoute("POST", "/api/jobs/clear-completed", .scope(.admin), handle: { api, _ in try api.clearCompleted() },
                 doc: OpenAPI.clearCompleted),
        APIRoute("GET", "/api/jobs/:id", .scope(.read), handle: { api, req in try api.getJob(req) }, doc: OpenAPI.getJob),
        APIRoute("DELETE", "/api/jobs/:id", .scope(.submit), handle: { api, req in try api.cancelJob(req) }, doc: OpenAPI.cancelJob),
        APIRoute("POST", "/api/jobs/:id/retry", .scope(.submit), handle: { api, req in try api.retryJob(req) }, doc: OpenAPI.retryJob),
    ] + jobOutputRoutes + [
        APIRoute("GET", "/api/job-types", .scope(.read), handle: { api, _ in api.jobTypes() }, doc: OpenAPI.listJobTypes),
    ]

    /// `GET /api/jobs`: a page of history, filtered; a JSON array,
    /// with `X-Total-Count` and a `Link` to the next page.
    func listJobs(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let query = try JobsQueryParser.parse(request, registry: engine.registry)
        let page: JobPage
        do { page = try engine.list(query) } catch { throw HTTPError(503, error.message) }
        var w = JSONWriter(capacity: 64 + page.jobs.count * 256)
        w.jobs(page.jobs)
        var headers = [("X-Total-Count", String(page.total))]
        // A search or time range counts up to JobQuery.countCap matches.
        if page.totalCapped { headers.append(("X-Total-Count-Capped", "true")) }
        if let link = JobsQueryParser.nextLink(query, page, request) { headers.append(("Link", link)) }
        return .json(w.bytes, headers: headers)
    }

    func createJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard !shuttingDown.load(ordering: .relaxed) else { throw HTTPError(503, "Shutting down") }
        guard let body = try? JSONValue.parse(request.body, limits: limits), case .object(let object) = body else {
            throw HTTPError(400, "Invalid JSON body")
        }
        let type: String
        switch object["job_type"] {
        case nil, .null?: throw HTTPError(400, "Missing 'job_type' field")
        case .string(let s)?: type = s
        default: throw HTTPError(400, "Invalid 'job_type' field: must be a string")
        }
        let params = object["params"]
        let options: JobOptions
        do { options = try JobOptions.parse(object, header: request.header("Idempotency-Key"), now: engine.now) } catch {
            throw HTTPError(400, error.message)
        }
        return try answer({ [engine] done throws(HTTPError) in
            do throws(SubmitError) { try engine.submit(type: type, params: params, options: options, completion: done) } catch {
                throw HTTPError(400, error.message)
            }
        }, { submitted in Self.created(submitted.job, duplicate: submitted.duplicate) })
    }

    /// 201 with the new job, or 200 with the job that already holds the
    /// submission's idempotency key.
    static func created(_ job: Job, duplicate: Bool = false) -> HTTPResponse {
        var w = JSONWriter(capacity: 512)
        w.job(job)
        return .json(w.bytes, status: duplicate ? 200 : 201, headers: [("Location", "/api/jobs/\(job.id)")])
    }

    /// `POST /api/jobs/:id/retry`: a failed or cancelled job back to pending.
    func retryJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard !shuttingDown.load(ordering: .relaxed) else { throw HTTPError(503, "Shutting down") }
        let id = try jobID(request)
        let missing = notFound(request)
        return try answer({ [engine] done in engine.retry(id, completion: done) }) { outcome throws(HTTPError) in
            switch outcome {
            case .retried(let job):
                var w = JSONWriter(capacity: 512)
                w.job(job)
                return .json(w.bytes)
            case .notFound:
                throw missing
            case .notRetryable(let status):
                return .json(errorBody("Cannot retry job in status: \(status.rawValue)", extra: { $0.int("job_id", id) }),
                             status: 409)
            }
        }
    }

    func getJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        guard let job = engine.job(id) else { throw notFound(request) }
        return .json(finishedJobs.bytes(for: job))
    }

    func cancelJob(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let id = try jobID(request)
        let missing = notFound(request)
        return try answer({ [engine] done in engine.cancel(id, completion: done) }) { outcome throws(HTTPError) in
            switch outcome {
            case .cancelled:
                var w = JSONWriter(capacity: 48)
                w.object { o in
                    o.bool("success", true)
                    o.int("job_id", id)
                }
                return .json(w.bytes)
            case .notFound:
                throw missing
            case .notCancellable(let status):
                // The request is sound; the job's state refuses it (like a retry's 409).
                return .json(errorBody("Cannot cancel job in status: \(status.rawValue)", extra: { $0.int("job_id", id) }),
                             status: 409)
            }
        }
    }

    func clearCompleted() throws(HTTPError) -> HTTPResponse {
        try answer({ [engine] done in engine.clearFinished(completion: done) }) { n in
            var w = JSONWriter(capacity: 32)
            w.object { $0.int("cleared", n) }
            return .json(w.bytes)
        }
    }

    func jobTypes() -> HTTPResponse {
        var w = JSONWriter(capacity: 2048)
        w.jobTypes(engine.registry)
        return .json(w.bytes)
    }

    /// A positive decimal id; anything else is a job that does not exist.
    func jobID(_ request: HTTPRequest) throws(HTTPError) -> Int64 {
        let text = request.parameter("id") ?? ""
        guard !text.isEmpty, text.utf8.count <= 18,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let id = Int64(text), id > 0 else { throw notFound(request) }
        return id
    }

    func notFound(_ request: HTTPRequest) -> HTTPError {
        HTTPError(404, "Job not found: \((request.parameter("id") ?? "").prefix(100))")
    }
}

extension OpenAPI {
    static func listJobs(_ registry: JobRegistry) -> Doc {
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
        return Doc(id: "listJobs", tag: "jobs", summary: "A page of jobs, filtered",
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
                   ])
    }

    static func createJob(_ registry: JobRegistry) -> Doc {
        let submissions = registry.types.map { ref("Submission.\($0.name)") }
        let mapping = JSONObject(registry.types.map { ($0.name, .string("#/components/schemas/Submission.\($0.name)")) })
        let location = header("The job's URL.", ["type": "string"], required: true)
        return Doc(id: "createJob", tag: "jobs", summary: "Submit a job",
                   description: "The body names the job type (`job_type`), its `params` and options. Each type's params are checked as its schema says, in declaration order; the first failure is the 400's message.",
                   parameters: [["name": "Idempotency-Key", "in": "header", "schema": ["type": "string", "minLength": 1, "maxLength": 200],
                                 "description": "Same as the body's idempotency_key (they must agree when both are given)."]],
                   body: ["oneOf": .array(submissions), "discriminator": ["propertyName": "job_type", "mapping": .object(mapping)]],
                   responses: [
                     "201": response("The new job.", ref("Job"), headers: ["Location": location]),
                     "200": response("A job with this idempotency key exists: that job, nothing new.", ref("Job"), headers: ["Location": location]),
                     "400": error("Invalid JSON, an unknown type, invalid params or options (the message names the field and rule)."),
                   ])
    }

    static func clearCompleted(_: JobRegistry) -> Doc {
        Doc(id: "clearCompleted", tag: "jobs", summary: "Remove every finished job",
            responses: ["200": response("How many completed, failed and cancelled jobs were removed.", ref("Cleared"))])
    }

    static func getJob(_: JobRegistry) -> Doc {
        Doc(id: "getJob", tag: "jobs", summary: "One job", parameters: [jobID],
            responses: ["200": response("The job.", ref("Job")), "404": error("No such job (or cleared, or pruned).")])
    }

    static func cancelJob(_: JobRegistry) -> Doc {
        let badJob = error("The job has finished: it cannot be cancelled (the body also has 'job_id').")
        return Doc(id: "cancelJob", tag: "jobs", summary: "Cancel a pending or running job", parameters: [jobID],
                   responses: ["200": response("Cancelled.", ref("Cancelled")), "409": badJob, "404": error("No such job.")])
    }

    static func retryJob(_: JobRegistry) -> Doc {
        Doc(id: "retryJob", tag: "jobs", summary: "Put a failed or cancelled job back to pending",
            parameters: [jobID],
            responses: ["200": response("The job, pending again with a fresh set of attempts.", ref("Job")),
                        "404": error("No such job."),
                        "409": error("The job is not failed or cancelled (the body also has 'job_id').")])
    }

    static func listJobTypes(_: JobRegistry) -> Doc {
        Doc(id: "listJobTypes", tag: "job-types", summary: "The job types and their params",
            description: "The params of each type as the dashboard's forms use them. The same rules as JSON Schema: components Params.TYPE.",
            responses: ["200": response("The types, in a fixed order.", ["type": "array", "items": ref("JobTypeInfo")])])
    }
}
