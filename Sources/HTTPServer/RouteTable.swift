import Glibc

/// Routes by method and path pattern (`/api/jobs/:id`), each with a value (a
/// handler for the router, a rule for a scope policy): the one path matcher
/// of the server and of whatever else needs to know which route a path is.
/// Among patterns that match a path, literal segments beat parameters,
/// leftmost first.
public struct RouteTable<Value: Sendable>: Sendable {
    public struct Entry: Sendable {
        public let method: String
        /// The pattern with empty segments dropped (`/api/jobs/:id`).
        public let pattern: String
        public let value: Value
        /// nil: a `:parameter`, whose name is in `names` at the same index.
        let literals: [[UInt8]?]
        let names: [String?]
        /// Higher is more specific: literals count more than parameters, leftmost first.
        let specificity: Int
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ value: Value) {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
        var specificity = 0
        for part in parts {
            specificity <<= 1
            if !part.hasPrefix(":") { specificity |= 1 }
        }
        entries.append(Entry(method: method, pattern: "/" + parts.joined(separator: "/"), value: value,
                             literals: parts.map { $0.hasPrefix(":") ? nil : Array($0.utf8) },
                             names: parts.map { $0.hasPrefix(":") ? String($0.dropFirst()) : nil },
                             specificity: specificity))
    }

    public enum Match {
        /// The entry's index and the path's `:parameter` values.
        case found(Int, [String: String])
        /// The path is a route, but only under these methods (HEAD added beside GET).
        case methodNotAllowed(allow: [String])
        case notFound
    }

    /// The router's question: among the most specific patterns that match the
    /// path, the one of this method (HEAD is GET). `GET /jobs/clear` is a 405
    /// when `/jobs/clear` exists for POST only, not a match of `/jobs/:id`.
    public func match(method: String, path: String) -> Match {
        let lookup = method == "HEAD" ? "GET" : method
        var path = path
        return path.withUTF8 { bytes -> Match in
            let bounds = Self.segments(bytes)
            var best: Int?
            var allowed: [String] = []
            var top = -1
            for (index, entry) in entries.enumerated() where matches(entry, bytes, bounds) {
                if entry.specificity > top {
                    top = entry.specificity
                    best = nil
                    allowed = []
                } else if entry.specificity < top {
                    continue
                }
                if entry.method == lookup {
                    best = index
                } else if !allowed.contains(entry.method) {
                    allowed.append(entry.method)
                }
            }
            if let best {
                var params: [String: String] = [:]
                for (name, range) in zip(entries[best].names, bounds) {
                    if let name { params[name] = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
                }
                return .found(best, params)
            }
            if !allowed.isEmpty {
                if allowed.contains("GET") { allowed.append("HEAD") }
                return .methodNotAllowed(allow: allowed)
            }
            return .notFound
        }
    }

    /// The most specific entry of this method (HEAD is GET) whose pattern
    /// matches the path, whatever other methods declare: a policy's question,
    /// asked before the router decides between an answer and a 405.
    public func entry(method: String, path: String) -> Entry? {
        let lookup = method == "HEAD" ? "GET" : method
        var path = path
        return path.withUTF8 { bytes -> Entry? in
            let bounds = Self.segments(bytes)
            var best: Entry?
            for entry in entries where entry.method == lookup && matches(entry, bytes, bounds) {
                if entry.specificity > (best?.specificity ?? -1) { best = entry }
            }
            return best
        }
    }

    /// Segment boundaries of a path, found once, without allocating substrings.
    static func segments(_ path: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var bounds: [Range<Int>] = []
        bounds.reserveCapacity(8)
        var i = 0
        while i < path.count {
            while i < path.count && path[i] == UInt8(ascii: "/") { i += 1 }
            let start = i
            while i < path.count && path[i] != UInt8(ascii: "/") { i += 1 }
            if start < i { bounds.append(start..<i) }
        }
        return bounds
    }

    private func matches(_ entry: Entry, _ path: UnsafeBufferPointer<UInt8>, _ bounds: [Range<Int>]) -> Bool {
        guard entry.literals.count == bounds.count else { return false }
        for (literal, range) in zip(entry.literals, bounds) {
            guard let literal else { continue }
            let equal = literal.withUnsafeBufferPointer { l in
                l.count == range.count && memcmp(l.baseAddress!, path.baseAddress! + range.lowerBound, l.count) == 0
            }
            if !equal { return false }
        }
        return true
    }
}
