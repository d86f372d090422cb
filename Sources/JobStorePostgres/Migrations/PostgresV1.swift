import SQLStore

extension PostgresSchema {
    /// The SQLite schema at its version 4, in PostgreSQL's types. Names sort by
    /// byte ("C"), as in SQLite.
    static let v1 = Migration<PostgresConnection>(1, """
        CREATE TABLE jobs (
            id BIGINT PRIMARY KEY,
            type TEXT NOT NULL,
            params TEXT NOT NULL,
            status TEXT NOT NULL,
            progress_percent BIGINT NOT NULL,
            progress_message TEXT NOT NULL,
            result TEXT,
            error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION,
            completed_at DOUBLE PRECISION,
            sequence BIGINT NOT NULL,
            log_bytes BIGINT NOT NULL DEFAULT 0,
            log_dropped BIGINT NOT NULL DEFAULT 0,
            queue TEXT NOT NULL DEFAULT 'default',
            priority BIGINT NOT NULL DEFAULT 0,
            run_at DOUBLE PRECISION,
            attempt BIGINT NOT NULL DEFAULT 1,
            max_attempts BIGINT NOT NULL DEFAULT 1,
            timeout DOUBLE PRECISION,
            backoff_initial DOUBLE PRECISION NOT NULL DEFAULT 1,
            backoff_max DOUBLE PRECISION NOT NULL DEFAULT 3600,
            idempotency_key TEXT,
            errors TEXT,
            schedule TEXT
        );
        CREATE INDEX jobs_status ON jobs(status, id);
        CREATE INDEX jobs_type ON jobs(type, id);
        CREATE INDEX jobs_idempotency_key ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_queue ON jobs(queue, status);
        CREATE INDEX jobs_schedule ON jobs(schedule, id) WHERE schedule IS NOT NULL;
        CREATE TABLE job_logs (
            job_id BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            stream TEXT NOT NULL,
            line BYTEA NOT NULL,
            PRIMARY KEY (job_id, seq)
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
        INSERT INTO meta (key, value) VALUES ('next_id', 1);
        CREATE TABLE queues (name TEXT COLLATE "C" PRIMARY KEY, concurrency BIGINT, paused BOOLEAN NOT NULL DEFAULT false);
        CREATE TABLE schedules (name TEXT COLLATE "C" PRIMARY KEY, body TEXT NOT NULL);
        """)
}
