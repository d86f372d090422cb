import HTTPServer

/// Who may do what: each route's access comes from its entry in
/// `JobRunnerAPI.routes`, each WebSocket command's from `commands`. The
/// transport only carries credentials; this decides.
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

    /// WebSocket commands (the handshake needs read).
    static let commands: [Rule] = [
        command("create_job", .submit, limited: true),
        command("cancel_job", .submit),
        command("retry_job", .submit),
        command("clear_completed", .admin),
        command("get_state", .read),
        command("get_job_types", .read),
        command("ping", .read),
        command("pong", .read),
    ]

    private static func command(_ type: String, _ scope: Scope, limited: Bool = false) -> Rule {
        Rule(method: "WS", pattern: type, access: .scope(scope), rateLimited: limited)
    }

    /// Every route of the API and every WebSocket command.
    public static let rules: [Rule] = JobRunnerAPI.routes.map(\.rule) + commands

    /// The rules of a list of routes, matched as the router matches paths.
    struct Table: Sendable {
        let routes: RouteTable<Rule>

        init(_ routes: [APIRoute]) {
            var table = RouteTable<Rule>()
            for route in routes { table.add(route.method, route.pattern, route.rule) }
            self.routes = table
        }

        /// The rule for a request. Paths no rule names: under `/api/` and `/ws/` a
        /// read for GET and HEAD, admin for anything else (a route added without a
        /// rule is closed, not open); elsewhere (the dashboard's files) open.
        /// Literal segments beat parameters, as in the router.
        func rule(method: String, path: String) -> Rule {
            if let found = routes.entry(method: method, path: path) { return found.value }
            let method = method == "HEAD" ? "GET" : method
            let api = path == "/api" || path.hasPrefix("/api/") || path.hasPrefix("/ws/")
            if !api { return Rule(method: method, pattern: "*", access: .open, rateLimited: false) }
            return Rule(method: method, pattern: "*", access: .scope(method == "GET" ? .read : .admin), rateLimited: false)
        }
    }

    /// The table of the API's own routes.
    static let standard = Table(JobRunnerAPI.routes)

    /// The rule for a request to the API's own routes (`Table.rule`).
    public static func rule(method: String, path: String) -> Rule { standard.rule(method: method, path: path) }

    /// The rule for a WebSocket command; unknown commands need read (they are
    /// answered with an error, nothing changes).
    public static func rule(command: String) -> Rule {
        commands.first { $0.pattern == command } ?? Rule(method: "WS", pattern: command, access: .scope(.read), rateLimited: false)
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
    let policy: AuthPolicy.Table
    let authenticator: Authenticator
    let limiter: RateLimiter?
    let audit: (@Sendable (AuditRecord) -> Void)?

    /// Boxed once: the open daemon's principal on every request.
    private static let anybody: any Sendable = Principal.anybody

    init(authenticator: Authenticator, limiter: RateLimiter?, audit: (@Sendable (AuditRecord) -> Void)?,
         policy: AuthPolicy.Table = AuthPolicy.standard) {
        self.policy = policy
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
        let rule = policy.rule(method: request.method, path: request.path)
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
