import JobQueue
import SQLStore

/// The webhook outbox (schema version 2), written and read as in every SQL
/// store (SQLStore/SharedOps.swift, WebhookRows.swift). Each node delivers the
/// deliveries it wrote (the leader takes over those of a silent node), so no
/// two nodes send one delivery.
extension PostgresJobStore: WebhookOutboxStore {
    public func dueWebhookDeliveries(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord] {
        try readers.read { db throws(PostgresError) in try db.dueWebhookDeliveries(url: url, limit: limit, node: nodeID) }
    }

    public func webhookDeliveries(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord] {
        try readers.read { db throws(PostgresError) in try db.webhookDeliveries(limit: limit, before: before) }
    }
}
