import JobQueue
@testable import JobStoreSQLite
import SQLStore
import Testing

/// The shared SQL core's own parts, on an in-memory SQLite connection: the
/// migrator, the dialect's placeholders, the created-in-order bookkeeping.
@Suite(.timeLimit(.minutes(10))) struct SQLCoreTests {
    static let userVersion = (versionSQL: "PRAGMA user_version", record: { @Sendable (v: Int) in "PRAGMA user_version = \(v)" })
    static let v1 = Migration<SQLiteConnection>(1, "CREATE TABLE a (x INTEGER)")
    static let v2 = Migration<SQLiteConnection>(2, "ALTER TABLE a ADD COLUMN y INTEGER") { db throws(SQLError) in
        try db.exec("INSERT INTO a (x, y) VALUES (1, 2)")
    }

    func migrator(_ migrations: [Migration<SQLiteConnection>], oneTransaction: Bool = false) -> Migrator<SQLiteConnection> {
        Migrator(migrations, versionSQL: Self.userVersion.versionSQL, record: Self.userVersion.record, oneTransaction: oneTransaction)
    }

    @Test func theMigratorRunsOnlyTheMissingVersionsAndRecordsEach() throws {
        let db = try SQLiteConnection(path: ":memory:")
        #expect(try migrator([Self.v1]).migrate(db) == 0)
        #expect(try db.scalar("PRAGMA user_version") == 1)
        // Version 1 is not run again (its CREATE TABLE would fail); version 2's SQL and its code run.
        #expect(try migrator([Self.v1, Self.v2]).migrate(db) == 1)
        #expect(try db.scalar("PRAGMA user_version") == 2)
        #expect(try db.scalar("SELECT y FROM a WHERE x = 1") == 2)
        #expect(try migrator([Self.v1, Self.v2]).migrate(db) == 2)
        #expect(try db.scalar("SELECT COUNT(*) FROM a") == 1)
    }

    @Test func aNewerDatabaseIsRefusedAndLeftAsItIs() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try migrator([Self.v1, Self.v2]).migrate(db)
        #expect {
            try migrator([Self.v1]).migrate(db)
        } throws: { error in
            (error as? SQLError)?.message == "its schema version 2 is newer than this jobrunnerd supports (1); upgrade jobrunnerd"
        }
        #expect(try db.scalar("PRAGMA user_version") == 2)
    }

    /// One transaction per version: a version that fails leaves the database
    /// at the version before it, with nothing of the failed one.
    @Test func aFailingVersionLeavesTheVersionBeforeIt() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let broken = Migration<SQLiteConnection>(2, "ALTER TABLE a ADD COLUMN y INTEGER; CREATE TABLE broken (")
        #expect(throws: SQLError.self) { try migrator([Self.v1, broken]).migrate(db) }
        #expect(try db.scalar("PRAGMA user_version") == 1)
        #expect(try db.scalar("SELECT COUNT(*) FROM pragma_table_info('a') WHERE name = 'y'") == 0)
    }

    /// All versions in one transaction (as PostgreSQL migrates): a failure
    /// anywhere leaves nothing, not even the first version.
    @Test func inOneTransactionAFailureLeavesNothing() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let broken = Migration<SQLiteConnection>(2, "CREATE TABLE broken (")
        let m = Migrator([Self.v1, broken], versionSQL: "SELECT COALESCE(MAX(v), 0) FROM version",
                         record: { "DELETE FROM version; INSERT INTO version (v) VALUES (\($0))" },
                         prelude: "CREATE TABLE IF NOT EXISTS version (v INTEGER)", oneTransaction: true)
        #expect(throws: SQLError.self) { try m.migrate(db) }
        #expect(try db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('a', 'version')") == 0)
        try Migrator([Self.v1], versionSQL: "SELECT COALESCE(MAX(v), 0) FROM version",
                     record: { "DELETE FROM version; INSERT INTO version (v) VALUES (\($0))" },
                     prelude: "CREATE TABLE IF NOT EXISTS version (v INTEGER)", oneTransaction: true).migrate(db)
        #expect(try db.scalar("SELECT v FROM version") == 1)
    }

    @Test func placeholdersAreNumberedForPostgreSQLAndKeptForSQLite() {
        let numbered = SQLDialect(numberedPlaceholders: true, snapshot: nil, noLimit: .null)
        #expect(numbered.sql("SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?") == "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4")
        #expect(numbered.sql("SELECT 1") == "SELECT 1")
        #expect(SQLiteConnection.dialect.sql("b = ? AND c = ?") == "b = ? AND c = ?")
    }

    /// A job created earlier than one before it (a clock set back) clears the
    /// flag that lets time ranges become id ranges; later jobs do not set it again.
    @Test func creationTimesStayInOrderUntilAJobGoesBack() {
        var order = CreatedOrder()
        var broke: [Bool] = []
        for (id, created) in [(1, 10.0), (2, 10), (1, 1), (3, 5), (4, 1)] as [(Int64, Double)] {
            broke.append(order.note(Job(id: id, type: "t", params: [:], createdAt: created)))
        }
        // Only job 3 breaks the order (job 1's second write is an update of an older job).
        #expect(broke == [false, false, false, true, false])
        #expect(!order.inOrder && order.lastID == 4 && order.lastCreated == 10)
    }
}
