import CEpoll
import Dispatch
import Essentials
import Glibc
import JSON
import JobQueue
import SQLStore
import Synchronization

/// This node's part in a shared database, on a connection and thread of its own:
/// it holds the node id's lock (a second daemon with the same id is refused),
/// writes the heartbeat every `timeout / 10` seconds (0.1–3 s), listens for the
/// other nodes' notifications and reads what they name, and with each heartbeat
/// renews the leader's lease it holds or takes the lease once it has expired
/// (PostgresLease.swift). The leader hears of nodes silent for longer than
/// `timeout`. Times in the database are the server's clock, so the nodes'
/// clocks may differ.
public final class PostgresCluster: Sendable {
    public let nodeID: String
    public let timeout: Double
    let heartbeat: Double
    private let url: String

    /// The node lock's first key ("JobN").
    static let nodeLockClass: Int32 = 0x4A6F_624E

    private struct State {
        var address: String
        /// The lease's epoch while this node holds it, and until when (this
        /// process's monotonic clock) it holds it at least: a lease not renewed
        /// in time (this process was frozen) counts as lost here at once, before
        /// the database says so.
        var epoch: Int64?
        var leaseUntil = 0.0
        var alone = true
        var remote: [@Sendable (RemoteChange) -> Void] = []
        var silent: [@Sendable ([String]) -> Void] = []
        var leadership: [@Sendable (Bool) -> Void] = []
    }
    private let state: Mutex<State>
    /// The connection, used by `init` and then only by the cluster's thread.
    private let link: LinkBox
    /// An eventfd (close-on-exec from the start: a job spawned meanwhile never
    /// inherits it): `close()` signals it to wake the thread's `poll`.
    private let wakeFD: Int32
    private let stopped = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(false)

    /// `HOST:PORT` (the port as configured, also 0): the same after a restart,
    /// so a restarted node finds its own interrupted jobs at once. Without a
    /// port (tests): `HOST:pidPID`.
    public static func defaultNodeID(port: Int?) -> String {
        let safe = String(hostName().unicodeScalars.filter(Self.allowed).prefix(40))
        if let port { return "\(safe.isEmpty ? "node" : safe):\(port)" }
        return "\(safe.isEmpty ? "node" : safe):pid\(getpid())"
    }

    static func allowed(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == ":" || c == "-"
    }

    /// Why a node id cannot be used, or nil when it can.
    public static func invalidNodeID(_ id: String) -> String? {
        if id.isEmpty || id.unicodeScalars.count > 64 || !id.unicodeScalars.allSatisfy(allowed) {
            return "a node id is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
        }
        return nil
    }

    init(url: String, nodeID: String, timeout: Double, address: String) throws(PostgresError) {
        if let problem = Self.invalidNodeID(nodeID) {
            throw PostgresError(message: "invalid node id '\(nodeID)': \(problem)", state: nil, connectionLost: false)
        }
        self.url = url
        self.nodeID = nodeID
        self.timeout = max(timeout, 0.2)
        heartbeat = min(max(timeout / 10, 0.1), 3)
        state = Mutex(State(address: address))
        let db = try PostgresConnection(url: url)
        try Self.join(db, nodeID: nodeID, address: address, refuse: true, lockTimeout: heartbeat)
        // The first node leads from its start (schedules made at start fire).
        let asked = monotonicNow()
        if let epoch = try LeaderLease.acquire(db, node: nodeID, seconds: self.timeout) {
            let until = asked + self.timeout
            state.withLock { s in
                s.epoch = epoch
                s.leaseUntil = until
            }
        }
        link = LinkBox(db)
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeFD >= 0 else {
            throw PostgresError(message: "cannot make an eventfd: \(String(cString: strerror(errno)))", state: nil, connectionLost: false)
        }
    }

