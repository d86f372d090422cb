import Essentials
import JobQueue

/// The leader's lease: one row (`leader_lease`) naming the node that leads, the
/// lease's epoch and when it expires (the server's clock). The leader renews it
/// with each heartbeat; a leader that has not renewed it within the node
/// timeout (frozen, cut off, dead) has lost it, and the next node to beat takes
/// it with the epoch one higher. Every leader chore commits only while the epoch
/// it was decided under is still the lease's (`StoreOp.fence`), so a deposed
/// leader that wakes up and acts on what it last knew changes nothing.
///
/// Only the cluster's thread calls these, on its own connection.
enum LeaderLease {
    /// Takes the lease if nobody holds it, it expired, or this node holds it
    /// already (a restart, a lost connection): its epoch, or nil. The epoch
    /// goes up when the lease changes hands; a node that takes back its own
    /// keeps it (nobody led in between, so what it decided still holds: a
    /// schedule's firing retried after the connection came back).
    static func acquire(_ db: PostgresConnection, node: String, seconds: Double) throws(PostgresError) -> Int64? {
        let r = try db.run("""
            INSERT INTO leader_lease (id, node, epoch, expires_at)
            VALUES (1, $1, 1, extract(epoch from clock_timestamp()) + $2)
            ON CONFLICT (id) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at,
                epoch = leader_lease.epoch + CASE WHEN leader_lease.node = excluded.node THEN 0 ELSE 1 END
            WHERE leader_lease.expires_at < extract(epoch from clock_timestamp()) OR leader_lease.node = excluded.node
            RETURNING epoch
            """, [.text(node), .double(seconds)])
        return r.rows > 0 ? r.int(0, 0) : nil
    }

    /// Extends the lease held under `epoch`; false when it was taken over.
    static func renew(_ db: PostgresConnection, node: String, epoch: Int64, seconds: Double) throws(PostgresError) -> Bool {
        try db.run("""
            UPDATE leader_lease SET expires_at = extract(epoch from clock_timestamp()) + $3
            WHERE id = 1 AND node = $1 AND epoch = $2
            """, [.text(node), .int(epoch), .double(seconds)]).affected > 0
    }

    /// Gives the lease up (a clean stop): the next node to beat leads.
    static func resign(_ db: PostgresConnection, node: String, epoch: Int64) throws(PostgresError) {
        try db.run("DELETE FROM leader_lease WHERE id = 1 AND node = $1 AND epoch = $2", [.text(node), .int(epoch)])
    }

    /// Whether `epoch` is still the lease's and this node's; the row stays
    /// locked (shared) until the transaction ends, so no node takes the lease
    /// over before the chore that checked it is committed.
    static func holds(_ db: PostgresConnection, node: String, epoch: Int64) throws(PostgresError) -> Bool {
        try db.run("SELECT 1 FROM leader_lease WHERE id = 1 AND node = $1 AND epoch = $2 FOR SHARE",
                   [.text(node), .int(epoch)]).rows > 0
    }

    /// SQL true for the node leading now (an unexpired lease), for `nodes n`.
    static let leadsNow = """
        n.id = (SELECT node FROM leader_lease WHERE id = 1 AND expires_at >= extract(epoch from clock_timestamp()))
        """
}
