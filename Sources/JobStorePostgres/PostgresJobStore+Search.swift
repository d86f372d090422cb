import JobQueue
import SQLStore

/// History at scale on PostgreSQL (schema version 3): queue, time-range and text
/// filters with the answers of `JobQuery.run(over:)` and of SQLite.
///
/// Text search: each job's `words` column is a `tsvector` of the distinct tokens
/// of its params and error, cut by `JobSearch.tokens` here (not by a PostgreSQL
/// text search configuration, whose parser and case rules differ), so a token
/// means the same in every store. A GIN index finds the jobs holding every token
/// of the query (the last one of a `word*` phrase as a prefix). That is the exact
/// answer when every phrase is one token; a phrase of several tokens (word order)
/// is then checked here with `JobSearch.matches` on the candidates' text.
extension PostgresJobStore {
    /// The `tsquery` text: every token of every phrase, the last one of a prefix
    /// phrase as a prefix, or the overflow marker. `exact`: whether a match is the
    /// answer (every phrase one whole token) or a candidate to check. `exactText`:
    /// the tokens alone (no overflowed job matches it).
    static func tsquery(_ search: JobSearch) -> (text: String, exact: Bool, exactText: String) {
        var terms: [String] = []
        var exact = true
        for phrase in search.phrases {
            if phrase.tokens.count > 1 { exact = false }
            for (i, token) in phrase.tokens.enumerated() {
                let (text, cut) = lexeme(token)
                if cut { exact = false }
                terms.append(quoted(text) + (cut || (phrase.prefix && i == phrase.tokens.count - 1) ? ":*" : ""))
            }
        }
        let all = terms.joined(separator: " & ")
        return ("(" + all + ") | " + quoted(overflowLexeme), exact, all)
    }

    /// Parameters numbered as they are added, for one statement.
    struct Binder {
        var values: [PostgresValue] = []
        mutating func bind(_ value: PostgresValue) -> String {
            values.append(value)
            return "$\(values.count)"
        }
        mutating func list(_ items: [String]) -> String {
            items.map { bind(.text($0)) }.joined(separator: ",")
        }
    }

    /// The query's conditions: the candidates (text and time range), the other
    /// filters and the cursor, as asked.
    static func conditions(_ query: JobQuery, tsquery: String?, ids: ClosedRange<Int64>?, candidate: Bool, rest: Bool,
                           after: Int64?, before: Int64?, _ b: inout Binder) -> [String] {
        var out: [String] = []
        if candidate {
            if let tsquery { out.append("words @@ \(b.bind(.text(tsquery)))::tsquery") }
            if let ids { out.append("id BETWEEN \(b.bind(.int(ids.lowerBound))) AND \(b.bind(.int(ids.upperBound)))") }
            if let t = query.createdAfter { out.append("created_at >= \(b.bind(.double(t)))") }
            if let t = query.createdBefore { out.append("created_at < \(b.bind(.double(t)))") }
        }
        if rest { out += restConditions(query, &b) }
        if let after { out.append("id > \(b.bind(.int(after)))") }
        if let before { out.append("id < \(b.bind(.int(before)))") }
        return out
    }

    static func restConditions(_ query: JobQuery, _ b: inout Binder) -> [String] {
        var out: [String] = []
        if !query.statuses.isEmpty { out.append("status IN (\(b.list(query.statuses.map(\.rawValue))))") }
        if !query.types.isEmpty { out.append("type IN (\(b.list(query.types)))") }
        if !query.queues.isEmpty { out.append("queue IN (\(b.list(query.queues)))") }
        if let schedule = query.schedule { out.append("schedule = \(b.bind(.text(schedule)))") }
        return out
    }

    static func whereClause(_ conditions: [String]) -> String {
        conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
    }

    /// Whether the row's words are only the overflow marker (its text is then checked here).
    static let overflowColumn = "words @@ '\(quoted(overflowLexeme).replacingQuotes)'::tsquery"

    /// The capped count of a query with no filter but text and time: the
    /// candidates up to the cap, in whatever order the server finds them (from
    /// the GIN index for a rare word, the table for a common one), not the
    /// newest first (no other filter, so which ones does not matter). Jobs whose
    /// words overflowed are checked here. Nil when more of those than the cap
    /// exist: the caller reads the newest candidates instead.
    /// Only for searches the index answers exactly (or none).
    static func unorderedCount(_ query: JobQuery, ids: ClosedRange<Int64>?, _ db: PostgresConnection) throws(PostgresError) -> (total: Int, capped: Bool)? {
        let cap = JobQuery.countCap
        var b = Binder()
        let conditions = Self.conditions(query, tsquery: query.search.map { tsquery($0).exactText }, ids: ids, candidate: true, rest: false,
                                         after: nil, before: nil, &b)
        let limit = b.bind(.int(Int64(cap + 1)))
        var candidates = Int(try db.scalar("SELECT COUNT(*) FROM (SELECT 1 FROM jobs\(whereClause(conditions)) LIMIT \(limit)) AS c", b.values))
        if let search = query.search {
            // Jobs with overflowed words: candidates if their text matches.
            var b = Binder()
            var conditions = Self.conditions(query, tsquery: nil, ids: ids, candidate: true, rest: false, after: nil, before: nil, &b)
            conditions.append(overflowColumn)
            let r = try db.run("SELECT params, error FROM jobs\(whereClause(conditions)) LIMIT \(b.bind(.int(Int64(cap + 1))))", b.values)
            if r.rows > cap { return nil }
            for i in 0..<r.rows where search.matches(params: r.text(i, 0), error: r.optionalText(i, 1)) { candidates += 1 }
        }
        return (min(candidates, cap), candidates > cap)
    }

