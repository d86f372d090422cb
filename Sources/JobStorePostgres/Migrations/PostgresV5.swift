import SQLStore

extension PostgresSchema {
    /// The leader's lease (PostgresLease.swift), in place of a session lock
    /// that a frozen leader kept: one row, its epoch the fencing token of every
    /// leader chore. Who leads is read from it.
    static let v5 = Migration<PostgresConnection>(5, """
        CREATE TABLE leader_lease (
            id SMALLINT PRIMARY KEY CHECK (id = 1),
            node TEXT NOT NULL,
            epoch BIGINT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        );
        ALTER TABLE nodes DROP COLUMN leader;
        """)
}
