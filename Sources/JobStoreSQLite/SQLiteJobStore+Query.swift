import JobQueue
import SQLStore

/// A page of jobs (`JobQuery`) from SQLite; text search through the FTS5 index.
extension SQLiteJobStore {
    public func query(_ query: JobQuery) throws(StoreError) -> JobPage {
        try readers.read { db throws(SQLiteError) in
            var bounds: ClosedRange<Int64>?
            if query.createdAfter != nil || query.createdBefore != nil,
               try db.createdInOrder() {
                bounds = try db.idBounds(query)
            }
            let sql = Self.select(query, ids: bounds)
            var total = 0
            var capped = false
            if query.countTotal {
                if query.capsCount {
                    // The newest candidates (text and time range), each with
                    // whether the other filters take it.
                    var candidates = 0
                    try db.run("SELECT \(sql.rest) \(sql.from)\(sql.whereClause(sql.candidate)) ORDER BY \(sql.id) DESC LIMIT ?",
                               sql.restValues + sql.candidateValues + [.int(Int64(JobQuery.countCap + 1))]) { row in
                        candidates += 1
                        if candidates <= JobQuery.countCap && row.int(0) != 0 { total += 1 }
                    }
                    capped = candidates > JobQuery.countCap
                } else {
                    total = Int(try db.scalar("SELECT COUNT(*) \(sql.from)\(sql.whereClause(sql.candidate + sql.restFilters))",
                                              sql.candidateValues + sql.restValues))
                }
            }
            var jobs: [Job] = []
            try db.run("SELECT \(sql.columns) \(sql.from)\(sql.whereClause(sql.candidate + sql.restFilters + sql.cursor)) ORDER BY \(sql.id) \(query.scansDown ? "DESC" : "ASC") LIMIT ?",
                       sql.candidateValues + sql.restValues + sql.cursorValues + [.int(Int64(query.limit + 1))]) { (row: SQLiteRow) throws(SQLiteError) in
                jobs.append(try Self.table.job(row))
            }
            var page = query.finish(jobs, total: total)
            page.totalCapped = capped
            return page
        }
    }

    /// A query's parts: the candidates (text, time range, their id range), the
    /// other filters (status, type, queue, schedule) and the cursor. With a
    /// search the FTS index drives, in id order (CROSS JOIN keeps it the outer
    /// loop, so a page stops after `limit` matches).
    struct Select {
        var from = "FROM jobs"
        var columns = JobRow.columns
        var id = "jobs.id"
        var candidate: [String] = []
        var candidateValues: [SQLiteValue] = []
        var restFilters: [String] = []
        var restValues: [SQLiteValue] = []
        var cursor: [String] = []
        var cursorValues: [SQLiteValue] = []

        /// The other filters as one expression (1 when there are none).
        var rest: String { restFilters.isEmpty ? "1" : "(" + restFilters.joined(separator: " AND ") + ")" }

        func whereClause(_ filters: [String]) -> String {
            filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND ")
        }
    }

    static func select(_ query: JobQuery, ids: ClosedRange<Int64>?) -> Select {
        var s = Select()
        if let search = query.search {
            s.from = "FROM jobs_fts CROSS JOIN jobs ON jobs.id = jobs_fts.rowid"
            s.columns = JobRow.qualified("jobs")
            s.id = "jobs_fts.rowid"
            s.candidate.append("jobs_fts MATCH ?")
            s.candidateValues.append(.text(search.ftsQuery))
        }
        if let ids {
            s.candidate.append("\(s.id) BETWEEN ? AND ?")
            s.candidateValues += [.int(ids.lowerBound), .int(ids.upperBound)]
        }
        if let after = query.createdAfter {
            s.candidate.append("jobs.created_at >= ?")
            s.candidateValues.append(.double(after))
        }
        if let before = query.createdBefore {
            s.candidate.append("jobs.created_at < ?")
            s.candidateValues.append(.double(before))
        }
        func list(_ column: String, _ names: [String]) {
            guard !names.isEmpty else { return }
            s.restFilters.append("jobs.\(column) IN (\(names.map { _ in "?" }.joined(separator: ",")))")
            s.restValues += names.map { .text($0) }
        }
        list("status", query.statuses.map(\.rawValue))
        list("type", query.types)
        list("queue", query.queues)
        if let schedule = query.schedule {
            s.restFilters.append("jobs.schedule = ?")
            s.restValues.append(.text(schedule))
        }
        if let after = query.afterID {
            s.cursor.append("\(s.id) > ?")
            s.cursorValues.append(.int(after))
        }
        if let before = query.beforeID {
            s.cursor.append("\(s.id) < ?")
            s.cursorValues.append(.int(before))
        }
        return s
    }
}