    /// Takes the node id's lock, writes the node's row and listens.
    /// A statement waits at most `lockTimeout` seconds for a lock (the lease's
    /// row held by a node's transaction): the thread goes on beating, and the
    /// next heartbeat tries again.
    private static func join(_ db: PostgresConnection, nodeID: String, address: String, refuse: Bool,
                             lockTimeout: Double) throws(PostgresError) {
        try db.execute("SET lock_timeout = \(max(Int(lockTimeout * 1000), 100))")
        // A node killed a moment ago holds its lock until the server sees its
        // connection closed: its restart waits up to 2 s for that.
        let deadline = monotonicNow() + 2
        var locked = false
        while true {
            locked = try db.run("SELECT pg_try_advisory_lock($1, hashtext($2))", [.int(Int64(nodeLockClass)), .text(nodeID)]).bool(0, 0)
            if locked || monotonicNow() >= deadline { break }
            usleep(50_000)
        }
        guard locked else {
            throw PostgresError(message: "node id '\(nodeID)' is in use by another running jobrunnerd on this database; give each node its own --node-id",
                                state: nil, connectionLost: false)
        }
        try db.run("""
            INSERT INTO nodes (id, address, pid, started_at, heartbeat_at)
            VALUES ($1, $2, $3, extract(epoch from clock_timestamp()), extract(epoch from clock_timestamp()))
            ON CONFLICT (id) DO UPDATE SET address = excluded.address, pid = excluded.pid,
                started_at = CASE WHEN \(refuse ? "true" : "false") THEN excluded.started_at ELSE nodes.started_at END,
                heartbeat_at = excluded.heartbeat_at
            """, [.text(nodeID), .text(address), .int(Int64(getpid()))])
        try db.execute("LISTEN \(PostgresJobStore.channel)")
    }

    deinit {
        Glibc.close(wakeFD)
    }

    func start() throws(ThreadLaunchError) {
        running.store(true, ordering: .sequentiallyConsistent)
        try ThreadLauncher.detached(name: "cluster") { [self] in
            loop()
            stopped.signal()
        }
    }

