import JSON
import JobQueue

/// Which job columns a store reads: the shared ones, and PostgreSQL's `node`.
public struct JobTable: Sendable {
    public let columns: String
    public let node: Bool

    public init(node: Bool) {
        self.node = node
        columns = JobRow.columns + (node ? ", node" : "")
    }

    @inlinable
    public func job<Row: SQLRow>(_ row: Row) throws(SQLError) -> Job { try JobRow.job(row, node: node) }
}

/// The reads every SQL store makes alike, written with `?` placeholders.
extension SQLConnection {
    /// The jobs matching `condition`, in the order it asks.
    public func jobs(_ table: JobTable, _ condition: String, _ params: [SQLValue] = []) throws(SQLError) -> [Job] {
        try rows(Self.dialect.sql("SELECT \(table.columns) FROM jobs WHERE \(condition)"), params) { (row: Row) throws(SQLError) in
            try table.job(row)
        }
    }

    /// The state to start from (`JobStore.load`).
    public func load(_ table: JobTable, recentFinished: Int) throws(SQLError) -> StoreSnapshot {
        var snapshot = StoreSnapshot()
        snapshot.active = try jobs(table, "status IN ('pending','running') ORDER BY id")
        snapshot.recentFinished = try jobs(table, "status IN ('completed','failed','cancelled') ORDER BY id DESC LIMIT ?",
                                           [.int(Int64(recentFinished))]).reversed()
        try run("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status", []) { row in
            guard let status = JobStatus(rawValue: row.text(1)) else { return }
            let n = Int(row.int(2))
            snapshot.stats[status] += n
            snapshot.stats.total += n
            snapshot.queueCounts[row.text(0), default: QueueStats()][status] += n
            snapshot.queueCounts[row.text(0), default: QueueStats()].total += n
        }
        try run("SELECT body FROM schedules ORDER BY name", []) { row in
            if let value = try? JSONValue.parse(Array(row.text(0).utf8)), let schedule = Schedule(stored: value) {
                snapshot.schedules.append(schedule)
            }
        }
        try run("SELECT name, concurrency, paused FROM queues", []) { row in
            snapshot.queues[row.text(0)] = QueueSettings(concurrency: row.optionalInt(1).map { Int($0) }, paused: row.bool(2))
        }
        let stored = try scalar("SELECT value FROM meta WHERE key = 'next_id'")
        let maxID = try scalar("SELECT COALESCE(MAX(id), 0) FROM jobs")
        snapshot.nextID = max(stored, maxID + 1, 1)
        return snapshot
    }

    /// A job's log lines after `seq` (`JobStore.log`); nil for a job not stored.
    public func log(_ id: Int64, after seq: UInt64, limit: Int?) throws(SQLError) -> JobLog? {
        var log: JobLog?
        try run(Self.dialect.sql("SELECT log_dropped, log_bytes FROM jobs WHERE id = ?"), [.int(id)]) { row in
            log = JobLog(lines: [], dropped: Int(row.int(0)), bytes: Int(row.int(1)))
        }
        guard var found = log else { return nil }
        // The primary key (job_id, seq) finds the first line.
        try run(Self.dialect.sql("SELECT seq, ts, stream, line FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
                [.int(id), .int(Int64(clamping: seq)), limit.map { .int(Int64(max(0, $0))) } ?? Self.dialect.noLimit]) { row in
            found.lines.append(LogLine(seq: UInt64(row.int(0)), ts: row.double(1),
                                       stream: LogStream(rawValue: row.text(2)) ?? .stdout, text: row.bytes(3)))
        }
        return found
    }

    /// Whether creation times never went down as ids went up (time ranges are then id ranges).
    public func createdInOrder() throws(SQLError) -> Bool {
        try scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'created_in_order'), 0)") == 1
    }

    /// The ids a time range can hold while creation times are in id order: from
    /// the first job created at or after `created_after` to the last created
    /// before `created_before` (two index seeks); 0...0 (no job has id 0) when
    /// no job was created in the range.
    public func idBounds(_ query: JobQuery) throws(SQLError) -> ClosedRange<Int64> {
        var lo: Int64? = query.createdAfter == nil ? 0 : nil
        var hi: Int64? = query.createdBefore == nil ? Int64.max : nil
        if let after = query.createdAfter {
            try run(Self.dialect.sql("SELECT id FROM jobs WHERE created_at >= ? ORDER BY created_at, id LIMIT 1"), [.double(after)]) { lo = $0.int(0) }
        }
        if let before = query.createdBefore {
            try run(Self.dialect.sql("SELECT id FROM jobs WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT 1"),
                    [.double(before)]) { hi = $0.int(0) }
        }
        guard let lo, let hi, lo <= hi else { return 0...0 }
        return lo...hi
    }
}
