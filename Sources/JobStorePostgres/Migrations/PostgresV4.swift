import SQLStore

extension PostgresSchema {
    /// Several nodes: who runs a job, ids from a sequence (never below any id
    /// handed out), the claim's order, and the nodes' heartbeats.
    static let v4 = Migration<PostgresConnection>(4, """
        ALTER TABLE jobs ADD COLUMN node TEXT;
        CREATE INDEX jobs_claim ON jobs (priority DESC, id) WHERE status = 'pending';
        CREATE INDEX jobs_running_node ON jobs (node) WHERE status = 'running';
        CREATE SEQUENCE job_ids;
        SELECT setval('job_ids', GREATEST((SELECT value FROM meta WHERE key = 'next_id'),
                                          (SELECT COALESCE(MAX(id), 0) + 1 FROM jobs)), false);
        CREATE TABLE nodes (
            id TEXT COLLATE "C" PRIMARY KEY,
            address TEXT NOT NULL DEFAULT '',
            pid BIGINT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            heartbeat_at DOUBLE PRECISION NOT NULL,
            leader BOOLEAN NOT NULL DEFAULT false
        );
        ALTER TABLE webhook_deliveries ADD COLUMN node TEXT;
        """)
}
