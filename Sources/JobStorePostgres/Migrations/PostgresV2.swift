import SQLStore

extension PostgresSchema {
    /// Webhooks: the outbox (PostgresJobStore+Webhooks.swift), as SQLite's
    /// version 6. A delivery is written in the transaction of the transition it reports.
    static let v2 = Migration<PostgresConnection>(2, """
        CREATE TABLE webhook_deliveries (
            seq BIGSERIAL PRIMARY KEY,
            delivery_id TEXT NOT NULL,
            url TEXT NOT NULL,
            event TEXT NOT NULL,
            job_id BIGINT,
            schedule TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts BIGINT NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION,
            last_attempt_at DOUBLE PRECISION,
            last_http_status BIGINT,
            last_error TEXT
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries(url, next_attempt_at, seq) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_done ON webhook_deliveries(seq) WHERE status != 'pending';
        """)
}