    /// Stops the thread; the node's row is deleted (a clean stop is not a silence).
    func close() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        stopped.wait()
    }

    public var isLeader: Bool { leaderEpoch != nil }

    /// The lease's epoch while this node holds it (and has renewed it within
    /// the timeout), else nil.
    public var leaderEpoch: Int64? {
        let now = monotonicNow()
        return state.withLock { s in now < s.leaseUntil ? s.epoch : nil }
    }

    public var isAlone: Bool { state.withLock { $0.alone } }

    /// The address other nodes and users reach this one at (set once bound).
    public func setAddress(_ address: String) {
        state.withLock { $0.address = address }
    }

    public func onRemoteChange(_ action: @escaping @Sendable (RemoteChange) -> Void) {
        state.withLock { $0.remote.append(action) }
    }

    /// Called on the cluster's thread, while this node leads, with the nodes
    /// silent for longer than `timeout` (at each heartbeat until their row goes).
    public func onSilentNodes(_ action: @escaping @Sendable ([String]) -> Void) {
        state.withLock { $0.silent.append(action) }
    }

    /// Called when this node becomes the leader (true) or stops being it (false).
    public func onLeadership(_ action: @escaping @Sendable (Bool) -> Void) {
        state.withLock { $0.leadership.append(action) }
    }

    // MARK: The thread

    private func loop() {
        var db: PostgresConnection? = link.connection
        link.connection = nil
        var nextBeat = 0.0
        /// When the connection was lost (epoch seconds): what changed since is read again.
        var lostAt: Double?
        while running.load(ordering: .sequentiallyConsistent) {
            let now = monotonicNow()
            if db == nil || db!.isBroken {
                setLease(nil)
                db = nil
                if lostAt == nil { lostAt = epochNow() }
                if now >= nextBeat {
                    nextBeat = now + heartbeat
                    if let fresh = try? PostgresConnection(url: url),
                       (try? Self.join(fresh, nodeID: nodeID, address: state.withLock { $0.address }, refuse: false,
                                       lockTimeout: heartbeat)) != nil {
                        db = fresh
                        nextBeat = 0
                        // What other nodes did meanwhile was not heard: read it again
                        // (30 s of margin for the nodes' clocks).
                        try? refresh(fresh, since: (lostAt ?? 0) - 30)
                        lostAt = nil
                    }
                }
                if db == nil {
                    wait(fd: -1, seconds: max(0.01, nextBeat - now))
                    continue
                }
            }
            guard let conn = db else { continue }
            do throws(PostgresError) {
                if monotonicNow() >= nextBeat {
                    nextBeat = monotonicNow() + heartbeat
                    try beat(conn)
                }
                // Notifications that came in with the heartbeat's answers are
                // already read from the socket: take them before waiting.
                var arrived = try conn.notifications()
                if arrived.isEmpty && wait(fd: conn.socket, seconds: max(0.001, nextBeat - monotonicNow())) {
                    arrived = try conn.notifications()
                }
                if !arrived.isEmpty { try receive(arrived, conn) }
            } catch {
                if error.connectionLost || conn.isBroken { db = nil }
            }
        }
        if let conn = db, !conn.isBroken {
            // A clean stop hands the lease on at once (the next node to beat leads).
            if let epoch = state.withLock({ $0.epoch }) { try? LeaderLease.resign(conn, node: nodeID, epoch: epoch) }
            _ = try? conn.run("DELETE FROM nodes WHERE id = $1", [.text(nodeID)])
        }
        setLease(nil)
    }

    /// Waits until `fd` is readable (true), the wake-up is signalled or `seconds` pass.
    @discardableResult
    private func wait(fd: Int32, seconds: Double) -> Bool {
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        let n = poll(&fds, fd >= 0 ? 2 : 1, Int32(min(seconds, 60) * 1000) + 1)
        return n > 0 && fd >= 0 && fds[1].revents != 0
    }

    /// Records the lease held (its epoch, renewed at `asked` on the monotonic
    /// clock) or lost (nil); observers hear when leading starts or ends.
    /// A lease that had lapsed here and is renewed counts as leading anew (the
    /// schedules are looked at again).
    private func setLease(_ epoch: Int64?, asked: Double = 0) {
        let now = monotonicNow()
        let until = asked + timeout
        let (observers, leads) = state.withLock { s -> ([@Sendable (Bool) -> Void], Bool) in
            let was = s.epoch != nil && now < s.leaseUntil
            s.epoch = epoch
            s.leaseUntil = epoch == nil ? 0 : until
            let leads = epoch != nil && now < s.leaseUntil
            return (was == leads ? [] : s.leadership, leads)
        }
        for o in observers { o(leads) }
    }

    /// The heartbeat; the leader's lease (renewed, or taken once expired); the
    /// leader's look for silent nodes.
    private func beat(_ db: PostgresConnection) throws(PostgresError) {
        let asked = monotonicNow()
        let address = state.withLock { $0.address }
        let r = try db.run("""
            UPDATE nodes SET heartbeat_at = extract(epoch from clock_timestamp()), address = $2, pid = $3 WHERE id = $1
            """, [.text(nodeID), .text(address), .int(Int64(getpid()))])
        if r.affected == 0 {
            // Our row was removed (we were silent too long and were rescued): back in.
            try db.run("""
                INSERT INTO nodes (id, address, pid, started_at, heartbeat_at)
                VALUES ($1, $2, $3, extract(epoch from clock_timestamp()), extract(epoch from clock_timestamp()))
                ON CONFLICT (id) DO NOTHING
                """, [.text(nodeID), .text(address), .int(Int64(getpid()))])
        }
        let others = try db.scalar("SELECT COUNT(*) FROM nodes WHERE id <> $1 AND heartbeat_at >= extract(epoch from clock_timestamp()) - $2",
                                   [.text(nodeID), .double(timeout)])
        state.withLock { $0.alone = others == 0 }
        if let held = state.withLock({ $0.epoch }) {
            if try LeaderLease.renew(db, node: nodeID, epoch: held, seconds: timeout) {
                setLease(held, asked: asked)
            } else {
                // Taken over (this node was silent too long): no more leader work.
                setLease(nil)
            }
        }
        if state.withLock({ $0.epoch == nil }) {
            guard let epoch = try LeaderLease.acquire(db, node: nodeID, seconds: timeout) else { return }
            setLease(epoch, asked: asked)
        }
        guard let epoch = leaderEpoch else { return }
        let silent = try db.run("""
            SELECT id FROM nodes WHERE id <> $1 AND heartbeat_at < extract(epoch from clock_timestamp()) - $2 ORDER BY id
            """, [.text(nodeID), .double(timeout)])
        guard silent.rows > 0 else { return }
        let ids = (0..<silent.rows).map { silent.text($0, 0) }
        for o in state.withLock({ $0.silent }) { o(ids) }
        // A silent node's row goes once none of its jobs is left running (while
        // this node still holds the lease).
        try db.run("""
            DELETE FROM nodes n WHERE id = ANY($1::text[]) AND heartbeat_at < extract(epoch from clock_timestamp()) - $2
              AND NOT EXISTS (SELECT 1 FROM jobs WHERE status = 'running' AND node = n.id)
              AND EXISTS (SELECT 1 FROM leader_lease WHERE id = 1 AND node = $3 AND epoch = $4)
            """, [PostgresJobStore.textArray(ids), .double(timeout), .text(nodeID), .int(epoch)])
    }

    /// Every pending and running job, and those made or ended since `since`, for
    /// a node that may have missed notifications.
    private func refresh(_ db: PostgresConnection, since: Double) throws(PostgresError) {
        var change = RemoteChange()
        change.refreshed = true
        change.jobs = try db.jobs(PostgresJobStore.table, "status IN ('pending','running') OR created_at >= ? OR completed_at >= ? ORDER BY id",
                                  [.double(since), .double(since)])
        for o in state.withLock({ $0.remote }) { o(change) }
    }

    /// Reads what the other nodes' notifications name and hands it on.
    private func receive(_ arrived: [(channel: String, payload: String)], _ db: PostgresConnection) throws(PostgresError) {
        var notes = Notes()
        for n in arrived {
            let (node, parsed) = Notes.parse(n.payload)
            guard node != nodeID else { continue }
            notes.jobs.formUnion(parsed.jobs)
            notes.deleted += parsed.deleted
            notes.cleared = notes.cleared || parsed.cleared
            notes.logs += parsed.logs
            notes.queues.formUnion(parsed.queues)
            notes.schedules.formUnion(parsed.schedules)
        }
        var change = RemoteChange()
        change.deleted = notes.deleted
        change.cleared = notes.cleared
        if !notes.jobs.isEmpty {
            change.jobs = try db.jobs(PostgresJobStore.table, "id = ANY(?::bigint[]) ORDER BY id", [PostgresJobStore.idArray(notes.jobs.sorted())])
        }
        for l in notes.logs {
            let r = try db.run("SELECT seq, ts, stream, line FROM job_logs WHERE job_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                               [.int(l.id), .int(Int64(clamping: l.first)), .int(Int64(clamping: l.last))])
            for i in 0..<r.rows {
                change.logs[l.id, default: []].append(LogLine(seq: UInt64(r.int(i, 0)), ts: r.double(i, 1),
                                                              stream: LogStream(rawValue: r.text(i, 2)) ?? .stdout, text: r.bytes(i, 3)))
            }
        }
        for name in notes.queues {
            let r = try db.run("SELECT concurrency, paused FROM queues WHERE name = $1", [.text(name)])
            change.queues[name] = r.rows == 0 ? QueueSettings()
                : QueueSettings(concurrency: r.optionalText(0, 0).flatMap { Int($0) }, paused: r.bool(0, 1))
        }
        for name in notes.schedules {
            let r = try db.run("SELECT body FROM schedules WHERE name = $1", [.text(name)])
            let schedule = r.rows == 0 ? nil : (try? JSONValue.parse(Array(r.text(0, 0).utf8))).flatMap { Schedule(stored: $0) }
            change.schedules[name] = .some(schedule)
        }
        guard !change.jobs.isEmpty || !change.deleted.isEmpty || change.cleared || !change.logs.isEmpty || !change.queues.isEmpty
                || !change.schedules.isEmpty else { return }
        for o in state.withLock({ $0.remote }) { o(change) }
    }
}

