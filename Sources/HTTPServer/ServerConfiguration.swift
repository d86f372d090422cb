import Essentials

/// How the server listens and what it accepts.
public struct ServerConfiguration: Sendable {
    /// The shared log level, under the name earlier code knows.
    public typealias LogLevel = Essentials.LogLevel

    public var host = "127.0.0.1"
    /// 0 picks a free port; read it back from `HTTPServer.port`.
    public var port = 8080
    /// An already listening socket to serve on instead of binding `host`/`port`.
    public var listenSocket: Int32?
    /// libmicrohttpd worker threads.
    public var threads = 2
    /// Largest request body accepted; a larger one gets 413.
    public var maxBodyBytes = 1 << 20
    /// Connections open at once (streams and WebSockets included).
    public var maxConnections = 4096
    /// Connections from one IP address; 0 means no per-address limit.
    public var maxConnectionsPerIP = 0
    /// Seconds a plain HTTP connection may sit idle (suspended streams do not
    /// time out), and the most a request's head (request line and headers) may
    /// take, from the connection's start or the previous request's end. 0: neither.
    public var idleTimeoutSeconds = 60
    /// Seconds between `: keep-alive` comments on open streams.
    public var streamHeartbeatSeconds = 15.0
    /// WebSocket message size, outbound queue and ping limits.
    public var webSocket = WebSocketLimits()
    /// Builds the response for an error; the API layer supplies its JSON shape.
    public var renderError: @Sendable (HTTPError) -> HTTPResponse = ServerConfiguration.defaultErrorBody
    public var log: @Sendable (LogLevel, String) -> Void = { _, _ in }
    /// Called as each response is queued: method, path, status, seconds since the request arrived.
    public var accessLog: (@Sendable (String, String, Int, Double) -> Void)?
    /// Called once per state-changing request (any method but GET, HEAD and
    /// OPTIONS) with its final status, refusals included.
    public var auditLog: (@Sendable (AuditRecord) -> Void)?
    /// Serve HTTPS with these credentials (reloadable while serving); nil: plain HTTP.
    public var tls: TLSCredentials?

    public init() {}

    /// `{"error": message}` with minimal escaping, for servers without a JSON layer.
    public static let defaultErrorBody: @Sendable (HTTPError) -> HTTPResponse = { error in
        var text = "{\"error\":\""
        for scalar in error.message.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case _ where scalar.value < 0x20: text += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\"}"
        return .json(Array(text.utf8), status: error.status, headers: error.headers)
    }
}

/// One state-changing request as the audit log records it. Never holds a credential.
public struct AuditRecord: Sendable {
    /// The pre-check's `identity` (a token name), or nil.
    public var identity: String?
    public var address: String
    public var method: String
    public var path: String
    public var status: Int

    public init(identity: String?, address: String, method: String, path: String, status: Int) {
        self.identity = identity
        self.address = address
        self.method = method
        self.path = path
        self.status = status
    }

    /// Whether a request with this method changes something (and is audited).
    public static func isStateChanging(_ method: String) -> Bool {
        method != "GET" && method != "HEAD" && method != "OPTIONS"
    }
}
