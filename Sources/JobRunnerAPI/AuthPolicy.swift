import HTTPServer

/// The one table of who may do what: each route and WebSocket command with the
/// scope it needs. The transport only carries credentials; this decides.
public enum AuthPolicy {
    public enum Access: Sendable, Equatable {
        /// Anybody, even when tokens are required (health checks, the session endpoint).
        case open
        case scope(Scope)
    }

    public struct Rule: Sendable {
        public let method: String
        /// A route pattern (`/api/jobs/:id`) or, for `WS`, a command type.
        public let pattern: String
        public let access: Access
        /// Counts against `--rate-limit`.
        public let rateLimited: Bool
    }

    private static func rule(_ method: String, _ pattern: String, _ access: Access, limited: Bool = false) -> Rule {
        Rule(method: method, pattern: pattern, access: access, rateLimited: limited)
    }

    /// Every route of the API and every WebSocket command.
    public static let rules: [Rule] = [
        rule("GET", "/healthz", .open),
        rule("GET", "/readyz", .open),
        // Prometheus scrapes with a bearer token (docs/security.md).
        rule("GET", "/metrics", .scope(.read)),
        // Sign-in, sign-out and "who am I": the handlers decide.
        rule("GET", "/api/session", .open),
        rule("POST", "/api/session", .open),
        rule("DELETE", "/api/session", .open),
        // The API's contract and the page that reads it: what anybody may learn
        // from the dashboard's own scripts anyway (job types included).
        rule("GET", "/api/openapi.json", .open),
        rule("GET", "/api/docs", .open),
        rule("GET", "/api/stats", .scope(.read)),
        rule("GET", "/api/job-types", .scope(.read)),
        rule("GET", "/api/jobs", .scope(.read)),
        rule("GET", "/api/jobs/:id", .scope(.read)),
        rule("GET", "/api/jobs/:id/progress", .scope(.read)),
        rule("GET", "/api/jobs/:id/log", .scope(.read)),
        rule("GET", "/ws/queue", .scope(.read)),
        rule("POST", "/api/jobs", .scope(.submit), limited: true),
        rule("DELETE", "/api/jobs/:id", .scope(.submit)),
        rule("POST", "/api/jobs/:id/retry", .scope(.submit)),
        rule("POST", "/api/jobs/clear-completed", .scope(.admin)),
        rule("POST", "/api/jobs/bulk/cancel", .scope(.submit)),
        rule("POST", "/api/jobs/bulk/retry", .scope(.submit)),
        rule("POST", "/api/jobs/bulk/delete", .scope(.admin)),
        rule("GET", "/api/queues", .scope(.read)),
        rule("GET", "/api/nodes", .scope(.read)),
        rule("PUT", "/api/queues/:name", .scope(.admin)),
        rule("GET", "/api/schedules", .scope(.read)),
        rule("GET", "/api/schedules/:name", .scope(.read)),
        rule("GET", "/api/cron", .scope(.read)),
        rule("POST", "/api/schedules", .scope(.admin)),
        rule("PUT", "/api/schedules/:name", .scope(.admin)),
        rule("DELETE", "/api/schedules/:name", .scope(.admin)),
        rule("POST", "/api/schedules/:name/pause", .scope(.admin)),
        rule("POST", "/api/schedules/:name/resume", .scope(.admin)),
        rule("POST", "/api/schedules/:name/run", .scope(.admin)),
        rule("GET", "/api/webhooks/deliveries", .scope(.admin)),
        // WebSocket commands (the handshake needs read).
        rule("WS", "create_job", .scope(.submit), limited: true),
        rule("WS", "cancel_job", .scope(.submit)),
        rule("WS", "retry_job", .scope(.submit)),
        rule("WS", "clear_completed", .scope(.admin)),
        rule("WS", "get_state", .scope(.read)),
        rule("WS", "get_job_types", .scope(.read)),
        rule("WS", "ping", .scope(.read)),
        rule("WS", "pong", .scope(.read)),
    ]

    /// The rules of HTTP routes, split into segments once (nil: a `:parameter`).
    private static let compiled: [(rule: Rule, segments: [[UInt8]?])] = rules.filter { $0.method != "WS" }.map { rule in
        (rule, rule.pattern.split(separator: "/").map { $0.hasPrefix(":") ? nil : Array($0.utf8) })
    }

    /// The rule for a request. Paths no rule names: under `/api/` and `/ws/` a
    /// read for GET and HEAD, admin for anything else (a route added without a
    /// rule is closed, not open); elsewhere (the dashboard's files) open.
    /// Literal segments beat parameters, as in the router.
    public static func rule(method: String, path: String) -> Rule {
        let method = method == "HEAD" ? "GET" : method
        var path = path
        let found: Rule? = path.withUTF8 { bytes -> Rule? in
            var bounds: [Range<Int>] = []
            bounds.reserveCapacity(8)
            var i = 0
            while i < bytes.count {
                while i < bytes.count && bytes[i] == UInt8(ascii: "/") { i += 1 }
                let start = i
                while i < bytes.count && bytes[i] != UInt8(ascii: "/") { i += 1 }
                if start < i { bounds.append(start..<i) }
            }
            var best: (rule: Rule, specificity: Int)?
            for (rule, segments) in compiled where segments.count == bounds.count && rule.method == method {
                var specificity = 0
                var matches = true
                for (segment, range) in zip(segments, bounds) {
                    specificity <<= 1
                    guard let literal = segment else { continue }
                    guard literal.count == range.count, literal.elementsEqual(bytes[range]) else { matches = false; break }
                    specificity |= 1
                }
                if matches && specificity > (best?.specificity ?? -1) { best = (rule, specificity) }
            }
            return best?.rule
        }
        if let found { return found }
        let api = path == "/api" || path.hasPrefix("/api/") || path.hasPrefix("/ws/")
        if !api { return Rule(method: method, pattern: "*", access: .open, rateLimited: false) }
        return Rule(method: method, pattern: "*", access: .scope(method == "GET" ? .read : .admin), rateLimited: false)
    }

