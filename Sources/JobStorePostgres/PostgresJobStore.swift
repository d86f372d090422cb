import Dispatch
import Essentials
import Glibc
import JSON
import JobQueue
import Synchronization

/// The PostgreSQL store, with the same semantics as `SQLiteJobStore`: one writer
/// thread on its own connection groups every submission waiting since its last
/// commit into one transaction, and a small pool of reader connections answers
/// lookups and pages. A lost connection (the server restarted) fails the commit
/// in progress like any storage failure; the next attempt connects again.
///
/// Several daemons (nodes) may share one database: ids come from a sequence,
/// claims are made in the database (`FOR UPDATE SKIP LOCKED`), transitions of
/// existing jobs are guarded by the status, node and attempt the deciding node
/// saw, and every commit notifies the other nodes (`NOTIFY jobrunner`) of what
/// it changed. `PostgresCluster` keeps this node's heartbeat, listens, and holds
/// or takes the leader's lease (`PostgresLease.swift`).
public final class PostgresJobStore: ClusterStore, Sendable {
    /// The schema version this build writes; a newer database is refused.
    public static let schemaVersion = 5

    /// Taken (for the transaction) by whoever migrates, so two daemons starting
    /// together on one database do not race; "JobRunr" in ASCII.
    static let migrationLock: Int64 = 0x4A_6F62_5275_6E72
    /// The notification channel every node listens on.
    static let channel = "jobrunner"

    private typealias Entry = StoreWriteQueue.Entry

    /// Submissions, closing and the failure state, shared with the writer thread.
    private let writes = StoreWriteQueue()

    private let url: String
    /// The URL with its password masked, for logs and errors.
    public let displayURL: String
    /// Reader connections kept for reuse. A returning reader checks `closing`
    /// under this lock, so while `close()` runs it is either dropped or cleared.
    private let readers = Mutex<[ConnectionBox]>([])
    private let finished = DispatchSemaphore(value: 0)
    private let writer: WriterConnection
    /// Heartbeats, notifications and leadership (its own connection and thread).
    public let cluster: PostgresCluster
    public var nodeID: String { cluster.nodeID }

    /// True for the URLs this store takes (`postgresql://` or `postgres://`).
    public static func accepts(_ db: String) -> Bool {
        db.hasPrefix("postgresql://") || db.hasPrefix("postgres://")
    }

    /// The URL with any password replaced by `***` (in the user-info part and in
    /// a `password=` query parameter).
    public static func redacted(_ url: String) -> String {
        var s = url
        let chars = Array(s.utf8)
        if let i = chars.indices.first(where: { chars[$0...].starts(with: "://".utf8) }) {
            let rest = s[s.utf8.index(s.startIndex, offsetBy: i + 3)...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@"),
               let colon = rest[..<at].firstIndex(of: ":") {
                s.replaceSubrange(rest.index(after: colon)..<at, with: "***")
            }
        }
        if let q = s.firstIndex(of: "?") {
            let query = s[s.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { part in
                part.lowercased().hasPrefix("password=") ? "password=***" : String(part)
            }
            s = String(s[...q]) + query.joined(separator: "&")
        }
        return s
    }

    /// Connects and migrates. Throws a clear error (the URL without its password)
    /// for a server that cannot be reached or a database with a newer schema.
    /// `synchronousCommit: false` is `--sync normal`: a server crash may lose the
    /// latest commits (a crash of the daemon does not).
    /// `nodeID` names this daemon among those sharing the database (default:
    /// `HOST:pidPID`); a live node with the same id makes this fail. A node
    /// silent for `nodeTimeout` seconds has its running jobs rescued by the leader.
    public init(url: String, synchronousCommit: Bool = true, nodeID: String? = nil, nodeTimeout: Double = 30,
                address: String = "") throws(StoreError) {
        self.url = url
        displayURL = Self.redacted(url)
        let connection: PostgresConnection
        do throws(PostgresError) {
            connection = try PostgresConnection(url: url)
            try Self.migrate(connection)
        } catch {
            throw StoreError("cannot use database \(displayURL): \(error.operatorMessage)")
        }
        let node = nodeID ?? PostgresCluster.defaultNodeID(port: nil)
        do throws(PostgresError) {
            // Before the first write: a second daemon with this node id stops here.
            cluster = try PostgresCluster(url: url, nodeID: node, timeout: nodeTimeout, address: address)
        } catch {
            throw StoreError("cannot use database \(displayURL): \(error.operatorMessage)")
        }
        let writer = WriterConnection(url: url, synchronousCommit: synchronousCommit, node: node, idleTimeout: cluster.timeout, connection)
        do throws(PostgresError) {
            try writer.prepare(connection)
            let last = try connection.run("SELECT id, created_at FROM jobs ORDER BY id DESC LIMIT 1")
            if last.rows > 0 {
                writer.order.lastID = last.int(0, 0)
                writer.order.lastCreated = last.double(0, 1)
            }
            writer.order.inOrder = try connection.scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'created_in_order'), 0)") == 1
        } catch {
            throw StoreError("cannot use database \(displayURL): \(error.operatorMessage)")
        }
        self.writer = writer
        do {
            try ThreadLauncher.detached(name: "store writer") { [self] in runWriter() }
        } catch {
            // No writer to wait for: `deinit`'s close returns at once.
            _ = writes.beginClosing()
            cluster.close()
            throw StoreError("cannot use database \(displayURL): \(error)")
        }
        do {
            try cluster.start()
        } catch {
            close()
            throw StoreError("cannot use database \(displayURL): \(error)")
        }
    }

    deinit {
        close()
    }

    // MARK: Schema

