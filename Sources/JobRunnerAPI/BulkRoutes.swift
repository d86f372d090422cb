import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `POST /api/jobs/bulk/{cancel,retry,delete}`: one action on every job a
/// filter selects, confirmed by the count the client was shown.
///
/// Body: `{"filter": {...the filters of GET /api/jobs...}, "expected_count": N}`,
/// or `{"filter": {...}, "dry_run": true}` to learn N first. The count is of the
/// jobs the action applies to (the filter's statuses narrowed to the action's);
/// a count that changed since is refused with 409 and the new count.
extension JobRunnerAPI {
    static let bulkRoutes: [APIRoute] = BulkAction.allCases.map { action in
        APIRoute("POST", "/api/jobs/bulk/\(action.rawValue)", .scope(action == .delete ? .admin : .submit),
                 handle: { api, req in try api.bulk(action, req) },
                 doc: { registry in OpenAPI.bulkOperation(action.rawValue, OpenAPI.bulkSummary(action), OpenAPI.jobsFilter(registry)) })
    }

    func bulk(_ action: BulkAction, _ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        if action == .retry && shuttingDown.load(ordering: .relaxed) { throw HTTPError(503, "Shutting down") }
        guard let body = try? JSONValue.parse(request.body, limits: limits), case .object(let object) = body else {
            throw HTTPError(400, "Invalid JSON body")
        }
        var filterObject = JSONObject()
        var expected: Int?
        var dryRun = false
        for member in object {
            switch (member.key, member.value) {
            case ("filter", .object(let o)): filterObject = o
            case ("filter", _): throw HTTPError(400, "Invalid 'filter' field: must be an object")
            case ("expected_count", .int(let n)) where n >= 0: expected = Int(clamping: n)
            case ("expected_count", _): throw HTTPError(400, "Invalid 'expected_count' field: must be a non-negative integer")
            case ("dry_run", .bool(let b)): dryRun = b
            case ("dry_run", _): throw HTTPError(400, "Invalid 'dry_run' field: must be true or false")
            default: throw HTTPError(400, "Unknown field: \(member.key.prefix(100)) (known: filter, expected_count, dry_run)")
            }
        }
        let filter = try Self.bulkFilter(filterObject, registry: engine.registry)
        let ids: [Int64]
        do { ids = try engine.bulkTargets(action, filter) } catch { throw HTTPError(503, error.message) }
        let limit = JobEngine.bulkLimit
        guard ids.count <= limit else {
            throw HTTPError(400, "The filter selects more than \(limit) jobs to \(action.rawValue): narrow it (at most \(limit) per bulk action)")
        }
        let count = ids.count
        let summary = { @Sendable (done: Int?, outcome: BulkOutcome?) -> HTTPResponse in
            var w = JSONWriter(capacity: 96)
            w.object { o in
                o.string("action", action.rawValue)
                o.int("count", count)
                if let done { o.int("done", done) }
                if let outcome, outcome.failed > 0 {
                    o.int("failed", outcome.failed)
                    o.string("error", outcome.error)
                }
            }
            return .json(w.bytes)
        }
        if dryRun { return summary(nil, nil) }
        guard let expected else {
            throw HTTPError(400, "Missing 'expected_count' field: the number of jobs the user confirmed (ask with \"dry_run\": true)")
        }
        guard expected == count else {
            return .json(errorBody("The filter now selects \(count) jobs to \(action.rawValue), not \(expected): confirm again",
                                   extra: { $0.int("count", count) }), status: 409)
        }
        return try answer({ [engine] done in engine.bulk(action, ids: ids, completion: done) }) { outcome in
            summary(outcome.done, outcome)
        }
    }

    /// The `filter` object: the same names and values as the query parameters
    /// of `GET /api/jobs` (lists as comma-separated strings or arrays of
    /// strings, times as numbers or strings).
    static func bulkFilter(_ object: JSONObject, registry: JobRegistry) throws(HTTPError) -> JobQuery {
        var values: [String: String] = [:]
        // Numbers with a fraction are taken as they are (their printing may be `1e-05`).
        var times: [String: Double] = [:]
        for member in object {
            guard JobsQueryParser.filterNames.contains(member.key) else {
                throw HTTPError(400, "Unknown filter: \(member.key.prefix(100)) (known: \(JobsQueryParser.filterNames.joined(separator: ", ")))")
            }
            switch member.value {
            case .null: continue
            case .string(let s): values[member.key] = s
            case .int(let n) where member.key.hasPrefix("created_"): values[member.key] = String(n)
            case .double(let d) where member.key.hasPrefix("created_"):
                guard d.isFinite, d >= 0, d < JobsQueryParser.maxEpochSeconds else {
                    throw HTTPError(400, "Invalid '\(member.key)' value: epoch seconds from 0 to \(Int(JobsQueryParser.maxEpochSeconds))")
                }
                times[member.key] = d
            case .array(let items) where ["status", "type", "queue"].contains(member.key):
                var names: [String] = []
                for item in items {
                    guard case .string(let s) = item, !s.isEmpty, !s.contains(",") else {
                        throw HTTPError(400, "Invalid filter '\(member.key)': must be a list of names")
                    }
                    names.append(s)
                }
                values[member.key] = names.joined(separator: ",")
            default:
                throw HTTPError(400, "Invalid filter '\(member.key)': must be a string")
            }
        }
        var q = try JobsQueryParser.filter(registry: registry) { values[$0] }
        if let t = times["created_after"] { q.createdAfter = t }
        if let t = times["created_before"] { q.createdBefore = t }
        return q
    }
}

extension OpenAPI {
    static func bulkSummary(_ action: BulkAction) -> String {
        switch action {
        case .cancel: "Cancel every pending or running job a filter selects"
        case .retry: "Retry every failed or cancelled job a filter selects"
        case .delete: "Delete every finished job a filter selects, with its log"
        }
    }

    /// `POST /api/jobs/bulk/ACTION`: a count first (`dry_run`), then the action
    /// with the count the user confirmed.
    static func bulkOperation(_ action: String, _ summary: String, _ filter: JSONValue) -> Doc {
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
        return Doc(id: "bulk\(action.prefix(1).uppercased())\(action.dropFirst())", tag: "jobs", summary: summary,
                   description: "With `\"dry_run\": true` the answer is only the count. Otherwise `expected_count` must equal the count the filter selects now (else 409 with the new count); at most \(JobEngine.bulkLimit) jobs per call.",
                   body: body,
                   responses: ["200": response("The count, and for a real run how many were done (and failed, with the first error).", outcome),
                               "400": error("A bad body or filter, a missing expected_count, or more than \(JobEngine.bulkLimit) jobs selected."),
                               "409": response("The filter now selects another number of jobs: confirm again.",
                                               object(["error": ["type": "string"], "count": ["type": "integer", "minimum": 0]])),
                               "503": error("Shutting down (retry), or the store could not be read or written.")])
    }

    /// The `filter` of a bulk action: the filters of `GET /api/jobs`, no others.
    static func jobsFilter(_ registry: JobRegistry) -> JSONValue {
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
        return jobsFilter
    }
}
