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
        let segments: [Segment]
        let handler: HTTPHandler
        /// Higher is more specific: literals count more than parameters, leftmost first.
        let specificity: Int
    }

    private var routes: [Route] = []
    private var fallback: HTTPHandler?

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
        routes.append(Route(method: method, segments: segments, handler: handler, specificity: specificity))
    }

    public mutating func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add("GET", pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add("POST", pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping HTTPHandler) { add("DELETE", pattern, handler) }

    /// The handler for paths no route matches (static files, a JSON 404...).
    public mutating func setFallback(_ handler: @escaping HTTPHandler) { fallback = handler }

    public enum Resolution {
        case handler(HTTPHandler, [String: String])
        case methodNotAllowed(allow: [String])
        case notFound
    }

    public func resolve(method: String, path: String) -> Resolution {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let lookup = method == "HEAD" ? "GET" : method
        var best: (Route, [String: String])?
        var allowed: [String] = []
        for route in routes {
            guard let params = match(route.segments, parts) else { continue }
            if route.method == lookup {
                if best == nil || route.specificity > best!.0.specificity { best = (route, params) }
            } else if !allowed.contains(route.method) {
                allowed.append(route.method)
            }
        }
        if let best { return .handler(best.0.handler, best.1) }
        if !allowed.isEmpty {
            if allowed.contains("GET") { allowed.append("HEAD") }
            return .methodNotAllowed(allow: allowed)
        }
        if let fallback { return .handler(fallback, [:]) }
        return .notFound
    }

    private func match(_ segments: [Segment], _ parts: [Substring]) -> [String: String]? {
        guard segments.count == parts.count else { return nil }
        var params: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let l): if l != part { return nil }
            case .parameter(let name): params[name] = String(part)
            }
        }
        return params
    }
}
