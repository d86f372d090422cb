/// Routes by method and path pattern (`/api/jobs/:id`). Among routes that match a
/// path, literal segments beat parameters; a path that matches only under other
/// methods answers 405 with an `Allow` header. Unmatched paths go to the fallback.
public struct Router: Sendable {
    private var table = RouteTable<HTTPHandler>()
    private var fallback: HTTPHandler?
    private var preCheck: (@Sendable (inout HTTPRequest) -> HTTPError?)?
    /// Requests by route and status, once `enableCounters` was called.
    public private(set) var counters: RequestCounters?

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping HTTPHandler) {
        table.add(method, pattern, handler)
    }

    /// Every route as method and pattern (`GET /api/jobs/:id`), in the order added.
    public var routeList: [(method: String, pattern: String)] {
        table.entries.map { ($0.method, $0.pattern) }
    }

    public mutating func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add("GET", pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add("POST", pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping HTTPHandler) { add("DELETE", pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping HTTPHandler) { add("PUT", pattern, handler) }

    /// Counts requests by route and status from now on (call after adding the
    /// routes; those added later count as `other`).
    public mutating func enableCounters() -> RequestCounters {
        let c = RequestCounters(routes: routeList)
        counters = c
        return c
    }

    /// The handler for paths no route matches (static files, a JSON 404...).
    public mutating func setFallback(_ handler: @escaping HTTPHandler) { fallback = handler }

    /// A check every request passes before it is routed (cross-site and `Host`
    /// rules); the error it returns is the answer instead of any route's.
    public mutating func setPreCheck(_ check: @escaping @Sendable (HTTPRequest) -> HTTPError?) {
        preCheck = { request in check(request) }
    }

    /// A pre-check that may also note who is asking on the request
    /// (`identity`, `attachment`) for the handlers and the audit log.
    public mutating func setPreCheck(annotating check: @escaping @Sendable (inout HTTPRequest) -> HTTPError?) { preCheck = check }

    /// The pre-check's verdict: nil to go on routing.
    public func refusal(of request: HTTPRequest) -> HTTPError? {
        var request = request
        return preCheck?(&request)
    }

    /// The pre-check's verdict, keeping what it noted on the request.
    public func refusal(of request: inout HTTPRequest) -> HTTPError? { preCheck?(&request) }

    public enum Resolution {
        case handler(HTTPHandler, [String: String])
        case methodNotAllowed(allow: [String])
        case notFound
    }

    public func resolve(method: String, path: String) -> Resolution {
        resolveRoute(method: method, path: path).resolution
    }

    /// The resolution and the index of the route that matched (nil: none did).
    func resolveRoute(method: String, path: String) -> (resolution: Resolution, route: Int?) {
        switch table.match(method: method, path: path) {
        case .found(let index, let params): return (.handler(table.entries[index].value, params), index)
        case .methodNotAllowed(let allow): return (.methodNotAllowed(allow: allow), nil)
        case .notFound: return (fallback.map { .handler($0, [:]) } ?? .notFound, nil)
        }
    }
}
