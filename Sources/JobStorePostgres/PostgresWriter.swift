import JobQueue
import SQLStore

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
    /// The newest job written and whether creation times are still in id order.
    var order = CreatedOrder()

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

    /// What became of `transaction`, whose COMMIT went unanswered (`txid_status`).
    func outcome(_ transaction: Int64) -> DoubtOutcome {
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

extension PostgresJobStore {
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
}

/// Statements whose answer is not needed join the pipeline.
extension PostgresJobStore.Batch: StatementSink {
    mutating func send(_ sql: String, _ params: [SQLValue], _ db: PostgresConnection) {
        append((PostgresConnection.dialect.sql(sql), params))
    }
}