    /// Brings the schema to `schemaVersion`, all steps in one transaction under
    /// the migration lock (DDL is transactional in PostgreSQL).
    private static func migrate(_ db: PostgresConnection) throws(PostgresError) {
        try db.execute("BEGIN")
        do throws(PostgresError) {
            try db.run("SELECT pg_advisory_xact_lock($1)", [.int(migrationLock)])
            try db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            let version = try db.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            guard version <= schemaVersion else {
                throw PostgresError(message: "its schema version \(version) is newer than this jobrunnerd supports (\(schemaVersion)); upgrade jobrunnerd",
                                    state: nil, connectionLost: false)
            }
            if version < 1 {
                // The SQLite schema at its version 4, in PostgreSQL's types.
                // Names sort by byte ("C"), as in SQLite.
                try db.execute("""
                    CREATE TABLE jobs (
                        id BIGINT PRIMARY KEY,
                        type TEXT NOT NULL,
                        params TEXT NOT NULL,
                        status TEXT NOT NULL,
                        progress_percent BIGINT NOT NULL,
                        progress_message TEXT NOT NULL,
                        result TEXT,
                        error TEXT,
                        created_at DOUBLE PRECISION NOT NULL,
                        started_at DOUBLE PRECISION,
                        completed_at DOUBLE PRECISION,
                        sequence BIGINT NOT NULL,
                        log_bytes BIGINT NOT NULL DEFAULT 0,
                        log_dropped BIGINT NOT NULL DEFAULT 0,
                        queue TEXT NOT NULL DEFAULT 'default',
                        priority BIGINT NOT NULL DEFAULT 0,
                        run_at DOUBLE PRECISION,
                        attempt BIGINT NOT NULL DEFAULT 1,
                        max_attempts BIGINT NOT NULL DEFAULT 1,
                        timeout DOUBLE PRECISION,
                        backoff_initial DOUBLE PRECISION NOT NULL DEFAULT 1,
                        backoff_max DOUBLE PRECISION NOT NULL DEFAULT 3600,
                        idempotency_key TEXT,
                        errors TEXT,
                        schedule TEXT
                    );
                    CREATE INDEX jobs_status ON jobs(status, id);
                    CREATE INDEX jobs_type ON jobs(type, id);
                    CREATE INDEX jobs_idempotency_key ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
                    CREATE INDEX jobs_queue ON jobs(queue, status);
                    CREATE INDEX jobs_schedule ON jobs(schedule, id) WHERE schedule IS NOT NULL;
                    CREATE TABLE job_logs (
                        job_id BIGINT NOT NULL,
                        seq BIGINT NOT NULL,
                        ts DOUBLE PRECISION NOT NULL,
                        stream TEXT NOT NULL,
                        line BYTEA NOT NULL,
                        PRIMARY KEY (job_id, seq)
                    );
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
                    INSERT INTO meta (key, value) VALUES ('next_id', 1);
                    CREATE TABLE queues (name TEXT COLLATE "C" PRIMARY KEY, concurrency BIGINT, paused BOOLEAN NOT NULL DEFAULT false);
                    CREATE TABLE schedules (name TEXT COLLATE "C" PRIMARY KEY, body TEXT NOT NULL);
                    """)
            }
            if version < 2 {
                // Webhooks: the outbox (PostgresJobStore+Webhooks.swift), as SQLite's
                // version 6. A delivery is written in the transaction of the
                // transition it reports.
                try db.execute("""
                    CREATE TABLE webhook_deliveries (
                        seq BIGSERIAL PRIMARY KEY,
                        delivery_id TEXT NOT NULL,
                        url TEXT NOT NULL,
                        event TEXT NOT NULL,
                        job_id BIGINT,
                        schedule TEXT,
                        created_at DOUBLE PRECISION NOT NULL,
                        body TEXT NOT NULL,
                        status TEXT NOT NULL DEFAULT 'pending',
                        attempts BIGINT NOT NULL DEFAULT 0,
                        next_attempt_at DOUBLE PRECISION,
                        last_attempt_at DOUBLE PRECISION,
                        last_http_status BIGINT,
                        last_error TEXT
                    );
                    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(url, next_attempt_at, seq) WHERE status = 'pending';
                    CREATE INDEX webhook_deliveries_done ON webhook_deliveries(seq) WHERE status != 'pending';
                    """)
            }
            if version < 3 {
                // History at scale (PostgresJobStore+Search.swift): every job's
                // words for text search, and the creation time for time ranges.
                try db.execute("ALTER TABLE jobs ADD COLUMN words TSVECTOR NOT NULL DEFAULT ''")
                try fillWords(db)
                try db.execute("""
                    CREATE INDEX jobs_words ON jobs USING gin (words);
                    CREATE INDEX jobs_created ON jobs(created_at, id);
                    -- Whether creation times never go down as ids go up (the writer
                    -- clears it when a new job breaks that): time ranges then become
                    -- id ranges.
                    INSERT INTO meta (key, value) VALUES ('created_in_order', CASE WHEN EXISTS (
                        SELECT 1 FROM (SELECT created_at < MAX(created_at) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                                       AS back FROM jobs) AS b WHERE back) THEN 0 ELSE 1 END)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
                    """)
            }
            if version < 4 {
                // Several nodes: who runs a job, ids from a sequence (never below
                // any id handed out), the claim's order, and the nodes' heartbeats.
                try db.execute("""
                    ALTER TABLE jobs ADD COLUMN node TEXT;
                    CREATE INDEX jobs_claim ON jobs (priority DESC, id) WHERE status = 'pending';
                    CREATE INDEX jobs_running_node ON jobs (node) WHERE status = 'running';
                    CREATE SEQUENCE job_ids;
                    SELECT setval('job_ids', GREATEST((SELECT value FROM meta WHERE key = 'next_id'),
                                                      (SELECT COALESCE(MAX(id), 0) + 1 FROM jobs)), false);
                    CREATE TABLE nodes (
                        id TEXT COLLATE "C" PRIMARY KEY,
                        address TEXT NOT NULL DEFAULT '',
                        pid BIGINT NOT NULL,
                        started_at DOUBLE PRECISION NOT NULL,
                        heartbeat_at DOUBLE PRECISION NOT NULL,
                        leader BOOLEAN NOT NULL DEFAULT false
                    );
                    ALTER TABLE webhook_deliveries ADD COLUMN node TEXT;
                    """)
            }
            if version < 5 {
                // The leader's lease (PostgresLease.swift), in place of a session
                // lock that a frozen leader kept: one row, its epoch the fencing
                // token of every leader chore. Who leads is read from it.
                try db.execute("""
                    CREATE TABLE leader_lease (
                        id SMALLINT PRIMARY KEY CHECK (id = 1),
                        node TEXT NOT NULL,
                        epoch BIGINT NOT NULL,
                        expires_at DOUBLE PRECISION NOT NULL
                    );
                    ALTER TABLE nodes DROP COLUMN leader;
                    """)
            }
            // Later versions add their steps here (`if version < 6 { ... }`).
            try refreshWords(db, fresh: version < 3)
            if version < schemaVersion {
                try db.execute("DELETE FROM schema_version")
                try db.run("INSERT INTO schema_version (version) VALUES ($1)", [.int(Int64(schemaVersion))])
            }
            try db.execute("COMMIT")
        } catch {
            if !error.connectionLost { _ = try? db.execute("ROLLBACK") }
            throw error
        }
    }

