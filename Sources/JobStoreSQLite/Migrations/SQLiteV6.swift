import SQLStore

extension SQLiteSchema {
    /// Webhooks: the outbox (SQLiteJobStore+Webhooks.swift). A delivery is
    /// written in the transaction of the transition it reports.
    static let v6 = Migration<SQLiteConnection>(6, """
        CREATE TABLE webhook_deliveries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            delivery_id TEXT NOT NULL,
            url TEXT NOT NULL,
            event TEXT NOT NULL,
            job_id INTEGER,
            schedule TEXT,
            created_at REAL NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            last_attempt_at REAL,
            last_http_status INTEGER,
            last_error TEXT
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries(url, next_attempt_at) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_done ON webhook_deliveries(seq) WHERE status != 'pending';
        """)
}
