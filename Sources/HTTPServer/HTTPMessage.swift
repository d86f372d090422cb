/// A request as handlers see it: plain Swift values, nothing of libmicrohttpd.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, ... as sent.
    public let method: String
    /// The percent-decoded path, without the query.
    public let path: String
    /// Decoded query arguments in order; a key without `=` has an empty value.
    public let query: [(name: String, value: String)]
    /// Header fields with lower-cased names.
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]
    /// Values of the route's `:name` segments.
    public internal(set) var pathParameters: [String: String] = [:]
    /// The socket the request came in on; set by the server (nil in hand-made requests).
    public var listening: ListeningAddress?
    /// The peer's IP address (`127.0.0.1`, `::1`); set by the server on requests
    /// that change something (any method but GET, HEAD, OPTIONS) and on upgrades.
    public var remoteAddress: String?
    /// Served over TLS; set by the server.
    public var isSecure = false
    /// Who made the request, as the router's pre-check established it (a token
    /// name), for the audit log; nil: nobody in particular.
    public var identity: String?
    /// What the pre-check learnt about the caller, for the handlers (the API's
    /// principal); the server only carries it.
    public var attachment: (any Sendable)?

    public init(method: String, path: String, query: [(name: String, value: String)] = [],
                headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    /// The first query argument of that name.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    public func parameter(_ name: String) -> String? { pathParameters[name] }
}

/// The address a server listens on, as requests see it.
public struct ListeningAddress: Sendable, Equatable {
    /// The bound port.
    public var port: Int
    /// The bound address in URL form (`127.0.0.1`, `[::1]`, `0.0.0.0`).
    public var host: String
    /// Bound to a loopback address only (127.0.0.0/8 or ::1): reachable from this machine alone.
    public var isLoopback: Bool

    public init(port: Int, host: String, isLoopback: Bool) {
        self.port = port
        self.host = host
        self.isLoopback = isLoopback
    }
}

/// A response: status, headers and one of several kinds of body.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case empty
        case bytes([UInt8])
        /// A regular file, sent by the kernel straight from the descriptor.
        case file(path: String)
        /// An open-ended stream (Server-Sent Events), fed by its producer.
        case stream(ByteStream)
        /// Answered later: the connection is suspended until the closure's responder is called.
        case deferred(@Sendable (DeferredResponder) -> Void)
        /// `101 Switching Protocols` to a WebSocket served by the handler.
        case upgrade(WebSocketHandler)
    }

    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Body

    public init(status: Int = 200, headers: [(name: String, value: String)] = [], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body that is already serialised.
    public static func json(_ bytes: [UInt8], status: Int = 200, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: .bytes(bytes))
    }

    /// A response whose answer comes later from another thread.
    public static func deferred(_ start: @escaping @Sendable (DeferredResponder) -> Void) -> HTTPResponse {
        HTTPResponse(status: 0, body: .deferred(start))
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// Validates a WebSocket handshake and answers `101` for the handler, or throws
    /// the error to answer with (400 bad handshake, 403 origin not allowed).
    public static func webSocket(_ request: HTTPRequest, allowedOrigins: [String] = [],
                                 handler: WebSocketHandler) throws(HTTPError) -> HTTPResponse {
        let accept = try WebSocketHandshake.validate(request, allowedOrigins: allowedOrigins)
        return HTTPResponse(status: 101, headers: [("Upgrade", "websocket"), ("Sec-WebSocket-Accept", accept)],
                            body: .upgrade(handler))
    }
}

/// An error meant for the client: status, message and optional headers. The
/// server turns it into a body in one place (`HTTPServer.Configuration.renderError`).
public struct HTTPError: Error, Sendable {
    public var status: Int
    public var message: String
    public var headers: [(name: String, value: String)]

    public init(_ status: Int, _ message: String, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public static func notFound(_ path: String) -> HTTPError { HTTPError(404, "Not found: \(path)") }
}

/// A handler turns a request into a response; a thrown `HTTPError` becomes that
/// error's response, any other thrown error a logged 500.
public typealias HTTPHandler = @Sendable (HTTPRequest) throws -> HTTPResponse
