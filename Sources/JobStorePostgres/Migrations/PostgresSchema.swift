import SQLStore

/// The PostgreSQL schema, one file per version (PostgresV1.swift ...): every version a
/// database lacks runs in one transaction (DDL is transactional in PostgreSQL)
/// under the migration lock, so two daemons starting together on one database
/// do not race; the version is kept in `schema_version`. A newer one is refused.
enum PostgresSchema {
    /// Taken (for the transaction) by whoever migrates; "JobRunr" in ASCII.
    static let migrationLock: Int64 = 0x4A_6F62_5275_6E72

    static let migrator = Migrator<PostgresConnection>(
        [v1, v2, v3, v4, v5],
        versionSQL: "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        record: { "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (\($0))" },
        prelude: """
            SELECT pg_advisory_xact_lock(\(migrationLock));
            CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)
            """,
        oneTransaction: true)
    // Later versions add a file and their name here.

    /// Brings the schema to the latest version, then writes anew the words an
    /// older tokenizer cut (PostgresJobStore+Search.swift).
    static func migrate(_ db: PostgresConnection) throws(PostgresError) {
        try migrator.migrate(db) { (found: Int) throws(PostgresError) in
            try PostgresJobStore.refreshWords(db, fresh: found < 3)
        }
    }
}
