import Essentials
import Glibc
import HTTPServer
import JobQueue
import JobRunnerAPI
import JobStorePostgres
import Webhooks

/// The API's configuration from the settings.
func apiConfiguration(_ settings: Settings, webRoot: String, authMode: Authenticator.Mode,
                      audit: @escaping @Sendable (AuditRecord) -> Void, webhooks: WebhookDispatcher) -> APIConfiguration {
    var c = APIConfiguration(webRoot: webRoot)
    c.nodeName = settings.nodeID ?? PostgresCluster.defaultNodeID(port: settings.port)
    c.version = jobRunnerVersion
    c.maxBodyBytes = settings.maxBody
    c.maxWebSocketMessageBytes = settings.wsMaxMessage
    c.allowedOrigins = settings.allowedOrigins
    c.pingIntervalSeconds = settings.wsPingInterval
    c.authenticator = Authenticator(mode: authMode, tokens: settings.tokens, sessionLifetime: settings.sessionLifetime)
    c.rateLimiter = settings.rateLimit.map { RateLimiter(perSecond: $0) }
    c.audit = audit
    c.webhookDeliveries = { [outbox = webhooks.outbox] limit, before throws(StoreError) in
        try outbox.recent(limit: limit, before: before)
    }
    c.metrics = settings.metrics
    return c
}

/// The HTTP server's configuration from the settings: on `listenSocket` when
/// systemd handed one over, else on `--host`/`--port`.
func serverConfiguration(_ settings: Settings, listenSocket: Int32?, tls: TLSCredentials?,
                         audit: @escaping @Sendable (AuditRecord) -> Void, _ logger: Logger) -> ServerConfiguration {
    var c = ServerConfiguration()
    c.host = settings.host
    c.port = settings.port
    c.listenSocket = listenSocket
    c.threads = workerThreads(settings)
    c.maxBodyBytes = settings.maxBody
    c.maxConnections = settings.maxConnections
    c.maxConnectionsPerIP = settings.maxConnectionsPerIP
    c.idleTimeoutSeconds = settings.idleTimeout
    c.streamHeartbeatSeconds = settings.sseHeartbeat
    c.webSocket.maxMessageBytes = settings.wsMaxMessage
    c.webSocket.maxQueuedBytes = settings.wsMaxQueue
    c.webSocket.pingIntervalSeconds = settings.wsPingInterval
    c.renderError = JobRunnerAPI.renderError
    c.auditLog = audit
    c.tls = tls
    c.log = { level, message in logger.log(level, message) }
    c.accessLog = { method, path, status, seconds in
        if logger.accessLogEnabled {
            logger.log(.info, "\(method) \(path) \(status) \(Int((seconds * 1_000_000).rounded())) µs")
        }
    }
    return c
}

/// `--threads`, or one per core.
func workerThreads(_ settings: Settings) -> Int {
    settings.threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}
