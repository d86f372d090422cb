import SQLStore

extension SQLiteSchema {
    /// Dependable jobs: queue, priority, run_at, attempts, timeout, backoff,
    /// idempotency key, attempt errors; named queues' settings.
    static let v3 = Migration<SQLiteConnection>(3, """
        ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
        ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN run_at REAL;
        ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE jobs ADD COLUMN timeout REAL;
        ALTER TABLE jobs ADD COLUMN backoff_initial REAL NOT NULL DEFAULT 1;
        ALTER TABLE jobs ADD COLUMN backoff_max REAL NOT NULL DEFAULT 3600;
        ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
        ALTER TABLE jobs ADD COLUMN errors TEXT;
        CREATE INDEX jobs_idempotency_key ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_queue ON jobs(queue, status);
        CREATE TABLE queues (name TEXT PRIMARY KEY, concurrency INTEGER, paused INTEGER NOT NULL DEFAULT 0);
        """)
}
