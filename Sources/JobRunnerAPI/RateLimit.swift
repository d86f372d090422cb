import Synchronization

/// `--rate-limit N/s`: a token bucket per caller (a token's name, or the client's
/// address when authentication is off, every loopback address counting as one)
/// that refills at N per second and holds at most N (the burst). Guards
/// submissions: `POST /api/jobs` and the WebSocket's `create_job`. The same kind
/// of bucket, per address, guards sign-in (`POST /api/session`).
public final class RateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double
    /// Callers tracked at once; past it, buckets that have refilled are forgotten
    /// (a full bucket is the same as none), then the longest idle.
    static let maxBuckets = 10_000

    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    public init(perSecond: Double, burst: Double? = nil) {
        self.perSecond = perSecond
        self.burst = max(1, burst ?? perSecond)
    }

    /// Sign-in attempts per client address: 5 a second, 30 at once.
    public static func signIns() -> RateLimiter { RateLimiter(perSecond: 5, burst: 30) }

    /// Takes one token for `key`: nil when allowed, else the whole seconds
    /// (at least 1) until one is there again, for `Retry-After`.
    public func take(_ key: String, now: Double = Authenticator.now()) -> Int? {
        buckets.withLock { b -> Int? in
            var bucket = b[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + max(0, now - bucket.updated) * perSecond)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                if b[key] == nil && b.count >= Self.maxBuckets { prune(&b, now: now) }
                b[key] = bucket
                return nil
            }
            b[key] = bucket
            let wait = (1 - bucket.tokens) / perSecond
            return max(1, Int(wait.rounded(.up)))
        }
    }

    private func prune(_ b: inout [String: Bucket], now: Double) {
        let refill = burst / perSecond
        b = b.filter { now - $0.value.updated < refill }
        if b.count >= Self.maxBuckets {
            for idle in b.sorted(by: { $0.value.updated < $1.value.updated }).prefix(b.count - Self.maxBuckets + 1) {
                b[idle.key] = nil
            }
        }
    }

    /// The key a caller's submissions count against.
    static func key(_ principal: Principal, address: String?) -> String {
        principal.name.map { "token " + $0 } ?? key(address: address)
    }

    /// The key of a client address. Every loopback address is one caller: any
    /// local process can pick its source among 127.0.0.0/8.
    static func key(address: String?) -> String {
        guard let address else { return "address ?" }
        if address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.") { return "address loopback" }
        return "address " + address
    }

    /// Parses `N/s` or `N` (submissions per second, > 0).
    public static func parse(_ text: String) -> Double? {
        var number = Substring(text)
        if number.hasSuffix("/s") { number = number.dropLast(2) }
        guard let n = Double(number), n.isFinite, n > 0, n <= 1_000_000 else { return nil }
        return n
    }
}
