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
    func addBulkRoutes(_ r: inout Router) {
        for action in BulkAction.allCases {
            r.post("/api/jobs/bulk/\(action.rawValue)") { [self] req in try bulk(action, req) }
        }
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
            var o = JSONObject([("action", .string(action.rawValue)), ("count", .int(Int64(count)))])
            if let done { o["done"] = .int(Int64(done)) }
            if let outcome, outcome.failed > 0 {
                o["failed"] = .int(Int64(outcome.failed))
                o["error"] = outcome.error.map(JSONValue.string) ?? .null
            }
            return .json(JSONValue.object(o).serialized())
        }
        if dryRun { return summary(nil, nil) }
        guard let expected else {
            throw HTTPError(400, "Missing 'expected_count' field: the number of jobs the user confirmed (ask with \"dry_run\": true)")
        }
        guard expected == count else {
            return .json(errorBody("The filter now selects \(count) jobs to \(action.rawValue), not \(expected): confirm again",
                                   extra: JSONObject([("count", .int(Int64(count)))])), status: 409)
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
