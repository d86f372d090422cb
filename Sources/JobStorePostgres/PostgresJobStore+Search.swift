import JobQueue

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
    /// A token longer than this is stored as its first bytes (PostgreSQL takes
    /// lexemes below 2 KiB). A query token is shorter (`JobSearch.maxLength`), so
    /// equality and prefixes still answer exactly.
    static let maxLexemeBytes = 1000
    /// Past this many bytes of distinct tokens (a tsvector holds below 1 MiB) a
    /// job's words are only `overflowLexeme`: every search takes it as a
    /// candidate and checks its text here.
    static let maxWordsBytes = 1_000_000
    /// No token is ever "-" (tokens hold letters and digits only).
    static let overflowLexeme = "-"

    /// The `tsvector` text of a job's words (each distinct token quoted).
    static func words(params: String, error: String?) -> String {
        // Distinct by bytes: a Set of Strings would take `é` and `e` + U+0301
        // for one word, and the index tells them apart.
        var seen = Set<[UInt8]>()
        var distinct: [String] = []
        func add(_ token: String) {
            let text = lexeme(token).text
            if seen.insert(Array(text.utf8)).inserted { distinct.append(text) }
        }
        for token in JobSearch.tokens(params) { add(token) }
        if let error { for token in JobSearch.tokens(error) { add(token) } }
        var bytes = 0
        for d in distinct { bytes += d.utf8.count }
        guard bytes <= maxWordsBytes else { return quoted(overflowLexeme) }
        var out = ""
        out.reserveCapacity(bytes + distinct.count * 3)
        for d in distinct {
            if !out.isEmpty { out += " " }
            out += quoted(d)
        }
        return out
    }

    /// A token as stored: at most `maxLexemeBytes`, cut at a scalar boundary.
    static func lexeme(_ token: String) -> (text: String, cut: Bool) {
        guard token.utf8.count > maxLexemeBytes else { return (token, false) }
        var out = String.UnicodeScalarView()
        var n = 0
        for scalar in token.unicodeScalars {
            n += String(scalar).utf8.count
            if n > maxLexemeBytes { break }
            out.append(scalar)
        }
        return (String(out), true)
    }

    /// Quoted for tsvector and tsquery input (tokens hold no quote or backslash;
    /// escaped all the same).
    static func quoted(_ s: String) -> String {
        var out = "'"
        for c in s.unicodeScalars {
            if c == "'" || c == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out + "'"
    }

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

    /// The ids a time range can hold while creation times are in id order: from
    /// the first job created at or after `created_after` to the last created
    /// before `created_before` (two index seeks); 0...0 (no job has id 0) when
    /// no job was created in the range. The time conditions stay as well.
    static func idBounds(_ query: JobQuery, _ db: PostgresConnection) throws(PostgresError) -> ClosedRange<Int64> {
        var lo: Int64? = query.createdAfter == nil ? 0 : nil
        var hi: Int64? = query.createdBefore == nil ? Int64.max : nil
        if let after = query.createdAfter {
            let r = try db.run("SELECT id FROM jobs WHERE created_at >= $1 ORDER BY created_at, id LIMIT 1", [.double(after)])
            if r.rows > 0 { lo = r.int(0, 0) }
        }
        if let before = query.createdBefore {
            let r = try db.run("SELECT id FROM jobs WHERE created_at < $1 ORDER BY created_at DESC, id DESC LIMIT 1", [.double(before)])
            if r.rows > 0 { hi = r.int(0, 0) }
        }
        guard let lo, let hi, lo <= hi else { return 0...0 }
        return lo...hi
    }

    /// Rows per statement while checking candidates here: enough that a page
    /// rarely needs a second one.
    static let checkChunk = 500

    func page(_ query: JobQuery) throws(StoreError) -> JobPage {
        let search = query.search.map(Self.tsquery)
        // Several statements (a count, pages of candidates): one snapshot.
        let timeRange = query.createdAfter != nil || query.createdBefore != nil
        return try read(snapshot: query.countTotal || search?.exact == false || timeRange) { db throws(PostgresError) in
            var ids: ClosedRange<Int64>?
            if query.createdAfter != nil || query.createdBefore != nil,
               try db.scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'created_in_order'), 0)") == 1 {
                ids = try Self.idBounds(query, db)
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
                    SELECT \(Self.columns), \(overflow) FROM jobs\(Self.whereClause(conditions))
                    ORDER BY id \(query.scansDown ? "DESC" : "ASC") LIMIT \(b.bind(.int(Int64(chunk))))
                    """, b.values)
                for i in 0..<r.rows where jobs.count < want {
                    if let s = query.search, search?.exact == false || r.bool(i, 24),
                       !s.matches(params: r.text(i, 2), error: r.optionalText(i, 7)) { continue }
                    jobs.append(try Self.job(r, i))
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
