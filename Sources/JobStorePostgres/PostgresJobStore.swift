import Dispatch
import Essentials
import Glibc
import JSON
import JobQueue
import SQLStore
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
    public static let schemaVersion = PostgresSchema.migrator.latest
    /// The notification channel every node listens on.
    static let channel = "jobrunner"

    static let table = JobTable(node: true)

    /// Submissions, closing and the failure state, shared with the writer thread.
    let writes = StoreWriteQueue()

    private let url: String
    /// The URL with its password masked, for logs and errors.
    public let displayURL: String
    let readers: ReaderPool<PostgresConnection>
    private let finished = DispatchSemaphore(value: 0)
    let writer: WriterConnection
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
            try PostgresSchema.migrate(connection)
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
            writer.order = try CreatedOrder(connection)
        } catch {
            throw StoreError("cannot use database \(displayURL): \(error.operatorMessage)")
        }
        self.writer = writer
        readers = ReaderPool(capacity: 4, writes: writes) { () throws(PostgresError) in try PostgresConnection(url: url) }
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

    // MARK: JobStore

    public func load(recentFinished: Int) throws(StoreError) -> StoreSnapshot {
        // One snapshot for every statement: counts agree with the rows.
        try readers.read(snapshot: true) { db throws(PostgresError) in try db.load(Self.table, recentFinished: recentFinished) }
    }

    public func submit(_ ops: [StoreOp], retry: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        writes.submit(ops, retry: retry, completion: completion)
    }

    public var failure: StoreError? { writes.failure }

    public func onBatchDone(_ action: @escaping @Sendable () -> Void) { writes.onBatchDone(action) }

    public func onFailureChange(_ action: @escaping @Sendable (StoreError?) -> Void) { writes.onFailureChange(action) }

    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try readers.read { db throws(PostgresError) in try db.jobs(Self.table, "id = ?", [.int(id)]).first }
    }

    public func job(idempotencyKey key: String) throws(StoreError) -> Job? {
        try readers.read { db throws(PostgresError) in try db.jobs(Self.table, "idempotency_key = ? LIMIT 1", [.text(key)]).first }
    }

    public func log(_ id: Int64, after seq: UInt64, limit: Int?) throws(StoreError) -> JobLog? {
        try readers.read(snapshot: true) { db throws(PostgresError) in try db.log(id, after: seq, limit: limit) }
    }

    public func query(_ query: JobQuery) throws(StoreError) -> JobPage {
        try page(query)
    }

    public func close() {
        guard writes.beginClosing() else { return }
        finished.wait()
        readers.drain()
        cluster.close()
    }

    // MARK: ClusterStore

    public func takeIDs(_ count: Int) throws(StoreError) -> [Int64] {
        // One round trip for `count` ids; nodes asking at once get distinct
        // (interleaved) ids, never the same one.
        try readers.read { db throws(PostgresError) in
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
        return try readers.read { db throws(PostgresError) in try db.jobs(Self.table, "id = ANY(?::bigint[]) ORDER BY id", [Self.idArray(ids)]) }
    }

    // MARK: The writer

    private func runWriter() {
        WriterLoop(writes: writes, metrics: nil, commit: commit, outcome: writer.outcome).run()
        writer.release()
        finished.signal()
    }

    /// One transaction for every op of `entries`.
    private func commit(_ entries: [StoreWriteQueue.Entry]) -> CommitResult {
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
            return .inDoubt(transaction: transaction, conflicts: conflicts, undo: { [writer] in writer.order = order }, error)
        }
    }
}
