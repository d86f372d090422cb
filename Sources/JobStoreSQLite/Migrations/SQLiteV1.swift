import SQLStore

extension SQLiteSchema {
    /// Jobs, and the next id.
    static let v1 = Migration<SQLiteConnection>(1, """
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
        """)
}
