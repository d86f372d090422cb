import Glibc

/// Routes by method and path pattern (`/api/jobs/:id`). Among routes that match a
/// path, literal segments beat parameters; a path that matches only under other
/// methods answers 405 with an `Allow` header. Unmatched paths go to the fallback.
public struct Router: Sendable {
    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Segment]
        let handler: HTTPHandler
        /// Higher is more specific: literals count more than parameters, leftmost first.
        let specificity: Int
    }

    private var routes: [Route] = []
    private var fallback: HTTPHandler?
    private var preCheck: (@Sendable (inout HTTPRequest) -> HTTPError?)?
    /// Requests by route and status, once `enableCounters` was called.
    public private(set) var counters: RequestCounters?

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping HTTPHandler) {
        let segments: [Segment] = pattern.split(separator: "/", omittingEmptySubsequences: true).map {
            $0.hasPrefix(":") ? .parameter(String($0.dropFirst())) : .literal(String($0))
        }
        var specificity = 0
        for s in segments {
            specificity <<= 1
            if case .literal = s { specificity |= 1 }
        }
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler, specificity: specificity))
    }

    /// Every route as method and pattern (`GET /api/jobs/:id`), in the order added.
    public var routeList: [(method: String, pattern: String)] {
        routes.map { route in
            (route.method, "/" + route.segments.map { segment in
                switch segment {
                case .literal(let text): text
                case .parameter(let name): ":" + name
                }
            }.joined(separator: "/"))
        }
    }

    public mutating func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add("GET", pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add("POST", pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping HTTPHandler) { add("DELETE", pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping HTTPHandler) { add("PUT", pattern, handler) }

    /// Counts requests by route and status from now on (call after adding the
    /// routes; those added later count as `other`).
    public mutating func enableCounters() -> RequestCounters {
        let c = RequestCounters(routes: routes.map { ($0.method, $0.pattern) })
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
        var path = path
        return path.withUTF8 { utf8 in resolve(method: method, utf8) }
    }

    private func resolve(method: String, _ path: UnsafeBufferPointer<UInt8>) -> (resolution: Resolution, route: Int?) {
        // Segment boundaries of the path, found once, without allocating substrings.
        var bounds: [Range<Int>] = []
        bounds.reserveCapacity(8)
        var i = 0
        while i < path.count {
            while i < path.count && path[i] == UInt8(ascii: "/") { i += 1 }
            let start = i
            while i < path.count && path[i] != UInt8(ascii: "/") { i += 1 }
            if start < i { bounds.append(start..<i) }
        }
        let lookup = method == "HEAD" ? "GET" : method
        // Only the most specific routes that match count: `GET /jobs/clear` is a
        // 405 when `/jobs/clear` exists for POST only, not a match of `/jobs/:id`.
        var best: Route?
        var bestIndex: Int?
        var allowed: [String] = []
        var top = -1
        for (index, route) in routes.enumerated() where route.segments.count == bounds.count && matches(route.segments, path, bounds) {
            if route.specificity > top {
                top = route.specificity
                best = nil
                bestIndex = nil
                allowed = []
            } else if route.specificity < top {
                continue
            }
            if route.method == lookup {
                best = route
                bestIndex = index
            } else if !allowed.contains(route.method) {
                allowed.append(route.method)
            }
        }
        if let best {
            var params: [String: String] = [:]
            for (segment, range) in zip(best.segments, bounds) {
                if case .parameter(let name) = segment {
                    params[name] = String(decoding: UnsafeBufferPointer(rebasing: path[range]), as: UTF8.self)
                }
            }
            return (.handler(best.handler, params), bestIndex)
        }
        if !allowed.isEmpty {
            if allowed.contains("GET") { allowed.append("HEAD") }
            return (.methodNotAllowed(allow: allowed), nil)
        }
        if let fallback { return (.handler(fallback, [:]), nil) }
        return (.notFound, nil)
    }

    private func matches(_ segments: [Segment], _ path: UnsafeBufferPointer<UInt8>, _ bounds: [Range<Int>]) -> Bool {
        for (segment, range) in zip(segments, bounds) {
            guard case .literal(let text) = segment else { continue }
            var literal = text
            let equal = literal.withUTF8 { l in
                l.count == range.count && memcmp(l.baseAddress!, path.baseAddress! + range.lowerBound, l.count) == 0
            }
            if !equal { return false }
        }
        return true
    }
}
