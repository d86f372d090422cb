import JobQueue
import Synchronization

/// Where deliveries wait between attempts: the store's outbox table (durable),
/// or memory (with `--db :memory:`; lost on a restart, like the jobs).
public protocol WebhookOutbox: Sendable {
    var isDurable: Bool { get }
    /// Deliveries just committed with their transitions: memory keeps them; the
    /// store already wrote them.
    func add(_ deliveries: [WebhookDelivery])
    /// Pending deliveries to `url`, the earliest next attempt first.
    func due(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord]
    /// The newest deliveries with `seq` below `before`, newest first.
    func recent(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord]
    /// Records an attempt; `done` runs once it is recorded.
    func record(_ attempt: WebhookAttempt, done: @escaping @Sendable () -> Void)
    /// Keeps the newest `keep` finished deliveries; pending deliveries to URLs not
    /// in `configured` become dead.
    func maintain(keep: Int, configured: [String], at: Double)
}

/// The outbox table of a durable store; writes go through its group commit.
public final class StoreWebhookOutbox: WebhookOutbox {
    let store: any WebhookOutboxStore

    public init(store: any WebhookOutboxStore) { self.store = store }

    public var isDurable: Bool { true }

    public func add(_ deliveries: [WebhookDelivery]) {}

    public func due(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord] {
        try store.dueWebhookDeliveries(url: url, limit: limit)
    }

    public func recent(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord] {
        try store.webhookDeliveries(limit: limit, before: before)
    }

    public func record(_ attempt: WebhookAttempt, done: @escaping @Sendable () -> Void) {
        // Retried by the store until it commits (like the daemon's own transitions).
        store.submit([.webhookAttempt(attempt)], retry: true) { _ in done() }
    }

    public func maintain(keep: Int, configured: [String], at: Double) {
        store.submit([.webhookMaintenance(keep: keep, configured: configured, at: at)], retry: true) { _ in }
    }
}

/// The in-memory outbox: bounded (past `maxPending` waiting deliveries the
/// oldest are dropped, recorded as dead), bodies rendered on the delivery thread.
public final class MemoryWebhookOutbox: WebhookOutbox {
    private struct State {
        var rows: [Int64: WebhookDeliveryRecord] = [:]
        /// Deliveries whose body is not made yet (made at their first `due`).
        var unrendered: [Int64: WebhookDelivery] = [:]
        var nextSeq: Int64 = 1
        var pending = 0
    }

    private let state = Mutex(State())
    public let maxPending: Int

    public init(maxPending: Int = 10_000) { self.maxPending = maxPending }

    public var isDurable: Bool { false }

    public func add(_ deliveries: [WebhookDelivery]) {
        state.withLock { s in
            for d in deliveries {
                let seq = s.nextSeq
                s.nextSeq += 1
                s.rows[seq] = WebhookDeliveryRecord(seq: seq, id: d.id, url: d.url, event: d.event.rawValue, jobID: d.jobID,
                                                    schedule: d.scheduleName, createdAt: d.createdAt, body: [],
                                                    nextAttemptAt: d.createdAt)
                s.unrendered[seq] = d
                s.pending += 1
            }
            if s.pending > maxPending {
                // The oldest waiting deliveries go; they stay visible as dead.
                for seq in s.rows.keys.sorted() where s.pending > maxPending {
                    guard s.rows[seq]?.status == .pending else { continue }
                    s.rows[seq]?.status = .dead
                    s.rows[seq]?.nextAttemptAt = nil
                    s.rows[seq]?.lastError = "dropped: more than \(maxPending) deliveries waiting in memory"
                    s.unrendered[seq] = nil
                    s.pending -= 1
                }
            }
        }
    }

    public func due(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord] {
        var (rows, toRender) = state.withLock { s -> ([WebhookDeliveryRecord], [Int64: WebhookDelivery]) in
            let rows = s.rows.values.filter { $0.status == .pending && $0.url == url }
                .sorted { ($0.nextAttemptAt ?? 0, $0.seq) < ($1.nextAttemptAt ?? 0, $1.seq) }.prefix(limit)
            var render: [Int64: WebhookDelivery] = [:]
            for r in rows { if let d = s.unrendered[r.seq] { render[r.seq] = d } }
            return (Array(rows), render)
        }
        guard !toRender.isEmpty else { return rows }
        // Rendered outside the lock, then kept.
        var bodies: [Int64: [UInt8]] = [:]
        for (seq, d) in toRender { bodies[seq] = d.body() }
        toRender = [:]
        state.withLock { s in
            for (seq, body) in bodies where s.unrendered.removeValue(forKey: seq) != nil { s.rows[seq]?.body = body }
        }
        for i in rows.indices { if let b = bodies[rows[i].seq] { rows[i].body = b } }
        return rows
    }

    public func recent(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord] {
        state.withLock { s in
            s.rows.values.filter { $0.seq < (before ?? Int64.max) }.sorted { $0.seq > $1.seq }.prefix(limit).map { $0 }
        }
    }

    public func record(_ attempt: WebhookAttempt, done: @escaping @Sendable () -> Void) {
        state.withLock { s in
            guard var row = s.rows[attempt.seq] else { return }
            if row.status == .pending && attempt.status != .pending { s.pending -= 1 }
            row.status = attempt.status
            row.attempts = attempt.attempts
            row.lastAttemptAt = attempt.at
            row.nextAttemptAt = attempt.nextAttemptAt
            row.lastHTTPStatus = attempt.httpStatus
            row.lastError = attempt.error
            s.rows[attempt.seq] = row
        }
        done()
    }

    public func maintain(keep: Int, configured: [String], at: Double) {
        state.withLock { s in
            let urls = Set(configured)
            for (seq, row) in s.rows where row.status == .pending && !urls.contains(row.url) {
                s.rows[seq]?.status = .dead
                s.rows[seq]?.nextAttemptAt = nil
                s.rows[seq]?.lastAttemptAt = at
                s.rows[seq]?.lastError = "its URL is no longer in the webhooks configuration"
                s.unrendered[seq] = nil
                s.pending -= 1
            }
            let finished = s.rows.values.filter { $0.status != .pending }.map(\.seq).sorted(by: >)
            for seq in finished.dropFirst(keep) { s.rows[seq] = nil }
        }
    }
}
