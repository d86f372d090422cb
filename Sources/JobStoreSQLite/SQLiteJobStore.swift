import Glibc
import Dispatch
import Essentials
import JSON
import JobQueue
import Synchronization

/// The embedded durable store: SQLite in WAL mode, one writer thread that groups
/// every submission waiting since the last commit into one transaction (one fsync
/// for many), and a small pool of read connections for lookups and pages.
public final class SQLiteJobStore: JobStore, Sendable {
    /// The FTS5 tokenizer of the search index; `JobSearch.tokens` cuts text as
    /// it does (scripts/search-tables.py), so every store answers alike.
    static let searchTokenizer = "unicode61 remove_diacritics 0"

    public enum Sync: String, Sendable, CaseIterable {
        /// fsync on every commit: a power cut loses nothing acknowledged.
        case full
        /// fsync at WAL checkpoints: a power cut may lose the latest commits (a crash of the daemon does not).
        case normal
    }

    /// The schema version this build writes; a newer file is refused.
    public static let schemaVersion = 6

    private typealias Entry = StoreWriteQueue.Entry

    /// Submissions, closing and the failure state, shared with the writer thread.
    private let writes = StoreWriteQueue()

    public let path: String
    /// Each transaction's time and size, for `/metrics`.
    public let metrics: StoreMetrics? = StoreMetrics()
    /// Reader connections kept for reuse. A returning reader checks `closing`
    /// under this lock, so while `close()` runs it is either dropped or cleared.
    private let readers = Mutex<[ReaderBox]>([])
    private let finished = DispatchSemaphore(value: 0)
    private let writer: WriterBox
    /// Held for the store's life: a second daemon on the same file refuses to start.
    private let lock: FileLock
    /// The file as opened; a commit first checks it is still there.
    private let identity: FileIdentity