    /// Rows per statement while checking candidates here: enough that a page
    /// rarely needs a second one.
    static let checkChunk = 500

    func page(_ query: JobQuery) throws(StoreError) -> JobPage {
        let search = query.search.map(Self.tsquery)
        // Several statements (a count, pages of candidates): one snapshot.
        let timeRange = query.createdAfter != nil || query.createdBefore != nil
        return try readers.read(snapshot: query.countTotal || search?.exact == false || timeRange) { db throws(PostgresError) in
            var ids: ClosedRange<Int64>?
            if query.createdAfter != nil || query.createdBefore != nil,
               try db.createdInOrder() {
                ids = try db.idBounds(query)
            }
            var total = 0
            var capped = false
            let onlyCandidates = query.statuses.isEmpty && query.types.isEmpty && query.queues.isEmpty && query.schedule == nil
            if query.countTotal && query.capsCount && onlyCandidates && search?.exact != false,
               let quick = try Self.unorderedCount(query, ids: ids, db) {
                (total, capped) = quick
            } else if query.countTotal && query.capsCount {
                // The newest candidates (text and time range), each with whether
                // the other filters take it.
                var candidates = 0
                var below: Int64?
                while candidates <= JobQuery.countCap {
                    var b = Binder()
                    let restConditions = Self.restConditions(query, &b)
                    let rest = restConditions.isEmpty ? "true" : "(" + restConditions.joined(separator: " AND ") + ")"
                    let text: String
                    switch search {
                    case nil: text = "false, NULL, NULL"
                    case (_, true, _)?: text = "\(Self.overflowColumn), CASE WHEN \(Self.overflowColumn) THEN params END, CASE WHEN \(Self.overflowColumn) THEN error END"
                    case (_, false, _)?: text = "true, params, error"
                    }
                    let conditions = Self.conditions(query, tsquery: search?.text, ids: ids, candidate: true, rest: false, after: nil, before: below, &b)
                    let chunk = JobQuery.countCap + 1 - candidates
                    let r = try db.run("SELECT id, \(rest), \(text) FROM jobs\(Self.whereClause(conditions)) ORDER BY id DESC LIMIT \(b.bind(.int(Int64(chunk))))",
                                       b.values)
                    for i in 0..<r.rows {
                        if r.bool(i, 2), let s = query.search, !s.matches(params: r.text(i, 3), error: r.optionalText(i, 4)) { continue }
                        candidates += 1
                        if candidates <= JobQuery.countCap && r.bool(i, 1) { total += 1 }
                    }
                    if r.rows < chunk { break }
                    below = r.int(r.rows - 1, 0)
                }
                capped = candidates > JobQuery.countCap
            } else if query.countTotal {
                var b = Binder()
                let conditions = Self.conditions(query, tsquery: nil, ids: ids, candidate: true, rest: true, after: nil, before: nil, &b)
                total = Int(try db.scalar("SELECT COUNT(*) FROM jobs\(Self.whereClause(conditions))", b.values))
            }
            // The page: the first `limit + 1` matches in scan order.
            var jobs: [Job] = []
            var after = query.afterID
            var before = query.beforeID
            let want = query.limit + 1
            while jobs.count < want {
                var b = Binder()
                let conditions = Self.conditions(query, tsquery: search?.text, ids: ids, candidate: true, rest: true, after: after, before: before, &b)
                let chunk = search?.exact == false ? max(want - jobs.count, Self.checkChunk) : want - jobs.count
                let overflow = search == nil ? "false" : Self.overflowColumn
                let r = try db.run("""
                    SELECT \(Self.table.columns), \(overflow) FROM jobs\(Self.whereClause(conditions))
                    ORDER BY id \(query.scansDown ? "DESC" : "ASC") LIMIT \(b.bind(.int(Int64(chunk))))
                    """, b.values)
                for i in 0..<r.rows where jobs.count < want {
                    if let s = query.search, search?.exact == false || r.bool(i, 24),
                       !s.matches(params: r.text(i, 2), error: r.optionalText(i, 7)) { continue }
                    jobs.append(try Self.table.job(r.row(i)))
                }
                if r.rows < chunk { break }
                let last = r.int(r.rows - 1, 0)
                if query.scansDown { before = last } else { after = last }
            }
            var page = query.finish(jobs, total: total)
            page.totalCapped = capped
            return page
        }
    }
}

private extension String {
    /// Single quotes doubled, for a SQL string literal.
    var replacingQuotes: String {
        var out = ""
        for c in unicodeScalars {
            if c == "'" { out += "''" } else { out.unicodeScalars.append(c) }
        }
        return out
    }
}
