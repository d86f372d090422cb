import SQLStore

extension PostgresSchema {
    /// History at scale (PostgresJobStore+Search.swift): every job's words for
    /// text search (written here for the jobs already stored, before the index
    /// exists), and the creation time for time ranges.
    static let v3 = Migration<PostgresConnection>(3, "ALTER TABLE jobs ADD COLUMN words TSVECTOR NOT NULL DEFAULT ''") { db throws(PostgresError) in
        try PostgresJobStore.fillWords(db)
        try db.exec("""
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
}
