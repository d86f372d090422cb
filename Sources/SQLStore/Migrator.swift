/// One schema version: the SQL that brings the version before it to this one
/// (a file of its own per version, in the store's `Migrations` folder).
public struct Migration<Connection: SQLConnection>: Sendable {
    public let version: Int
    public let sql: String
    /// What SQL alone cannot do, run after `sql` in the same transaction.
    public let then: (@Sendable (Connection) throws(SQLError) -> Void)?

    public init(_ version: Int, _ sql: String, then: (@Sendable (Connection) throws(SQLError) -> Void)? = nil) {
        self.version = version
        self.sql = sql
        self.then = then
    }
}

/// Applies the migrations a database lacks and records its new version; one
/// migrator for every store, the dialect's part given as SQL.
public struct Migrator<Connection: SQLConnection>: Sendable {
    /// Every version, oldest first (1, 2, ...).
    public let migrations: [Migration<Connection>]
    /// Reads the version a database is at (0: empty).
    let versionSQL: String
    /// Records `version` (an integer, never outside input), in its transaction.
    let record: @Sendable (Int) -> String
    /// Run first, in the transaction (PostgreSQL: the migration lock, the version table).
    let prelude: String?
    /// All versions in one transaction (DDL is transactional in PostgreSQL);
    /// otherwise one transaction per version (SQLite).
    let oneTransaction: Bool

    public init(_ migrations: [Migration<Connection>], versionSQL: String, record: @escaping @Sendable (Int) -> String,
                prelude: String? = nil, oneTransaction: Bool) {
        precondition(migrations.enumerated().allSatisfy { $0.offset + 1 == $0.element.version }, "migrations are numbered 1, 2, ...")
        self.migrations = migrations
        self.versionSQL = versionSQL
        self.record = record
        self.prelude = prelude
        self.oneTransaction = oneTransaction
    }

    /// The version this build writes; a newer database is refused.
    public var latest: Int { migrations.count }

    /// Brings the schema to `latest`; `finally` runs last, in the transaction,
    /// with the version found. Returns the version found.
    @discardableResult
    public func migrate(_ db: Connection, finally: ((Int) throws(SQLError) -> Void)? = nil) throws(SQLError) -> Int {
        if oneTransaction { try db.exec("BEGIN") }
        do throws(SQLError) {
            if let prelude { try db.exec(prelude) }
            let found = Int(try db.scalar(versionSQL))
            guard found <= latest else {
                throw SQLError(message: "its schema version \(found) is newer than this jobrunnerd supports (\(latest)); upgrade jobrunnerd",
                               state: nil, connectionLost: false)
            }
            for m in migrations where m.version > found {
                if !oneTransaction { try db.exec("BEGIN") }
                try db.exec(m.sql)
                try m.then?(db)
                try db.exec(record(m.version))
                if !oneTransaction { try db.exec("COMMIT") }
            }
            try finally?(found)
            if oneTransaction { try db.exec("COMMIT") }
            return found
        } catch {
            if !error.connectionLost { _ = try? db.exec("ROLLBACK") }
            throw error
        }
    }
}
