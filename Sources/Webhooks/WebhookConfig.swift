import JSON
import JobQueue

/// Why the `webhooks` section cannot be used; names the entry and field, never a secret.
public struct WebhookConfigError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One entry of the config file's `"webhooks"` section.
public struct WebhookEndpoint: Sendable, Equatable {
    public let url: String
    public let events: Set<WebhookEvent>
    /// The HMAC key (never logged, never shown by the API).
    public let secret: [UInt8]
    /// Attempts at most, the first included; then the delivery is dead.
    public var maxAttempts = 10
    /// Seconds before the second attempt, doubling up to `backoffMax` (with jitter).
    public var backoffInitial = 5.0
    public var backoffMax = 3600.0
    /// Seconds for one attempt, connecting included (connecting alone: at most 5 s).
    public var timeout = 10.0
    /// Deliveries to this URL in flight at once.
    public var concurrency = 4

    public init(url: String, events: Set<WebhookEvent>, secret: [UInt8]) {
        self.url = url
        self.events = events
        self.secret = secret
    }

    public var route: WebhookRoute { WebhookRoute(url: url, events: events) }

    /// Seconds to connect: the attempt's timeout, at most 5.
    public var connectTimeout: Double { min(timeout, 5) }

    public static let maxEndpoints = 32
    static let knownKeys = ["url", "events", "secret", "max_attempts", "backoff", "timeout", "concurrency"]

    /// Parses the `"webhooks"` section (absent or null: none).
    public static func parseSection(_ section: JSONValue?) throws(WebhookConfigError) -> [WebhookEndpoint] {
        guard let section, !section.isNull else { return [] }
        guard case .array(let items) = section else { throw WebhookConfigError("'webhooks' must be an array of objects") }
        guard items.count <= maxEndpoints else { throw WebhookConfigError("'webhooks' lists \(items.count) endpoints; at most \(maxEndpoints)") }
        var out: [WebhookEndpoint] = []
        for (i, item) in items.enumerated() {
            let place = "webhooks[\(i)]"
            guard case .object(let o) = item else { throw WebhookConfigError("\(place) must be an object") }
            for member in o where !knownKeys.contains(member.key) {
                throw WebhookConfigError("\(place): unknown key '\(member.key.prefix(40))' (known: \(knownKeys.joined(separator: ", ")))")
            }
            guard let url = o["url"]?.stringValue else { throw WebhookConfigError("\(place).url: required, an http:// or https:// URL") }
            if let problem = urlProblem(url) { throw WebhookConfigError("\(place).url: \(problem)") }
            guard case .array(let rawEvents)? = o["events"], !rawEvents.isEmpty else {
                throw WebhookConfigError("\(place).events: required, a non-empty array of \(eventNames)")
            }
            var events = Set<WebhookEvent>()
            for raw in rawEvents {
                guard let name = raw.stringValue, let event = WebhookEvent(rawValue: name) else {
                    throw WebhookConfigError("\(place).events: unknown event \(raw.jsonString.prefix(40)) (known: \(eventNames))")
                }
                events.insert(event)
            }
            guard let secret = o["secret"]?.stringValue, !secret.isEmpty, secret.utf8.count <= 1024 else {
                throw WebhookConfigError("\(place).secret: required, a non-empty string of at most 1024 bytes")
            }
            var e = WebhookEndpoint(url: url, events: events, secret: Array(secret.utf8))
            if let v = o["max_attempts"] {
                guard let n = v.intValue, (1...100).contains(n) else { throw WebhookConfigError("\(place).max_attempts: must be an integer from 1 to 100") }
                e.maxAttempts = Int(n)
            }
            if let v = o["timeout"] {
                guard let t = number(v), t >= 0.1, t <= 300 else { throw WebhookConfigError("\(place).timeout: must be a number of seconds from 0.1 to 300") }
                e.timeout = t
            }
            if let v = o["concurrency"] {
                guard let n = v.intValue, (1...64).contains(n) else { throw WebhookConfigError("\(place).concurrency: must be an integer from 1 to 64") }
                e.concurrency = Int(n)
            }
            if let v = o["backoff"] {
                guard case .object(let b) = v else { throw WebhookConfigError("\(place).backoff: must be an object with initial and max (seconds)") }
                for member in b where member.key != "initial" && member.key != "max" {
                    throw WebhookConfigError("\(place).backoff: unknown key '\(member.key.prefix(40))' (known: initial, max)")
                }
                if let x = b["initial"] {
                    guard let t = number(x), t >= 0.01, t <= 86400 else { throw WebhookConfigError("\(place).backoff.initial: must be seconds from 0.01 to 86400") }
                    e.backoffInitial = t
                }
                if let x = b["max"] {
                    guard let t = number(x), t >= 0.01, t <= 86400 else { throw WebhookConfigError("\(place).backoff.max: must be seconds from 0.01 to 86400") }
                    e.backoffMax = t
                }
                guard e.backoffMax >= e.backoffInitial else { throw WebhookConfigError("\(place).backoff: max must be at least initial") }
            }
            if out.contains(where: { $0.url == url }) { throw WebhookConfigError("\(place).url: listed twice (give one entry per URL, with all its events)") }
            out.append(e)
        }
        return out
    }

    static var eventNames: String { WebhookEvent.allCases.map(\.rawValue).joined(separator: ", ") }

    static func number(_ v: JSONValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d.isFinite ? d : nil
        default: nil
        }
    }

    /// Why `url` cannot be a webhook target, or nil: http or https, a host, at most
    /// 2048 bytes, no spaces or control characters, no credentials in it.
    public static func urlProblem(_ url: String) -> String? {
        guard !url.isEmpty, url.utf8.count <= 2048 else { return "must be an http:// or https:// URL of at most 2048 bytes" }
        guard url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return "must not contain spaces, control or non-ASCII characters (percent-encode them)" }
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") { rest = url.dropFirst(7) } else if lower.hasPrefix("https://") { rest = url.dropFirst(8) } else {
            return "must start with http:// or https://"
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.contains("@") { return "must not carry credentials (user:password@); the signature authenticates the daemon" }
        let host: Substring
        let port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return "has an unclosed [IPv6] host" }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return "has an invalid port" }
            port = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        } else {
            host = authority
            port = nil
        }
        guard !host.isEmpty else { return "has no host" }
        if let port {
            guard let n = Int(port), (1...65535).contains(n) else { return "has an invalid port" }
        }
        if url.contains("#") { return "must not contain a fragment (#)" }
        return nil
    }
}