    /// Writes the words anew where an older `JobSearch.tokens` cut them
    /// (`JobSearch.tokenizerVersion`, kept in `meta`): only jobs whose text goes
    /// beyond ASCII can differ. Nothing to do when the words were just written.
    private static func refreshWords(_ db: PostgresConnection, fresh: Bool) throws(PostgresError) {
        let current = Int64(JobSearch.tokenizerVersion)
        let stored = try db.scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'words_tokenizer'), 1)")
        guard stored != current else { return }
        if !fresh { try fillWords(db, where: "(params !~ '^[[:ascii:]]*$' OR error !~ '^[[:ascii:]]*$')") }
        try db.run("INSERT INTO meta (key, value) VALUES ('words_tokenizer', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   [.int(current)])
    }

    /// Writes the words of the jobs a version 2 database holds (or those that
    /// `condition` picks), 1,000 at a time.
    private static func fillWords(_ db: PostgresConnection, where condition: String = "true") throws(PostgresError) {
        var last: Int64 = 0
        while true {
            let r = try db.run("SELECT id, params, error FROM jobs WHERE id > $1 AND \(condition) ORDER BY id LIMIT 1000", [.int(last)])
            guard r.rows > 0 else { return }
            var updates: [Statement] = []
            updates.reserveCapacity(r.rows)
            for i in 0..<r.rows {
                updates.append(("UPDATE jobs SET words = $1::tsvector WHERE id = $2",
                                [.text(words(params: r.text(i, 1), error: r.optionalText(i, 2))), .int(r.int(i, 0))]))
            }
            try db.runAll(updates)
            last = r.int(r.rows - 1, 0)
        }
    }

    // MARK: JobStore

    public func load(recentFinished: Int) throws(StoreError) -> StoreSnapshot {
        // One snapshot for every statement: counts agree with the rows.
        try read(snapshot: true) { db throws(PostgresError) in
            var snapshot = StoreSnapshot()
            let active = try db.run("SELECT \(Self.columns) FROM jobs WHERE status IN ('pending','running') ORDER BY id")
            for r in 0..<active.rows { snapshot.active.append(try Self.job(active, r)) }
            let finished = try db.run("SELECT \(Self.columns) FROM jobs WHERE status IN ('completed','failed','cancelled') ORDER BY id DESC LIMIT $1",
                                      [.int(Int64(recentFinished))])
            for r in 0..<finished.rows { snapshot.recentFinished.append(try Self.job(finished, r)) }
            snapshot.recentFinished.reverse()
            let counts = try db.run("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status")
            for r in 0..<counts.rows {
                guard let status = JobStatus(rawValue: counts.text(r, 1)) else { continue }
                let n = Int(counts.int(r, 2))
                snapshot.stats[status] += n
                snapshot.stats.total += n
                snapshot.queueCounts[counts.text(r, 0), default: QueueStats()][status] += n
                snapshot.queueCounts[counts.text(r, 0), default: QueueStats()].total += n
            }
            let schedules = try db.run("SELECT body FROM schedules ORDER BY name")
            for r in 0..<schedules.rows {
                if let value = try? JSONValue.parse(Array(schedules.text(r, 0).utf8)), let schedule = Schedule(stored: value) {
                    snapshot.schedules.append(schedule)
                }
            }
            let queues = try db.run("SELECT name, concurrency, paused FROM queues")
            for r in 0..<queues.rows {
                let limit = queues.optionalText(r, 1).flatMap { Int($0) }
                snapshot.queues[queues.text(r, 0)] = QueueSettings(concurrency: limit, paused: queues.bool(r, 2))
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
        try read { db throws(PostgresError) in
            let r = try db.run("SELECT \(Self.columns) FROM jobs WHERE id = $1", [.int(id)])
            return r.rows > 0 ? try Self.job(r, 0) : nil
        }
    }

    public func job(idempotencyKey key: String) throws(StoreError) -> Job? {
        try read { db throws(PostgresError) in
            let r = try db.run("SELECT \(Self.columns) FROM jobs WHERE idempotency_key = $1 LIMIT 1", [.text(key)])
            return r.rows > 0 ? try Self.job(r, 0) : nil
        }
    }

    public func log(_ id: Int64, after seq: UInt64, limit: Int?) throws(StoreError) -> JobLog? {
        try read(snapshot: true) { db throws(PostgresError) in
            let head = try db.run("SELECT log_dropped, log_bytes FROM jobs WHERE id = $1", [.int(id)])
            guard head.rows > 0 else { return nil }
            var found = JobLog(lines: [], dropped: Int(head.int(0, 0)), bytes: Int(head.int(0, 1)))
            // The primary key (job_id, seq) finds the first line; LIMIT NULL is none.
            let lines = try db.run("SELECT seq, ts, stream, line FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                   [.int(id), .int(Int64(clamping: seq)), limit.map { .int(Int64(max(0, $0))) } ?? .null])
            found.lines.reserveCapacity(lines.rows)
            for r in 0..<lines.rows {
                found.lines.append(LogLine(seq: UInt64(lines.int(r, 0)), ts: lines.double(r, 1),
                                           stream: LogStream(rawValue: lines.text(r, 2)) ?? .stdout, text: lines.bytes(r, 3)))
            }
            return found
        }
    }

    public func query(_ query: JobQuery) throws(StoreError) -> JobPage {
        try page(query)
    }

    public func close() {
        guard writes.beginClosing() else { return }
        finished.wait()
        readers.withLock { $0 = [] }
        cluster.close()
    }

    // MARK: ClusterStore

    public func takeIDs(_ count: Int) throws(StoreError) -> [Int64] {
        // One round trip for `count` ids; nodes asking at once get distinct
        // (interleaved) ids, never the same one.
        try read { db throws(PostgresError) in
            let r = try db.run("SELECT nextval('job_ids') FROM generate_series(1, $1)", [.int(Int64(count))])
            return (0..<r.rows).map { r.int($0, 0) }.sorted()
        }
    }

    public func onRemoteChange(_ action: @escaping @Sendable (RemoteChange) -> Void) {
        cluster.onRemoteChange(action)
    }

    public var isLeader: Bool { cluster.isLeader }

    public var leaderEpoch: Int64? { cluster.leaderEpoch }

    public var isAlone: Bool { cluster.isAlone }

    public func onLeadership(_ action: @escaping @Sendable (Bool) -> Void) { cluster.onLeadership(action) }

    public func onSilentNodes(_ action: @escaping @Sendable ([String]) -> Void) { cluster.onSilentNodes(action) }

    public func jobs(_ ids: [Int64]) throws(StoreError) -> [Job] {
        guard !ids.isEmpty else { return [] }
        return try read { db throws(PostgresError) in
            let r = try db.run("SELECT \(Self.columns) FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id", [Self.idArray(ids)])
            var out: [Job] = []
            for i in 0..<r.rows { out.append(try Self.job(r, i)) }
            return out
        }
    }

    // MARK: The writer

    private func runWriter() {
        writeUntilClosed()
        writer.release()
        finished.signal()
    }

    /// A commit whose answer was lost with the connection: committed or not,
    /// only the server can tell once it is back.
    private struct InDoubt {
        let transaction: Int64
        let entries: [Entry]
        /// The writer's `order` before that commit (made again if it did not commit).
        let order: WriterConnection.Order
        /// The entries whose guarded writes found their job changed.
        let conflicts: Set<Int>
    }

    private func writeUntilClosed() {
        var carried: [Entry] = []
        var doubt: InDoubt?
        while true {
            let (batch, closing) = writes.take()
            var entries = carried + batch
            carried = []
            if let d = doubt {
                // Nothing newer is committed before the lost commit's fate is known
                // (a retried older write must not land after a newer one).
                switch writer.outcome(d.transaction) {
                case .committed:
                    doubt = nil
                    setFailure(nil)
                    for (i, e) in d.entries.enumerated() { e.completion(d.conflicts.contains(i) ? .failure(.conflict) : .success(())) }
                    writes.batchDone()
                case .aborted:
                    // Nobody was told yet: the writes are simply made again.
                    doubt = nil
                    writer.order = d.order
                    entries = d.entries + entries
                case .unknown(let error):
                    let storeError = StoreError("Storage unavailable: \(error.message)")
                    setFailure(storeError)
                    for e in entries where !e.retry { e.completion(.failure(storeError)) }
                    carried = entries.filter(\.retry)
                    if closing {
                        for e in d.entries + carried { e.completion(.failure(storeError)) }
                        writes.batchDone()
                        return
                    }
                    writes.batchDone()
                    writes.waitForWork(seconds: 1)
                    continue
                }
            }
            if entries.isEmpty {
                if closing { break }
                writes.waitForWork()
                continue
            }
            defer { writes.batchDone() }
            switch commit(entries) {
            case .committed(let conflicts):
                setFailure(nil)
                for (i, e) in entries.enumerated() { e.completion(conflicts.contains(i) ? .failure(.conflict) : .success(())) }
            case .inDoubt(let transaction, let order, let conflicts, let error):
                setFailure(StoreError("Storage unavailable: \(error.message)"))
                doubt = InDoubt(transaction: transaction, entries: entries, order: order, conflicts: conflicts)
            case .failed(let error):
                let storeError = StoreError("Storage unavailable: \(error.message)")
                setFailure(storeError)
                for e in entries where !e.retry { e.completion(.failure(storeError)) }
                carried = entries.filter(\.retry)
                if closing {
                    for e in carried { e.completion(.failure(storeError)) }
                    return
                }
                // Try again after a pause (or sooner if new work arrives).
                writes.waitForWork(seconds: 1)
            }
        }
    }

    private enum CommitResult {
        /// Committed; the entries listed had a guarded write that found its job changed.
        case committed(conflicts: Set<Int>)
        /// Not committed: nothing of it is in the database.
        case failed(PostgresError)
        /// The connection was lost while COMMIT was on its way (with the
        /// writer's `order` from before it).
        case inDoubt(transaction: Int64, order: WriterConnection.Order, conflicts: Set<Int>, PostgresError)
    }

    /// One transaction for every op of `entries`.
    private func commit(_ entries: [Entry]) -> CommitResult {
        let db: PostgresConnection
        let transaction: Int64
        do throws(PostgresError) {
            db = try writer.connected()
            transaction = try db.execute("BEGIN; SELECT txid_current()").int(0, 0)
        } catch {
            writer.disconnect()
            return .failed(error)
        }
        let order = writer.order
        var conflicts = Set<Int>()
        do throws(PostgresError) {
            var batch = Batch()
            var notes = Notes()
            for (i, entry) in entries.enumerated() {
                batch.entry = i
                batch.fencedOut = false
                for op in entry.ops where !batch.fencedOut { try apply(op, db, &batch, &notes) }
            }
            for payload in notes.payloads(node: writer.node) {
                batch.append(("SELECT pg_notify($1, $2)", [.text(Self.channel), .text(payload)]))
            }
            try batch.flush(db)
            conflicts = batch.conflicts
        } catch {
            if error.connectionLost { writer.disconnect() } else { _ = try? db.execute("ROLLBACK") }
            writer.order = order
            return .failed(error)
        }
        do throws(PostgresError) {
            try db.execute("COMMIT")
            return .committed(conflicts: conflicts)
        } catch {
            guard error.connectionLost else {
                _ = try? db.execute("ROLLBACK")
                writer.order = order
                return .failed(error)
            }
            writer.disconnect()
            return .inDoubt(transaction: transaction, order: order, conflicts: conflicts, error)
        }
    }

    typealias Statement = (sql: String, params: [PostgresValue])

    /// Statements waiting to be sent in one pipeline, and which of them are
    /// guarded updates (of which entry): one that touches no row is a conflict.
    struct Batch {
        var statements: [Statement] = []
        var guards: [(statement: Int, entry: Int)] = []
        var entry = 0
        var conflicts = Set<Int>()
        /// The entry's fence found the lease taken over: its other ops are not made.
        var fencedOut = false

        mutating func append(_ statement: Statement) { statements.append(statement) }

        mutating func guarded(_ statement: Statement) {
            guards.append((statements.count, entry))
            statements.append(statement)
        }

        static func += (batch: inout Batch, more: [Statement]) { batch.statements += more }

        mutating func flush(_ db: PostgresConnection) throws(PostgresError) {
            guard !statements.isEmpty else { return }
            let affected = try db.runAll(statements)
            for g in guards where affected[g.statement] == 0 { conflicts.insert(g.entry) }
            statements = []
            guards = []
        }
    }

    /// Every op, in one `switch` (new ops add a case here). Writes whose answer is
    /// not needed join `batch`, sent in pipeline mode; an op that reads what it
    /// wrote sends the batch first (order is kept); a guarded write that finds
    /// its job changed does nothing and marks its entry a conflict. `notes`
    /// collects what the other nodes are told.
    private func apply(_ op: StoreOp, _ db: PostgresConnection, _ batch: inout Batch,
                       _ notes: inout Notes) throws(PostgresError) {
        switch op {
        case .update(let job, let expect):
            let params = JSONValue.object(job.params).jsonString
            batch.guarded(("""
                UPDATE jobs SET status = $2, progress_percent = $3, progress_message = $4, result = $5, error = $6,
                    started_at = $7, completed_at = $8, sequence = GREATEST(sequence + 1, $9), run_at = $10, attempt = $11,
                    errors = $12, words = $13::tsvector, node = $14
                WHERE id = $1 AND status = $15 AND node IS NOT DISTINCT FROM $16
                  AND ($17::bigint IS NULL OR (attempt = $17 AND started_at IS NOT DISTINCT FROM $18))
                """, [
                    .int(job.id), .text(job.status.rawValue), .int(Int64(job.progress.percent)), .text(job.progress.message),
                    .optional(job.result?.jsonString), .optional(job.error), .optional(job.startedAt), .optional(job.completedAt),
                    .int(Int64(job.sequence)), .optional(job.runAt), .int(Int64(job.attempt)),
                    .optional(job.errors.isEmpty ? nil : Self.errorsJSON(job.errors)),
                    .text(Self.words(params: params, error: job.error)), .optional(job.node),
                    .text(expect.status.rawValue), .optional(expect.node),
                    expect.attempt.map { .int(Int64($0)) } ?? .null, .optional(expect.startedAt),
                ]))
            notes.jobs.insert(job.id)
        case .claim(let request):
            try batch.flush(db)
            try claim(request, db, &notes)
        case .fence(let epoch):
            try batch.flush(db)
            if try !LeaderLease.holds(db, node: writer.node, epoch: epoch) {
                batch.conflicts.insert(batch.entry)
                batch.fencedOut = true
            }
        case .adopt(let silent, let node, let report):
            try batch.flush(db)
            let r = try db.run("UPDATE jobs SET node = $2 WHERE status = 'running' AND node = $1 RETURNING \(Self.columns)",
                               [.text(silent), .text(node)])
            // Its webhook deliveries still to send are the leader's to send now.
            try db.run("UPDATE webhook_deliveries SET node = $2 WHERE status = 'pending' AND node = $1", [.text(silent), .text(node)])
            var adopted: [Job] = []
            for i in 0..<r.rows { adopted.append(try Self.job(r, i)) }
            report(adopted.sorted { $0.id < $1.id })
        case .upsert(let job):
            notes.jobs.insert(job.id)
            noteCreated(job, &batch)
            let params = JSONValue.object(job.params).jsonString
            batch.append(("""
                INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                                  created_at, started_at, completed_at, sequence, queue, priority, run_at, attempt,
                                  max_attempts, timeout, backoff_initial, backoff_max, idempotency_key, errors, schedule, words, node)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
                        $24::tsvector, $25)
                ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                    progress_percent = excluded.progress_percent, progress_message = excluded.progress_message,
                    result = excluded.result, error = excluded.error, started_at = excluded.started_at,
                    completed_at = excluded.completed_at, sequence = excluded.sequence, run_at = excluded.run_at,
                    attempt = excluded.attempt, errors = excluded.errors,
                    words = excluded.words, node = excluded.node
                """, [
                    .int(job.id), .text(job.type), .text(params), .text(job.status.rawValue),
                    .int(Int64(job.progress.percent)), .text(job.progress.message), .optional(job.result?.jsonString),
                    .optional(job.error), .double(job.createdAt), .optional(job.startedAt), .optional(job.completedAt),
                    .int(Int64(job.sequence)), .text(job.queue), .int(Int64(job.priority)), .optional(job.runAt),
                    .int(Int64(job.attempt)), .int(Int64(job.maxAttempts)), .optional(job.timeout),
                    .double(job.backoff.initial), .double(job.backoff.max), .optional(job.idempotencyKey),
                    .optional(job.errors.isEmpty ? nil : Self.errorsJSON(job.errors)), .optional(job.schedule),
                    .text(Self.words(params: params, error: job.error)), .optional(job.node),
                ]))
        case .upsertSchedule(let schedule):
            notes.schedules.insert(schedule.name)
            batch.append(("INSERT INTO schedules (name, body) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                          [.text(schedule.name), .text(schedule.stored.jsonString)]))
        case .deleteSchedule(let name):
            notes.schedules.insert(name)
            batch.append(("DELETE FROM schedules WHERE name = $1", [.text(name)]))
        case .queueSettings(let name, let settings):
            notes.queues.insert(name)
            batch.append(("""
                INSERT INTO queues (name, concurrency, paused) VALUES ($1, $2, $3)
                ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, paused = excluded.paused
                """, [.text(name), settings.concurrency.map { .int(Int64($0)) } ?? .null, .bool(settings.paused)]))
        case .progress(let id, let progress, let sequence):
            notes.jobs.insert(id)
            batch.append(("UPDATE jobs SET progress_percent = $1, progress_message = $2, sequence = $3 WHERE id = $4 AND status = 'running' AND (node IS NULL OR node = $5)",
                          [.int(Int64(progress.percent)), .text(progress.message), .int(Int64(sequence)), .int(id), .text(writer.node)]))
        case .deleteFinished:
            try batch.flush(db)
            try rememberNextID(db)
            try db.execute("DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs WHERE status IN ('completed','failed','cancelled'))")
            try db.execute("DELETE FROM jobs WHERE status IN ('completed','failed','cancelled')")
            notes.cleared = true
        case .appendLog(let id, let lines, let dropped, let maxBytes, let expect):
            try batch.flush(db)
            if let expect, try !holds(id, expect, db) {
                batch.conflicts.insert(batch.entry)
                return
            }
            try appendLog(id, lines, maxBytes, db)
            if let first = lines.first, let last = lines.last { notes.logs.append((id, first.seq, last.seq)) }
            if dropped > 0 { try db.run("UPDATE jobs SET log_dropped = log_dropped + $1 WHERE id = $2", [.int(Int64(dropped)), .int(id)]) }
        case .prune(let before, let keep, let report):
            try batch.flush(db)
            try rememberNextID(db)
            var clauses: [String] = []
            var params: [PostgresValue] = []
            if let before {
                params.append(.double(before))
                clauses.append("completed_at < $\(params.count)")
            }
            if let keep {
                params.append(.int(Int64(keep)))
                clauses.append("id NOT IN (SELECT id FROM jobs WHERE status IN ('completed','failed','cancelled') ORDER BY id DESC LIMIT $\(params.count))")
            }
            let removed = try deleteFinished(where: clauses.joined(separator: " OR "), params, db)
            notes.deleted += removed
            report(removed)
        case .deleteJobs(let ids, let report):
            try batch.flush(db)
            try rememberNextID(db)
            let removed = try deleteFinished(where: "id = ANY($1::bigint[])", [Self.idArray(ids)], db)
            notes.deleted += removed
            report(removed)
        case .webhookOutbox, .webhookAttempt, .webhookMaintenance:
            batch += Self.webhookStatements(op, node: writer.node)
        }
    }

    /// A node's claim: the best pending jobs that are due, locked with `SKIP
    /// LOCKED` so nodes claiming at once never wait for or take the same rows,
    /// picked within the per-node budgets, then marked running on the node.
    private func claim(_ request: ClaimRequest, _ db: PostgresConnection, _ notes: inout Notes) throws(PostgresError) {
        guard request.limit > 0 else { return }
        let budgets = !request.queueBudgets.isEmpty || !request.typeBudgets.isEmpty
        let candidates = try db.run("""
            SELECT id, queue, type FROM jobs
            WHERE status = 'pending' AND (run_at IS NULL OR run_at <= $1)
              AND NOT (queue = ANY($2::text[])) AND NOT (type = ANY($3::text[]))
            ORDER BY priority DESC, id LIMIT $4 FOR UPDATE SKIP LOCKED
            """, [.double(request.now), Self.textArray(request.excludedQueues), Self.textArray(request.excludedTypes),
                   .int(Int64(budgets ? request.limit * 4 : request.limit))])
        let picked = request.pick((0..<candidates.rows).map { (candidates.int($0, 0), candidates.text($0, 1), candidates.text($0, 2)) })
        guard !picked.isEmpty else { return }
        let r = try db.run("""
            UPDATE jobs SET status = 'running', started_at = $1, progress_percent = 0, progress_message = $2,
                sequence = sequence + 1, node = $3
            WHERE id = ANY($4::bigint[]) RETURNING \(Self.columns)
            """, [.double(request.now), .text(JobProgress.starting.message), .text(request.node), Self.idArray(picked)])
        var claimed: [Int64: Job] = [:]
        for i in 0..<r.rows {
            let job = try Self.job(r, i)
            claimed[job.id] = job
            notes.jobs.insert(job.id)
        }
        request.claimed.withLock { $0 = picked.compactMap { claimed[$0] } }
    }

    /// Whether the job's row is as `expect` says, locked until the commit (a
    /// rescue taking the job over waits for it).
    private func holds(_ id: Int64, _ expect: JobGuard, _ db: PostgresConnection) throws(PostgresError) -> Bool {
        try db.run("""
            SELECT 1 FROM jobs WHERE id = $1 AND status = $2 AND node IS NOT DISTINCT FROM $3
              AND ($4::bigint IS NULL OR (attempt = $4 AND started_at IS NOT DISTINCT FROM $5)) FOR UPDATE
            """, [.int(id), .text(expect.status.rawValue), .optional(expect.node), expect.attempt.map { .int(Int64($0)) } ?? .null,
                   .optional(expect.startedAt)]).rows > 0
    }

    /// Names as one bound value: a PostgreSQL array literal of quoted text.
    static func textArray(_ names: [String]) -> PostgresValue {
        .text("{" + names.map { name in
            var quoted = "\""
            for c in name.unicodeScalars {
                if c == "\"" || c == "\\" { quoted.unicodeScalars.append("\\") }
                quoted.unicodeScalars.append(c)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}")
    }

    /// Deletes the finished jobs matching `condition`, and their logs; the jobs removed.
    private func deleteFinished(where condition: String, _ params: [PostgresValue], _ db: PostgresConnection) throws(PostgresError) -> [PrunedJob] {
        let r = try db.run("DELETE FROM jobs WHERE status IN ('completed','failed','cancelled') AND (\(condition)) RETURNING id, status, queue", params)
        var removed: [PrunedJob] = []
        removed.reserveCapacity(r.rows)
        for i in 0..<r.rows {
            if let status = JobStatus(rawValue: r.text(i, 1)) { removed.append(PrunedJob(id: r.int(i, 0), status: status, queue: r.text(i, 2))) }
        }
        if !removed.isEmpty {
            // One statement for every removed job's log.
            try db.run("DELETE FROM job_logs WHERE job_id = ANY($1::bigint[])", [Self.idArray(removed.map(\.id))])
        }
        return removed
    }

    /// Ids as one bound value: a PostgreSQL array literal of integers.
    static func idArray(_ ids: [Int64]) -> PostgresValue {
        .text("{" + ids.map { String($0) }.joined(separator: ",") + "}")
    }

    /// A new job created earlier than one before it clears `created_in_order`.
    private func noteCreated(_ job: Job, _ batch: inout Batch) {
        guard job.id > writer.order.lastID else { return }
        if writer.order.inOrder && job.createdAt < writer.order.lastCreated {
            batch.append(("UPDATE meta SET value = 0 WHERE key = 'created_in_order'", []))
            writer.order.inOrder = false
        }
        writer.order.lastID = job.id
        writer.order.lastCreated = max(writer.order.lastCreated, job.createdAt)
    }

    /// Lines per INSERT: 5 parameters each, far below the protocol's 65535.
    private static let linesPerInsert = 1000

    /// Adds lines; past `maxBytes` the oldest go, down to three quarters of the
    /// budget (the same rule as `JobLog.append`), and the job counts them as dropped.
    private func appendLog(_ id: Int64, _ lines: [LogLine], _ maxBytes: Int, _ db: PostgresConnection) throws(PostgresError) {
        var added = 0
        var start = 0
        while start < lines.count {
            let chunk = lines[start..<min(start + Self.linesPerInsert, lines.count)]
            start += chunk.count
            var params: [PostgresValue] = []
            params.reserveCapacity(chunk.count * 5)
            var rows: [String] = []
            rows.reserveCapacity(chunk.count)
            for line in chunk {
                let n = params.count
                rows.append("($\(n + 1), $\(n + 2), $\(n + 3), $\(n + 4), $\(n + 5))")
                params += [.int(id), .int(Int64(line.seq)), .double(line.ts), .text(line.stream.rawValue), .bytes(line.text)]
                added += line.bytes
            }
            try db.run("""
                INSERT INTO job_logs (job_id, seq, ts, stream, line) VALUES \(rows.joined(separator: ", "))
                ON CONFLICT (job_id, seq) DO UPDATE SET ts = excluded.ts, stream = excluded.stream, line = excluded.line
                """, params)
        }
        let total = Int(try db.scalar("UPDATE jobs SET log_bytes = log_bytes + $1 WHERE id = $2 RETURNING log_bytes",
                                      [.int(Int64(added)), .int(id)]))
        guard total > maxBytes else { return }
        var freed = 0
        var cut = 0
        var lastSeq: Int64 = -1
        let kept = try db.run("SELECT seq, length(line) FROM job_logs WHERE job_id = $1 ORDER BY seq", [.int(id)])
        for r in 0..<kept.rows {
            guard total - freed > maxBytes * 3 / 4 else { break }
            freed += Int(kept.int(r, 1)) + 1
            cut += 1
            lastSeq = kept.int(r, 0)
        }
        try db.run("DELETE FROM job_logs WHERE job_id = $1 AND seq <= $2", [.int(id), .int(lastSeq)])
        try db.run("UPDATE jobs SET log_bytes = log_bytes - $1, log_dropped = log_dropped + $2 WHERE id = $3",
                   [.int(Int64(freed)), .int(Int64(cut)), .int(id)])
    }

    /// Ids are never reused: before rows leave, the next id is written down.
    private func rememberNextID(_ db: PostgresConnection) throws(PostgresError) {
        try db.execute("""
            UPDATE meta SET value = GREATEST(value, (SELECT COALESCE(MAX(id), 0) + 1 FROM jobs)) WHERE key = 'next_id'
            """)
    }

    // MARK: Reading

    static let columns = """
        id, type, params, status, progress_percent, progress_message, result, error, created_at, started_at, completed_at, sequence,
        queue, priority, run_at, attempt, max_attempts, timeout, backoff_initial, backoff_max, idempotency_key, errors, schedule, node
        """

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

    static func job(_ r: PostgresResult, _ i: Int) throws(PostgresError) -> Job {
        let params = (try? JSONValue.parse(r.text(i, 2)))?.objectValue ?? JSONObject()
        var job = Job(id: r.int(i, 0), type: r.text(i, 1), params: params, createdAt: r.double(i, 8))
        guard let status = JobStatus(rawValue: r.text(i, 3)) else {
            throw PostgresError(message: "job \(job.id) has an unknown status '\(r.text(i, 3))'", state: nil, connectionLost: false)
        }
        job.status = status
        job.progress = JobProgress(percent: Int(r.int(i, 4)), message: r.text(i, 5))
        job.result = r.optionalText(i, 6).flatMap { try? JSONValue.parse($0) }
        job.error = r.optionalText(i, 7)
        job.startedAt = r.optionalDouble(i, 9)
        job.completedAt = r.optionalDouble(i, 10)
        job.sequence = UInt64(r.int(i, 11))
        job.queue = r.text(i, 12)
        job.priority = Int(r.int(i, 13))
        job.runAt = r.optionalDouble(i, 14)
        job.attempt = Int(r.int(i, 15))
        job.maxAttempts = Int(r.int(i, 16))
        job.timeout = r.optionalDouble(i, 17)
        job.backoff = Backoff(initial: r.double(i, 18), max: r.double(i, 19))
        job.idempotencyKey = r.optionalText(i, 20)
        job.errors = errors(r.optionalText(i, 21))
        job.schedule = r.optionalText(i, 22)
        job.node = r.optionalText(i, 23)
        return job
    }

    /// Runs a read on a pooled connection, taken out of the pool for the duration
    /// so no lock is held while the server works. `snapshot` wraps it in one
    /// read-only repeatable-read transaction (several statements that must agree).
    /// A pooled connection the server dropped (it restarted) is replaced once.
    func read<R>(snapshot: Bool = false, _ body: (PostgresConnection) throws(PostgresError) -> R) throws(StoreError) -> R {
        var attempt = 0
        while true {
            attempt += 1
            let pooled = readers.withLock { $0.popLast() }
            do throws(PostgresError) {
                let box: ConnectionBox
                if let pooled { box = pooled } else { box = ConnectionBox(try PostgresConnection(url: url)) }
                let value = try Self.run(box.connection, snapshot: snapshot, body)
                readers.withLock { if !writes.isClosing && $0.count < 4 { $0.append(box) } }
                return value
            } catch {
                // A connection that failed is dropped (not returned to the pool).
                if error.connectionLost && pooled != nil && attempt == 1 { continue }
                throw StoreError("Storage unavailable: \(error.message)")
            }
        }
    }

    private static func run<R>(_ db: PostgresConnection, snapshot: Bool,
                               _ body: (PostgresConnection) throws(PostgresError) -> R) throws(PostgresError) -> R {
        guard snapshot else { return try body(db) }
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do throws(PostgresError) {
            let value = try body(db)
            try db.execute("COMMIT")
            return value
        } catch {
            if !error.connectionLost { _ = try? db.execute("ROLLBACK") }
            throw error
        }
    }
}

/// A reader connection handed between threads, used by one at a time.
///
/// `@unchecked Sendable`: a box is either in the pool (behind the store's mutex)
/// or checked out by exactly one thread.
final class ConnectionBox: @unchecked Sendable {
    let connection: PostgresConnection
    init(_ connection: PostgresConnection) { self.connection = connection }
}

/// The writer's connection, reconnected after a loss.
///
/// `@unchecked Sendable`: `init` hands it to the writer thread before that thread
/// starts; from then on only the writer thread uses it (`init` calls `prepare`
/// before starting the thread).
final class WriterConnection: @unchecked Sendable {
    private let url: String
    private let synchronousCommit: Bool
    /// This node's id (progress is written only while the job is still this node's).
    let node: String
    private var connection: PostgresConnection?
    typealias Order = (lastID: Int64, lastCreated: Double, inOrder: Bool)
    /// The newest job written and whether creation times are still in id order
    /// (as of the last commit, or of the one in flight).
    var order: Order = (lastID: 0, lastCreated: 0, inOrder: true)

    /// The node timeout: a transaction left open longer (this process frozen
    /// between its statements) is ended by the server, so its locks never hold
    /// up the other nodes (a rescue, the lease's take-over).
    private let idleTimeout: Double

    init(url: String, synchronousCommit: Bool, node: String, idleTimeout: Double, _ connection: PostgresConnection) {
        self.url = url
        self.synchronousCommit = synchronousCommit
        self.node = node
        self.idleTimeout = idleTimeout
        self.connection = connection
    }

    /// Session settings of the writer, on every (re)connect.
    func prepare(_ db: PostgresConnection) throws(PostgresError) {
        if !synchronousCommit { try db.execute("SET synchronous_commit = off") }
        try db.execute("SET idle_in_transaction_session_timeout = \(max(Int(idleTimeout * 1000), 100))")
    }

    /// The open connection, or a new one when the last was lost.
    func connected() throws(PostgresError) -> PostgresConnection {
        if let connection, !connection.isBroken { return connection }
        connection = nil
        let fresh = try PostgresConnection(url: url)
        try prepare(fresh)
        connection = fresh
        return fresh
    }

    func disconnect() { connection = nil }

    func release() { connection = nil }

    enum Outcome {
        case committed
        case aborted
        /// The server cannot tell yet (unreachable, or the transaction still open).
        case unknown(PostgresError)
    }

    /// What became of `transaction`, whose COMMIT went unanswered (`txid_status`).
    func outcome(_ transaction: Int64) -> Outcome {
        do throws(PostgresError) {
            let r = try connected().run("SELECT txid_status($1)", [.int(transaction)])
            switch r.optionalText(0, 0) {
            case "committed"?: return .committed
            case "in progress"?: return .unknown(PostgresError(message: "a commit is still in progress", state: nil, connectionLost: false))
            default: return .aborted
            }
        } catch {
            if error.connectionLost { disconnect() }
            return .unknown(error)
        }
    }
}
