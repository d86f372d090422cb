import SQLStore

extension SQLiteSchema {
    /// Job logs, bounded per job: the bytes kept and the lines dropped.
    static let v2 = Migration<SQLiteConnection>(2, """
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
        """)
}
