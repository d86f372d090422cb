import Synchronization

/// Requests served, by route and status code, for `/metrics`: one relaxed atomic
/// add per response, no lock, no allocation.
///
/// Labels are bounded: a request that matched a route counts under that route's
/// method and pattern (`GET /api/jobs/:id`, never the raw path); anything else
/// (static files, unknown paths, 405s, requests refused before routing) under
/// the route `other` and its method, or `other` for an unusual method. Status
/// codes the server does not send by design count as `other`.
///
/// `@unchecked Sendable`: the counters are `Atomic`s in memory allocated once in
/// `init` and freed in `deinit`; the label tables are immutable.
public final class RequestCounters: @unchecked Sendable {
    /// The label of requests no route matched.
    public static let otherRoute = "other"
    static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"]
    static let codes = [101, 200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 414,
                        415, 416, 422, 429, 431, 500, 501, 503, 505]

    /// (method, route) of each slot: the router's routes in order, then `other` per method.
    public let slots: [(method: String, route: String)]
    let routeCount: Int
    /// Code -> column, for 100...599; the last column is `other`.
    private let column: [UInt8]
    private let columns: Int
    private let counters: UnsafeMutablePointer<Atomic<UInt64>>

    init(routes: [(method: String, pattern: String)]) {
        routeCount = routes.count
        slots = routes.map { ($0.method, $0.pattern) } + Self.methods.map { ($0, Self.otherRoute) }
        columns = Self.codes.count + 1
        var column = [UInt8](repeating: UInt8(Self.codes.count), count: 500)
        for (i, code) in Self.codes.enumerated() { column[code - 100] = UInt8(i) }
        self.column = column
        let n = slots.count * columns
        counters = .allocate(capacity: n)
        for i in 0..<n { (counters + i).initialize(to: Atomic<UInt64>(0)) }
    }

    deinit {
        counters.deinitialize(count: slots.count * columns)
        counters.deallocate()
    }

    /// The slot of a request: its route's, or `other` under its method.
    func slot(route: Int?, method: String) -> Int {
        if let route, route < routeCount { return route }
        return otherSlot(method: method)
    }

    /// The slot of a request no route matched.
    func otherSlot(method: String) -> Int {
        let i = Self.methods.firstIndex(of: method) ?? Self.methods.count - 1
        return routeCount + i
    }

    /// Counts one response.
    func record(slot: Int, status: Int) {
        let c = (100..<600).contains(status) ? Int(column[status - 100]) : columns - 1
        counters[slot * columns + c].add(1, ordering: .relaxed)
    }

    /// Every non-zero count: (method, route, code label, count).
    public func snapshot() -> [(method: String, route: String, code: String, count: UInt64)] {
        var out: [(String, String, String, UInt64)] = []
        for (s, slot) in slots.enumerated() {
            for c in 0..<columns {
                let n = counters[s * columns + c].load(ordering: .relaxed)
                guard n > 0 else { continue }
                out.append((slot.method, slot.route, c < Self.codes.count ? String(Self.codes[c]) : "other", n))
            }
        }
        return out
    }
}