/// The connection `init` opened, handed to the cluster's thread.
///
/// `@unchecked Sendable`: `init` sets it before the thread starts, and from then
/// on only the thread touches it.
final class LinkBox: @unchecked Sendable {
    var connection: PostgresConnection?
    init(_ connection: PostgresConnection) { self.connection = connection }
}

extension PostgresJobStore {
    /// The address users reach this node at (once bound), written at once so
    /// `GET /api/nodes` shows it from the first request.
    public func setAddress(_ address: String) {
        cluster.setAddress(address)
        _ = try? readers.read { db throws(PostgresError) in
            try db.run("UPDATE nodes SET address = $2 WHERE id = $1", [.text(nodeID), .text(address)])
        }
    }

    /// Every node the database knows, with its running jobs and whether it is
    /// alive (a heartbeat within the timeout) — by the server's clock.
    public func nodes() throws(StoreError) -> [NodeInfo] {
        let timeout = cluster.timeout
        return try readers.read { db throws(PostgresError) in
            let r = try db.run("""
                SELECT n.id, n.address, n.pid, n.started_at, n.heartbeat_at, \(LeaderLease.leadsNow),
                       n.heartbeat_at >= extract(epoch from clock_timestamp()) - $1,
                       (SELECT COUNT(*) FROM jobs WHERE status = 'running' AND node = n.id)
                FROM nodes n ORDER BY n.id
                """, [.double(timeout)])
            return (0..<r.rows).map { i in
                NodeInfo(id: r.text(i, 0), address: r.text(i, 1), pid: r.int(i, 2), startedAt: r.double(i, 3),
                         heartbeatAt: r.double(i, 4), running: Int(r.int(i, 7)), leader: r.bool(i, 5) && r.bool(i, 6),
                         alive: r.bool(i, 6))
            }
        }
    }
}