    /// The rule for a WebSocket command; unknown commands need read (they are
    /// answered with an error, nothing changes).
    public static func rule(command: String) -> Rule {
        rules.first { $0.method == "WS" && $0.pattern == command } ?? Rule(method: "WS", pattern: command, access: .scope(.read), rateLimited: false)
    }

    // MARK: Answers

    public static let authenticationRequired = "Authentication required"
    public static let rateLimitExceeded = "Rate limit exceeded"

    static func unauthenticated() -> HTTPError {
        HTTPError(401, authenticationRequired, headers: [("WWW-Authenticate", "Bearer"), ("Cache-Control", "no-store")])
    }

    static func lacks(_ principal: Principal, _ scope: Scope) -> String {
        "Token '\(principal.label)' lacks the '\(scope.rawValue)' scope"
    }

    static func tooMany(retryAfter: Int) -> HTTPError {
        HTTPError(429, rateLimitExceeded, headers: [("Retry-After", String(retryAfter))])
    }
}

/// The access decision for requests and WebSocket commands: authentication,
/// the scope the policy asks for, the rate limit, and the audit log.
final class AuthGate: Sendable {
    let authenticator: Authenticator
    let limiter: RateLimiter?
    let audit: (@Sendable (AuditRecord) -> Void)?

    /// Boxed once: the open daemon's principal on every request.
    private static let anybody: any Sendable = Principal.anybody

    init(authenticator: Authenticator, limiter: RateLimiter?, audit: (@Sendable (AuditRecord) -> Void)?) {
        self.authenticator = authenticator
        self.limiter = limiter
        self.audit = audit
    }

    /// The pre-check's second half (after `CrossSite`): the error to answer, or
    /// nil with the principal noted on the request for the handlers and the log.
    func refusal(_ request: inout HTTPRequest) -> HTTPError? {
        if authenticator.mode == .open && limiter == nil {
            // Nothing to decide: anybody may do anything.
            request.attachment = Self.anybody
            return nil
        }
        let rule = AuthPolicy.rule(method: request.method, path: request.path)
        let principal: Principal
        switch authenticator.authenticate(request.headers) {
        case .success(let p):
            principal = p
        case .failure:
            // Open routes take anybody (the session handlers look for themselves).
            guard rule.access == .open else { return AuthPolicy.unauthenticated() }
            return nil
        }
        request.identity = principal.name
        request.attachment = principal
        if case .scope(let scope) = rule.access, !principal.has(scope) {
            return HTTPError(403, AuthPolicy.lacks(principal, scope))
        }
        if rule.rateLimited, let limiter,
           let wait = limiter.take(RateLimiter.key(principal, address: request.remoteAddress)) {
            return AuthPolicy.tooMany(retryAfter: wait)
        }
        return nil
    }

    /// Whether a WebSocket's principal may run `command`: nil to go on, or the
    /// error message to answer. A principal whose token was revoked (or whose
    /// session ended) gets `.revoked`: the socket is to be closed.
    enum CommandVerdict: Equatable {
        case allowed
        case refused(String)
        case revoked
    }

    func verdict(command: String, principal: Principal?, address: String?) -> CommandVerdict {
        let rule = AuthPolicy.rule(command: command)
        guard let principal else { return .revoked }
        guard let current = authenticator.refresh(principal) else { return .revoked }
        let state = AuditRecord.isStateChanging("WS") && rule.access != .scope(.read)
        var outcome = CommandVerdict.allowed
        var status = 200
        if case .scope(let scope) = rule.access, !current.has(scope) {
            outcome = .refused(AuthPolicy.lacks(current, scope))
            status = 403
        } else if rule.rateLimited, let limiter, limiter.take(RateLimiter.key(current, address: address)) != nil {
            outcome = .refused(AuthPolicy.rateLimitExceeded)
            status = 429
        }
        if state, let audit {
            audit(AuditRecord(identity: current.name, address: address ?? "", method: "WS", path: command, status: status))
        }
        return outcome
    }
}

/// The audit log's line: `audit: NAME ADDRESS METHOD PATH STATUS`, with the
/// token's name or `-`, never a credential. Spaces, control characters and `%`
/// in the path are percent-encoded, so a path cannot forge a line or a field.
public enum AuthAudit {
    public static func line(_ r: AuditRecord) -> String {
        "audit: \(r.identity ?? "-") \(r.address.isEmpty ? "-" : r.address) \(escape(r.method)) \(escape(r.path)) \(r.status)"
    }

    static func escape(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for c in text.utf8.prefix(512) {
            if c <= 0x20 || c == 0x7F || c == UInt8(ascii: "%") {
                out += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 15)]]
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
