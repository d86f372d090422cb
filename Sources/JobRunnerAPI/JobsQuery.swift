import HTTPServer
import JobEngine
import JobQueue

/// The query parameters of `GET /api/jobs` and the `Link` to the next page.
enum JobsQueryParser {
    static let maxLimit = 10_000
    /// The most distinct queue names one filter lists.
    static let maxQueueNames = 100
    /// Times as epoch seconds are below this (the year 5138).
    static let maxEpochSeconds = 1e11

    /// `status` and `type` follow one rule: a comma-separated list of exact
    /// (case-sensitive) names, any of which may match; an unknown name is a 400
    /// that names it.
    static func parse(_ request: HTTPRequest, registry: JobRegistry) throws(HTTPError) -> JobQuery {
        var q = try filter(registry: registry) { request.queryValue($0) }
        if let text = request.queryValue("limit") {
            guard let n = Int(text), (1...maxLimit).contains(n) else {
                throw HTTPError(400, "Invalid 'limit': must be an integer from 1 to \(maxLimit)")
            }
            q.limit = n
        }
        q.afterID = try id(request, "after_id")
        q.beforeID = try id(request, "before_id")
        if let order = request.queryValue("order") {
            guard let o = JobQuery.Order(rawValue: order) else { throw HTTPError(400, "Invalid 'order': use asc or desc") }
            q.order = o
        }
        return q
    }

    /// The names a filter takes (the query parameters of `GET /api/jobs`
    /// without the paging ones, and the `filter` of a bulk action).
    static let filterNames = ["status", "type", "queue", "schedule", "created_after", "created_before", "q"]

    /// The filters of a query, read through `value` (a query parameter, or a
    /// bulk action's `filter` member).
    static func filter(registry: JobRegistry, _ value: (String) -> String?) throws(HTTPError) -> JobQuery {
        var q = JobQuery()
        q.statuses = try names(value("status"), "status") { JobStatus.allCases.map(\.rawValue) }.compactMap(JobStatus.init)
        q.types = try names(value("type"), "type") { registry.types.map(\.name) }
        if let list = value("queue"), !list.isEmpty {
            // Like status and type: empty items are skipped.
            for part in list.split(separator: ",") {
                guard JobOptions.isQueueName(String(part)) else {
                    throw HTTPError(400, "Invalid 'queue' value '\(shown(part))': queue names match ^[a-z0-9_-]{1,64}$ (comma-separated)")
                }
                if !q.queues.contains(String(part)) { q.queues.append(String(part)) }
                guard q.queues.count <= maxQueueNames else {
                    throw HTTPError(400, "Invalid 'queue': at most \(maxQueueNames) queue names")
                }
            }
        }
        if let schedule = value("schedule") {
            guard (1...64).contains(schedule.utf8.count) else { throw HTTPError(400, "Invalid 'schedule': must be a schedule name") }
            q.schedule = schedule
        }
        q.createdAfter = try time(value("created_after"), "created_after")
        q.createdBefore = try time(value("created_before"), "created_before")
        if let text = value("q"), !text.isEmpty {
            do throws(JobSearch.Invalid) { q.search = try JobSearch(text) } catch { throw HTTPError(400, error.message) }
        }
        return q
    }

    /// A time: epoch seconds (`1764400000`, `1764400000.5`) or ISO 8601 in UTC
    /// or with an offset (`2025-11-29`, `2025-11-29T14:30`, `2025-11-29T14:30:00Z`,
    /// `2025-11-29T14:30:00.250+01:00`); anything else is a 400.
    static func time(_ text: String?, _ name: String) throws(HTTPError) -> Double? {
        guard let text else { return nil }
        if let t = epochSeconds(text) ?? ISOTime.parse(text) { return t }
        throw HTTPError(400, "Invalid '\(name)' value '\(shown(Substring(text)))': use epoch seconds or ISO 8601 (2025-11-29T14:30:00Z)")
    }

    private static func epochSeconds(_ text: String) -> Double? {
        let b = Array(text.utf8)
        guard !b.isEmpty, b.count <= 20 else { return nil }
        var dot = false
        var digits = 0
        for c in b {
            if c == UInt8(ascii: ".") {
                guard !dot, digits > 0 else { return nil }
                dot = true
            } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                digits += 1
            } else {
                return nil
            }
        }
        guard b.last != UInt8(ascii: "."), let value = Double(text), value < maxEpochSeconds else { return nil }
        return value
    }

    private static func shown(_ part: Substring) -> Substring {
        part.count > 100 ? part.prefix(100) + "…" : part
    }

    /// The distinct names listed in parameter `name`, each one of `known()`
    /// (spelled as there, so the store compares the same bytes).
    private static func names(_ list: String?, _ name: String, known: () -> [String]) throws(HTTPError) -> [String] {
        guard let list, !list.isEmpty else { return [] }
        let known = known()
        var names: [String] = []
        for part in list.split(separator: ",") {
            guard let match = known.first(where: { $0 == part }) else {
                throw HTTPError(400, "Invalid '\(name)' value '\(shown(part))': use \(alternatives(known)) (comma-separated)")
            }
            if !names.contains(match) { names.append(match) }
        }
        return names
    }

    /// "a, b or c".
    private static func alternatives(_ names: [String]) -> String {
        guard let last = names.last, names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " or " + last
    }

    private static func id(_ request: HTTPRequest, _ name: String) throws(HTTPError) -> Int64? {
        guard let text = request.queryValue(name) else { return nil }
        guard let n = Int64(text), n >= 0 else { throw HTTPError(400, "Invalid '\(name)': must be a non-negative integer") }
        return n
    }

    /// `</api/jobs?...>; rel="next"` when more jobs lie in the direction of the scan.
    /// Times repeat the request's text (it parsed once, so it parses again; a
    /// number's own printing may not: `1e-05`).
    static func nextLink(_ q: JobQuery, _ page: JobPage, _ request: HTTPRequest) -> String? {
        guard page.more, !page.jobs.isEmpty else { return nil }
        let ids = page.jobs.map(\.id)
        var parts: [String] = []
        if !q.statuses.isEmpty { parts.append("status=" + q.statuses.map(\.rawValue).joined(separator: ",")) }
        if !q.types.isEmpty { parts.append("type=" + q.types.map(percentEncode).joined(separator: ",")) }
        if !q.queues.isEmpty { parts.append("queue=" + q.queues.joined(separator: ",")) }
        if let schedule = q.schedule { parts.append("schedule=" + percentEncode(schedule)) }
        for name in ["created_after", "created_before"] {
            if let t = request.queryValue(name) { parts.append(name + "=" + percentEncode(t)) }
        }
        if let text = q.searchText { parts.append("q=" + percentEncode(text)) }
        parts.append("limit=\(q.limit)")
        if q.scansDown {
            parts.append("before_id=\(ids.min()!)")
        } else {
            parts.append("after_id=\(ids.max()!)")
            if let before = q.beforeID { parts.append("before_id=\(before)") }
        }
        parts.append("order=\(q.order.rawValue)")
        return "</api/jobs?\(parts.joined(separator: "&"))>; rel=\"next\""
    }

    private static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPad(2)
            }
        }
        return out
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
