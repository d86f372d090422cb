import HTTPServer
import JobQueue

/// What the API serves and accepts.
public struct APIConfiguration: Sendable {
    /// Directory of the dashboard's files; nil serves none.
    public var webRoot: String?
    /// This daemon's name in `GET /api/nodes` when it shares no store (with
    /// PostgreSQL the store's node id is used); nil: the host name.
    public var nodeName: String?
    public var maxBodyBytes = 1 << 20
    /// Largest WebSocket command accepted.
    public var maxWebSocketMessageBytes = 64 * 1024
    /// Origins besides the daemon's own that may open the WebSocket (`CrossSite`).
    public var allowedOrigins: [String] = []
    /// Seconds between `{"type":"ping"}` messages to WebSocket clients.
    public var pingIntervalSeconds = 25.0
    /// Tokens and sessions (docs/security.md); open by default.
    public var authenticator = Authenticator(mode: .open, tokens: [])
    /// `--rate-limit`: submissions per second per caller; nil: no limit.
    public var rateLimiter: RateLimiter?
    /// One line per state-changing WebSocket command (HTTP requests are audited by the server).
    public var audit: (@Sendable (AuditRecord) -> Void)?
    /// The daemon's version, as `/api/openapi.json` names it.
    public var version = "0.0.0"
    /// Recent webhook deliveries for `GET /api/webhooks/deliveries` (limit,
    /// before-cursor); nil: the list is empty.
    public var webhookDeliveries: (@Sendable (Int, Int64?) throws(StoreError) -> [WebhookDeliveryRecord])?
    /// `--metrics`: serve `GET /metrics` and keep its counters (docs/metrics.md).
    public var metrics = true
    /// Queue names that get a label of their own in the metrics; later ones share `~other`.
    public var metricsMaxQueues = 100

    public init(webRoot: String? = nil) {
        self.webRoot = webRoot
    }
}
