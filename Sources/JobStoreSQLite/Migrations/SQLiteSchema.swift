import SQLStore

/// The SQLite schema, one file per version (SQLiteV1.swift ...): each version's SQL
/// runs in a transaction of its own, which also records the version in
/// `PRAGMA user_version`. A newer file is refused.
enum SQLiteSchema {
    static let migrator = Migrator<SQLiteConnection>(
        [v1, v2, v3, v4, v5, v6],
        versionSQL: "PRAGMA user_version",
        record: { "PRAGMA user_version = \($0)" },
        oneTransaction: false)
    // Later versions add a file and their name here.
}