    /// Opens (creating if needed) and migrates the database. Throws a clear error
    /// for a file that cannot be opened, is not a database, has a newer schema,
    /// or is in use by another jobrunnerd.
    public init(path: String, sync: Sync = .full) throws(StoreError) {
        self.path = path
        let connection: SQLiteConnection
        do throws(SQLiteError) {
            connection = try SQLiteConnection(path: path)
            if connection.isReadOnly { throw SQLiteError(code: 8, message: "the file is read-only") }
            // Before the first write: a second daemon stops here.
            lock = try FileLock(database: path)
            try connection.execute("PRAGMA journal_mode=WAL")
            try connection.execute("PRAGMA synchronous=\(sync == .full ? "FULL" : "NORMAL")")
            try Self.migrate(connection)
            identity = try FileIdentity(path: path)
        } catch {
            throw StoreError("cannot use database \(path): \(error.message)")
        }
        writer = WriterBox(connection)
        do throws(SQLiteError) {
            try connection.run("SELECT id, created_at FROM jobs ORDER BY id DESC LIMIT 1") { row in
                writer.order.lastID = row.int(0)
                writer.order.lastCreated = row.double(1)
            }
            writer.order.inOrder = try connection.scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'created_in_order'), 0)") == 1
        } catch {
            throw StoreError("cannot use database \(path): \(error.message)")
        }
        do {
            try ThreadLauncher.detached(name: "store writer") { [self] in runWriter() }
        } catch {
            throw StoreError("cannot use database \(path): \(error)")
        }
    }

    deinit {
        close()
    }

    // MARK: Schema

    private static func migrate(_ db: SQLiteConnection) throws(SQLiteError) {
        let version = try db.scalar("PRAGMA user_version")
        guard version <= schemaVersion else {
            throw SQLiteError(code: 1, message: "its schema version \(version) is newer than this jobrunnerd supports (\(schemaVersion)); upgrade jobrunnerd")
        }
        if version < 1 {
            try db.execute("""
                BEGIN;
                CREATE TABLE IF NOT EXISTS jobs (
                    id INTEGER PRIMARY KEY,
                    type TEXT NOT NULL,
                    params TEXT NOT NULL,
                    status TEXT NOT NULL,
                    progress_percent INTEGER NOT NULL,
                    progress_message TEXT NOT NULL,
                    result TEXT,
                    error TEXT,
                    created_at REAL NOT NULL,
                    started_at REAL,
                    completed_at REAL,
                    sequence INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
                CREATE INDEX IF NOT EXISTS jobs_type ON jobs(type, id);
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT OR IGNORE INTO meta(key, value) VALUES ('next_id', 1);
                PRAGMA user_version = 1;
                COMMIT;
                """)
        }
        if version < 2 {
            // Job logs, bounded per job: the bytes kept and the lines dropped.
            try db.execute("""
                BEGIN;
                CREATE TABLE job_logs (
                    job_id INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    ts REAL NOT NULL,
                    stream TEXT NOT NULL,
                    line TEXT NOT NULL,
                    PRIMARY KEY (job_id, seq)
                ) WITHOUT ROWID;
                ALTER TABLE jobs ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN log_dropped INTEGER NOT NULL DEFAULT 0;
                PRAGMA user_version = 2;
                COMMIT;
                """)
        }
        if version < 3 {
            // Dependable jobs: queue, priority, run_at, attempts, timeout, backoff,
            // idempotency key, attempt errors; named queues' settings.
            try db.execute("""
                BEGIN;
                ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
                ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN run_at REAL;
                ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE jobs ADD COLUMN timeout REAL;
                ALTER TABLE jobs ADD COLUMN backoff_initial REAL NOT NULL DEFAULT 1;
                ALTER TABLE jobs ADD COLUMN backoff_max REAL NOT NULL DEFAULT 3600;
                ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
                ALTER TABLE jobs ADD COLUMN errors TEXT;
                CREATE INDEX jobs_idempotency_key ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
                CREATE INDEX jobs_queue ON jobs(queue, status);
                CREATE TABLE queues (name TEXT PRIMARY KEY, concurrency INTEGER, paused INTEGER NOT NULL DEFAULT 0);
                PRAGMA user_version = 3;
                COMMIT;
                """)
        }
        if version < 4 {
            // Schedules, and the schedule that made a job.
            try db.execute("""
                BEGIN;
                ALTER TABLE jobs ADD COLUMN schedule TEXT;
                CREATE INDEX jobs_schedule ON jobs(schedule, id) WHERE schedule IS NOT NULL;
                CREATE TABLE schedules (name TEXT PRIMARY KEY, body TEXT NOT NULL);
                PRAGMA user_version = 4;
                COMMIT;
                """)
        }
        if version < 5 {
            // History at scale: text search over params and error (an FTS5 index
            // over the jobs table's own text, kept by triggers in the transaction
            // that writes the job; params never change, so an update touches it
            // only when the error does), and the creation time for time ranges.
            try db.execute("""
                BEGIN;
                -- columnsize=0: no per-row sizes (nothing ranks by them), one write less per job.
                CREATE VIRTUAL TABLE jobs_fts USING fts5(params, error, content='jobs', content_rowid='id',
                                                         tokenize='\(Self.searchTokenizer)', columnsize=0);
                INSERT INTO jobs_fts(jobs_fts) VALUES ('rebuild');
                CREATE TRIGGER jobs_fts_insert AFTER INSERT ON jobs BEGIN
                    INSERT INTO jobs_fts(rowid, params, error) VALUES (new.id, new.params, new.error);
                END;
                CREATE TRIGGER jobs_fts_delete AFTER DELETE ON jobs BEGIN
                    INSERT INTO jobs_fts(jobs_fts, rowid, params, error) VALUES ('delete', old.id, old.params, old.error);
                END;
                CREATE TRIGGER jobs_fts_update AFTER UPDATE OF error ON jobs WHEN old.error IS NOT new.error BEGIN
                    INSERT INTO jobs_fts(jobs_fts, rowid, params, error) VALUES ('delete', old.id, old.params, old.error);
                    INSERT INTO jobs_fts(rowid, params, error) VALUES (new.id, new.params, new.error);
                END;
                CREATE INDEX jobs_created ON jobs(created_at);
                -- Whether creation times never go down as ids go up (the writer
                -- clears it when a new job breaks that): time ranges then become
                -- id ranges.
                INSERT OR REPLACE INTO meta(key, value) VALUES ('created_in_order', NOT EXISTS (
                    SELECT 1 FROM (SELECT created_at < MAX(created_at) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                                   AS back FROM jobs) WHERE back));
                PRAGMA user_version = 5;
                COMMIT;
                """)
        }
        if version < 6 {
            // Webhooks: the outbox (SQLiteJobStore+Webhooks.swift). A delivery is
            // written in the transaction of the transition it reports.
            try db.execute("""
                BEGIN;
                CREATE TABLE webhook_deliveries (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    delivery_id TEXT NOT NULL,
                    url TEXT NOT NULL,
                    event TEXT NOT NULL,
                    job_id INTEGER,
                    schedule TEXT,
                    created_at REAL NOT NULL,
                    body TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'pending',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL,
                    last_attempt_at REAL,
                    last_http_status INTEGER,
                    last_error TEXT
                );
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(url, next_attempt_at) WHERE status = 'pending';
                CREATE INDEX webhook_deliveries_done ON webhook_deliveries(seq) WHERE status != 'pending';
                PRAGMA user_version = 6;
                COMMIT;
                """)
        }
        // Later versions add their steps here, each in its own transaction.
    }

    // MARK: JobStore

    public func load(recentFinished: Int) throws(StoreError) -> StoreSnapshot {
        try read { db throws(SQLiteError) in
            var snapshot = StoreSnapshot()
            try db.run("SELECT \(Self.columns) FROM jobs WHERE status IN ('pending','running') ORDER BY id") { (row: SQLiteRow) throws(SQLiteError) in
                snapshot.active.append(try Self.job(row))
            }
            try db.run("SELECT \(Self.columns) FROM jobs WHERE status IN ('completed','failed','cancelled') ORDER BY id DESC LIMIT ?",
                       [.int(Int64(recentFinished))]) { (row: SQLiteRow) throws(SQLiteError) in
                snapshot.recentFinished.append(try Self.job(row))
            }
            snapshot.recentFinished.reverse()
            try db.run("SELECT status, COUNT(*) FROM jobs GROUP BY status") { row in
                let n = Int(row.int(1))
                switch JobStatus(rawValue: row.text(0)) {
                case .pending?: snapshot.stats.pending = n
                case .running?: snapshot.stats.running = n
                case .completed?: snapshot.stats.completed = n
                case .failed?: snapshot.stats.failed = n
                case .cancelled?: snapshot.stats.cancelled = n
                case nil: break
                }
                snapshot.stats.total += n
            }
            try db.run("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status") { row in
                guard let status = JobStatus(rawValue: row.text(1)) else { return }
                let n = Int(row.int(2))
                snapshot.queueCounts[row.text(0), default: QueueStats()][status] += n
                snapshot.queueCounts[row.text(0), default: QueueStats()].total += n
            }
            try db.run("SELECT body FROM schedules ORDER BY name") { row in
                if let value = try? JSONValue.parse(Array(row.text(0).utf8)), let schedule = Schedule(stored: value) {
                    snapshot.schedules.append(schedule)
                }
            }
            try db.run("SELECT name, concurrency, paused FROM queues") { row in
                let limit = row.optionalText(1).flatMap { Int($0) }
                snapshot.queues[row.text(0)] = QueueSettings(concurrency: limit, paused: row.int(2) != 0)
            }
            let stored = try db.scalar("SELECT value FROM meta WHERE key = 'next_id'")
            let maxID = try db.scalar("SELECT COALESCE(MAX(id), 0) FROM jobs")
            snapshot.nextID = max(stored, maxID + 1, 1)
            return snapshot
        }
    }

    public func submit(_ ops: [StoreOp], retry: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        writes.submit(ops, retry: retry, completion: completion)
    }

    public var failure: StoreError? { writes.failure }

    public func onBatchDone(_ action: @escaping @Sendable () -> Void) { writes.onBatchDone(action) }

    public func onFailureChange(_ action: @escaping @Sendable (StoreError?) -> Void) { writes.onFailureChange(action) }

    private func setFailure(_ failure: StoreError?) { writes.setFailure(failure) }

    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try read { db throws(SQLiteError) in
            var found: Job?
            try db.run("SELECT \(Self.columns) FROM jobs WHERE id = ?", [.int(id)]) { (row: SQLiteRow) throws(SQLiteError) in found = try Self.job(row) }
            return found
        }
    }

    public func job(idempotencyKey key: String) throws(StoreError) -> Job? {
        try read { db throws(SQLiteError) in
            var found: Job?
            try db.run("SELECT \(Self.columns) FROM jobs WHERE idempotency_key = ? LIMIT 1", [.text(key)]) { (row: SQLiteRow) throws(SQLiteError) in
                found = try Self.job(row)
            }
            return found
        }
    }

    public func log(_ id: Int64, after seq: UInt64, limit: Int?) throws(StoreError) -> JobLog? {
        try read { db throws(SQLiteError) in
            var log: JobLog?
            try db.run("SELECT log_dropped, log_bytes FROM jobs WHERE id = ?", [.int(id)]) { row in
                log = JobLog(lines: [], dropped: Int(row.int(0)), bytes: Int(row.int(1)))
            }
            guard var found = log else { return nil }
            // The primary key (job_id, seq) finds the first line; LIMIT -1 is none.
            try db.run("SELECT seq, ts, stream, line FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                       [.int(id), .int(Int64(clamping: seq)), .int(Int64(limit.map { max(0, $0) } ?? -1))]) { row in
                found.lines.append(LogLine(seq: UInt64(row.int(0)), ts: row.double(1),
                                           stream: LogStream(rawValue: row.text(2)) ?? .stdout, text: row.text(3)))
            }
            return found
        }
    }

    public func query(_ query: JobQuery) throws(StoreError) -> JobPage {
        try read { db throws(SQLiteError) in
            var bounds: ClosedRange<Int64>?
            if query.createdAfter != nil || query.createdBefore != nil,
               try db.scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'created_in_order'), 0)") == 1 {
                bounds = try Self.idBounds(query, db)
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
                jobs.append(try Self.job(row))
            }
            var page = query.finish(jobs, total: total)
            page.totalCapped = capped
            return page
        }
    }

    /// The ids a time range can hold while creation times are in id order: from
    /// the first job created at or after `created_after` to the last created
    /// before `created_before` (two index seeks); 0...0 (no job has id 0) when
    /// no job was created in the range.
    static func idBounds(_ query: JobQuery, _ db: SQLiteConnection) throws(SQLiteError) -> ClosedRange<Int64> {
        var lo: Int64? = query.createdAfter == nil ? 0 : nil
        var hi: Int64? = query.createdBefore == nil ? Int64.max : nil
        if let after = query.createdAfter {
            try db.run("SELECT id FROM jobs WHERE created_at >= ? ORDER BY created_at, id LIMIT 1", [.double(after)]) { lo = $0.int(0) }
        }
        if let before = query.createdBefore {
            try db.run("SELECT id FROM jobs WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT 1", [.double(before)]) { hi = $0.int(0) }
        }
        guard let lo, let hi, lo <= hi else { return 0...0 }
        return lo...hi
    }

    /// A query's parts: the candidates (text, time range, their id range), the
    /// other filters (status, type, queue, schedule) and the cursor. With a
    /// search the FTS index drives, in id order (CROSS JOIN keeps it the outer
    /// loop, so a page stops after `limit` matches).
    struct Select {
        var from = "FROM jobs"
        var columns = SQLiteJobStore.columns
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
            s.columns = qualifiedColumns
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

    public func close() {
        guard writes.beginClosing() else { return }
        finished.wait()
        // Every connection is closed before this returns (the last one to close
        // checkpoints the WAL), so the file is free for whoever comes next.
        readers.withLock { $0 = [] }
        lock.release()
    }

    // MARK: The writer

    private func runWriter() {
        if let db = writer.connection { writeUntilClosed(db) }
        // Closed before `close()` returns: the file is free for whoever comes next.
        writer.connection = nil
        finished.signal()
    }

    private func writeUntilClosed(_ db: SQLiteConnection) {
        var carried: [Entry] = []
        while true {
            let (batch, closing) = writes.take()
            let entries = carried + batch
            carried = []
            if entries.isEmpty {
                if closing { break }
                writes.waitForWork()
                continue
            }
            defer { writes.batchDone() }
            do {
                try identity.check(path)
                let started = monotonicNow()
                let conflicts = try commit(entries, db)
                metrics?.committed(seconds: monotonicNow() - started, submissions: entries.count)
                setFailure(nil)
                for (i, e) in entries.enumerated() { e.completion(conflicts.contains(i) ? .failure(.conflict) : .success(())) }
            } catch {
                let storeError = StoreError("Storage unavailable: \(error.message)")
                metrics?.failed()
                setFailure(storeError)
                for e in entries where !e.retry { e.completion(.failure(storeError)) }
                carried = entries.filter(\.retry)
                if closing {
                    for e in carried { e.completion(.failure(storeError)) }
                    break
                }
                // Try again after a pause (or sooner if new work arrives).
                writes.waitForWork(seconds: 1)
            }
        }
    }

    /// Commits every entry in one transaction; returns the entries whose guarded
    /// write found its row changed or gone (nothing of such an entry is written).
    private func commit(_ entries: [Entry], _ db: SQLiteConnection) throws(SQLiteError) -> Set<Int> {
        let order = writer.order
        var conflicts = Set<Int>()
        try db.execute("BEGIN IMMEDIATE")
        do {
            for (i, entry) in entries.enumerated() {
                let guarded = entry.ops.contains { if case .update = $0 { true } else { false } }
                if guarded { try db.execute("SAVEPOINT guarded") }
                var held = true
                for op in entry.ops where held { held = try apply(op, db) }
                if guarded {
                    if !held {
                        try db.execute("ROLLBACK TO guarded")
                        conflicts.insert(i)
                    }
                    try db.execute("RELEASE guarded")
                }
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            writer.order = order
            throw error
        }
        return conflicts
    }

    /// A new job created earlier than one before it clears `created_in_order`.
    private func noteCreated(_ job: Job, _ db: SQLiteConnection) throws(SQLiteError) {
        guard job.id > writer.order.lastID else { return }
        if writer.order.inOrder && job.createdAt < writer.order.lastCreated {
            try db.run("UPDATE meta SET value = 0 WHERE key = 'created_in_order'")
            writer.order.inOrder = false
        }
        writer.order.lastID = job.id
        writer.order.lastCreated = max(writer.order.lastCreated, job.createdAt)
    }

    /// Writes one op; false when a guarded write found its row changed or gone.
    @discardableResult
    private func apply(_ op: StoreOp, _ db: SQLiteConnection) throws(SQLiteError) -> Bool {
        switch op {
        case .update(let job, let expect):
            // One daemon per SQLite file, but a delete (bulk, clear, prune)
            // decided first may have removed the row: then nothing is written back.
            var held = false
            try db.run("""
                UPDATE jobs SET status = ?, progress_percent = ?, progress_message = ?, result = ?, error = ?,
                    started_at = ?, completed_at = ?, sequence = ?, run_at = ?, attempt = ?, errors = ?
                WHERE id = ? AND status = ? RETURNING id
                """, [
                    .text(job.status.rawValue), .int(Int64(job.progress.percent)), .text(job.progress.message),
                    .optional(job.result?.jsonString), .optional(job.error), .optional(job.startedAt), .optional(job.completedAt),
                    .int(Int64(job.sequence)), .optional(job.runAt), .int(Int64(job.attempt)),
                    .optional(job.errors.isEmpty ? nil : Self.errorsJSON(job.errors)), .int(job.id), .text(expect.status.rawValue),
                ]) { _ in held = true }
            return held
        case .claim, .adopt, .fence:
            // Only stores shared by several daemons claim (the queue never asks this one).
            break
        case .upsert(let job):
            try noteCreated(job, db)
            try db.run("""
                INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                                  created_at, started_at, completed_at, sequence, queue, priority, run_at, attempt,
                                  max_attempts, timeout, backoff_initial, backoff_max, idempotency_key, errors, schedule)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET status = excluded.status,
                    progress_percent = excluded.progress_percent, progress_message = excluded.progress_message,
                    result = excluded.result, error = excluded.error, started_at = excluded.started_at,
                    completed_at = excluded.completed_at, sequence = excluded.sequence, run_at = excluded.run_at,
                    attempt = excluded.attempt, errors = excluded.errors
                """, [
                    .int(job.id), .text(job.type), .text(JSONValue.object(job.params).jsonString), .text(job.status.rawValue),
                    .int(Int64(job.progress.percent)), .text(job.progress.message), .optional(job.result?.jsonString),
                    .optional(job.error), .double(job.createdAt), .optional(job.startedAt), .optional(job.completedAt),
                    .int(Int64(job.sequence)), .text(job.queue), .int(Int64(job.priority)), .optional(job.runAt),
                    .int(Int64(job.attempt)), .int(Int64(job.maxAttempts)), .optional(job.timeout),
                    .double(job.backoff.initial), .double(job.backoff.max), .optional(job.idempotencyKey),
                    .optional(job.errors.isEmpty ? nil : Self.errorsJSON(job.errors)), .optional(job.schedule),
                ])
        case .upsertSchedule(let schedule):
            try db.run("INSERT INTO schedules (name, body) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET body = excluded.body",
                       [.text(schedule.name), .text(schedule.stored.jsonString)])
        case .deleteSchedule(let name):
            try db.run("DELETE FROM schedules WHERE name = ?", [.text(name)])
        case .queueSettings(let name, let settings):
            try db.run("INSERT INTO queues (name, concurrency, paused) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET concurrency = excluded.concurrency, paused = excluded.paused",
                       [.text(name), settings.concurrency.map { .int(Int64($0)) } ?? .null, .int(settings.paused ? 1 : 0)])
        case .progress(let id, let progress, let sequence):
            try db.run("UPDATE jobs SET progress_percent = ?, progress_message = ?, sequence = ? WHERE id = ? AND status = 'running'",
                       [.int(Int64(progress.percent)), .text(progress.message), .int(Int64(sequence)), .int(id)])
        case .deleteFinished:
            try rememberNextID(db)
            try db.run("DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs WHERE status IN ('completed','failed','cancelled'))")
            try db.run("DELETE FROM jobs WHERE status IN ('completed','failed','cancelled')")
        case .appendLog(let id, let lines, let dropped, let maxBytes, _):
            try appendLog(id, lines, maxBytes, db)
            if dropped > 0 { try db.run("UPDATE jobs SET log_dropped = log_dropped + ? WHERE id = ?", [.int(Int64(dropped)), .int(id)]) }
        case .deleteJobs(let ids, let report):
            try rememberNextID(db)
            var removed: [PrunedJob] = []
            var start = 0
            while start < ids.count {
                let chunk = ids[start..<min(start + 500, ids.count)]
                start += chunk.count
                try db.run("""
                    DELETE FROM jobs WHERE id IN (\(chunk.map { _ in "?" }.joined(separator: ",")))
                    AND status IN ('completed','failed','cancelled') RETURNING id, status, queue
                    """, chunk.map { .int($0) }) { row in
                    if let status = JobStatus(rawValue: row.text(1)) { removed.append(PrunedJob(id: row.int(0), status: status, queue: row.text(2))) }
                }
            }
            for job in removed { try db.run("DELETE FROM job_logs WHERE job_id = ?", [.int(job.id)]) }
            report(removed)
        case .prune(let before, let keep, let report):
            try rememberNextID(db)
            var clauses: [String] = []
            var bindings: [SQLiteValue] = []
            if let before {
                clauses.append("completed_at < ?")
                bindings.append(.double(before))
            }
            if let keep {
                clauses.append("id NOT IN (SELECT id FROM jobs WHERE status IN ('completed','failed','cancelled') ORDER BY id DESC LIMIT ?)")
                bindings.append(.int(Int64(keep)))
            }
            let condition = "status IN ('completed','failed','cancelled') AND (\(clauses.joined(separator: " OR ")))"
            var removed: [PrunedJob] = []
            try db.run("DELETE FROM jobs WHERE \(condition) RETURNING id, status, queue", bindings) { row in
                if let status = JobStatus(rawValue: row.text(1)) { removed.append(PrunedJob(id: row.int(0), status: status, queue: row.text(2))) }
            }
            for job in removed { try db.run("DELETE FROM job_logs WHERE job_id = ?", [.int(job.id)]) }
            report(removed)
        case .webhookOutbox, .webhookAttempt, .webhookMaintenance:
            try applyWebhookOp(op, db)
        }
        return true
    }

    /// Adds lines; past `maxBytes` the oldest go, down to three quarters of the
    /// budget (the same rule as `JobLog.append`), and the job counts them as dropped.
    private func appendLog(_ id: Int64, _ lines: [LogLine], _ maxBytes: Int, _ db: SQLiteConnection) throws(SQLiteError) {
        var added = 0
        for line in lines {
            try db.run("INSERT OR REPLACE INTO job_logs (job_id, seq, ts, stream, line) VALUES (?, ?, ?, ?, ?)",
                       [.int(id), .int(Int64(line.seq)), .double(line.ts), .text(line.stream.rawValue), .text(line.text)])
            added += line.bytes
        }
        try db.run("UPDATE jobs SET log_bytes = log_bytes + ? WHERE id = ?", [.int(Int64(added)), .int(id)])
        let total = Int(try db.scalar("SELECT log_bytes FROM jobs WHERE id = ?", [.int(id)]))
        guard total > maxBytes else { return }
        var freed = 0
        var cut = 0
        var lastSeq: Int64 = -1
        try db.run("SELECT seq, length(CAST(line AS BLOB)) FROM job_logs WHERE job_id = ? ORDER BY seq", [.int(id)]) { row in
            guard total - freed > maxBytes * 3 / 4 else { return }
            freed += Int(row.int(1)) + 1
            cut += 1
            lastSeq = row.int(0)
        }
        try db.run("DELETE FROM job_logs WHERE job_id = ? AND seq <= ?", [.int(id), .int(lastSeq)])
        try db.run("UPDATE jobs SET log_bytes = log_bytes - ?, log_dropped = log_dropped + ? WHERE id = ?",
                   [.int(Int64(freed)), .int(Int64(cut)), .int(id)])
    }

    /// Ids are never reused: before rows leave, the next id is written down.
    private func rememberNextID(_ db: SQLiteConnection) throws(SQLiteError) {
        try db.run("""
            UPDATE meta SET value = MAX(value, (SELECT COALESCE(MAX(id), 0) + 1 FROM jobs)) WHERE key = 'next_id'
            """)
    }

    // MARK: Reading

    static let columns = """
        id, type, params, status, progress_percent, progress_message, result, error, created_at, started_at, completed_at, sequence,
        queue, priority, run_at, attempt, max_attempts, timeout, backoff_initial, backoff_max, idempotency_key, errors, schedule
        """

    static let qualifiedColumns = columns.split(separator: ",").map { "jobs." + $0.trimmingSpaces }.joined(separator: ", ")

    static func errorsJSON(_ errors: [AttemptError]) -> String {
        JSONValue.array(errors.map { e in
            .object(JSONObject([("attempt", .int(Int64(e.attempt))), ("error", .string(e.error)), ("at", .double(e.at))]))
        }).jsonString
    }

    static func errors(_ text: String?) -> [AttemptError] {
        guard let text, case .array(let items)? = try? JSONValue.parse(Array(text.utf8)) else { return [] }
        return items.compactMap { item in
            guard case .int(let attempt)? = item["attempt"], case .string(let error)? = item["error"] else { return nil }
            let at: Double = switch item["at"] { case .double(let d)?: d; case .int(let i)?: Double(i); default: 0 }
            return AttemptError(attempt: Int(attempt), error: error, at: at)
        }
    }

    static func job(_ row: SQLiteRow) throws(SQLiteError) -> Job {
        let params = (try? JSONValue.parse(row.text(2)))?.objectValue ?? JSONObject()
        var job = Job(id: row.int(0), type: row.text(1), params: params, createdAt: row.double(8))
        guard let status = JobStatus(rawValue: row.text(3)) else {
            throw SQLiteError(code: 11, message: "job \(job.id) has an unknown status '\(row.text(3))'")
        }
        job.status = status
        job.progress = JobProgress(percent: Int(row.int(4)), message: row.text(5))
        job.result = row.optionalText(6).flatMap { try? JSONValue.parse($0) }
        job.error = row.optionalText(7)
        job.startedAt = row.optionalDouble(9)
        job.completedAt = row.optionalDouble(10)
        job.sequence = UInt64(row.int(11))
        job.queue = row.text(12)
        job.priority = Int(row.int(13))
        job.runAt = row.optionalDouble(14)
        job.attempt = Int(row.int(15))
        job.maxAttempts = Int(row.int(16))
        job.timeout = row.optionalDouble(17)
        job.backoff = Backoff(initial: row.double(18), max: row.double(19))
        job.idempotencyKey = row.optionalText(20)
        job.errors = errors(row.optionalText(21))
        job.schedule = row.optionalText(22)
        return job
    }

    /// Runs a read on a pooled connection, taken out of the pool for the
    /// duration so no lock is held while SQLite works.
    func read<R>(_ body: (SQLiteConnection) throws(SQLiteError) -> R) throws(StoreError) -> R {
        let box = readers.withLock { $0.popLast() }
        do throws(SQLiteError) {
            let reader: ReaderBox
            if let box { reader = box } else { reader = ReaderBox(try SQLiteConnection(path: path, readOnly: true)) }
            defer { readers.withLock { if !writes.isClosing && $0.count < 8 { $0.append(reader) } } }
            return try body(reader.connection)
        } catch {
            throw StoreError("Storage unavailable: \(error.message)")
        }
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\n" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\n" { s = s.dropLast() }
        return s
    }
}

/// A connection handed between threads, used by one at a time.
///
/// `@unchecked Sendable`: a reader box is either in the pool (behind the store's
/// mutex) or checked out by exactly one thread; the writer's box is only used by
/// the writer thread after `init` hands it over.
final class ReaderBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}

/// The writer's connection, used only by the writer thread, which closes it
/// (sets nil) as its last act.
///
/// `@unchecked Sendable`: `init` hands it to the writer thread before that thread
/// starts; from then on only the writer thread reads or writes `connection`.
final class WriterBox: @unchecked Sendable {
    var connection: SQLiteConnection?
    /// The newest job written and whether creation times are still in id order.
    var order = (lastID: Int64(0), lastCreated: 0.0, inOrder: true)
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
