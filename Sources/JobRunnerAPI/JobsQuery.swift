import HTTPServer
import JobEngine
import JobQueue

/// The query parameters of `GET /api/jobs` and the `Link` to the next page.
enum JobsQueryParser {
    static let maxLimit = 10_000

    /// `status` and `type` follow one rule: a comma-separated list of exact
    /// (case-sensitive) names, any of which may match; an unknown name is a 400
    /// that names it.
    static func parse(_ request: HTTPRequest, registry: JobRegistry) throws(HTTPError) -> JobQuery {
        var q = JobQuery()
        q.statuses = try names(request, "status") { JobStatus.allCases.map(\.rawValue) }.compactMap(JobStatus.init)
        q.types = try names(request, "type") { registry.types.map(\.name) }
        if let schedule = request.queryValue("schedule") {
            guard (1...64).contains(schedule.utf8.count) else { throw HTTPError(400, "Invalid 'schedule': must be a schedule name") }
            q.schedule = schedule
        }
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

    /// The distinct names listed in parameter `name`, each one of `known()`
    /// (spelled as there, so the store compares the same bytes).
    private static func names(_ request: HTTPRequest, _ name: String, known: () -> [String]) throws(HTTPError) -> [String] {
        guard let list = request.queryValue(name), !list.isEmpty else { return [] }
        let known = known()
        var names: [String] = []
        for part in list.split(separator: ",") {
            guard let match = known.first(where: { $0 == part }) else {
                let shown = part.count > 100 ? part.prefix(100) + "…" : part
                throw HTTPError(400, "Invalid '\(name)' value '\(shown)': use \(alternatives(known)) (comma-separated)")
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
    static func nextLink(_ q: JobQuery, _ page: JobPage) -> String? {
        guard page.more, !page.jobs.isEmpty else { return nil }
        let ids = page.jobs.map(\.id)
        var parts: [String] = []
        if !q.statuses.isEmpty { parts.append("status=" + q.statuses.map(\.rawValue).joined(separator: ",")) }
        if !q.types.isEmpty { parts.append("type=" + q.types.map(percentEncode).joined(separator: ",")) }
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
