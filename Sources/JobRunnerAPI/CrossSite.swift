import HTTPServer

/// The one decision "may this request go on?" taken before any route sees it,
/// for REST and the WebSocket handshake alike:
///
/// - On a daemon bound to loopback, `Host` must name this machine (`localhost`,
///   `127.0.0.1`, `[::1]` or the bound address) with the bound port or none:
///   a page whose own name was re-pointed at 127.0.0.1 (DNS rebinding) gets 421.
/// - A state-changing request (anything but GET, HEAD, OPTIONS) whose `Origin`
///   names another origin (`null` included), or that says
///   `Sec-Fetch-Site: cross-site`, gets 403. A WebSocket handshake likewise, except
///   from an origin in `--allowed-origins`: browsers do not apply CORS to
///   WebSockets, so this is their only guard.
/// - Requests without `Origin` (curl, scripts) and cross-site reads (GET, SSE)
///   pass: without CORS headers a page cannot read their answers.
public enum CrossSite {
    public static let refusedMessage = "Cross-site request refused"
    public static let misdirectedMessage = "Misdirected request: this daemon answers only to localhost, 127.0.0.1 and [::1]"

    /// Headers for the dashboard's files: its scripts and styles come from files
    /// of its own origin only, it talks only to its own origin (`'self'` covers
    /// ws:), and no other site may frame it.
    public static let dashboardHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
    ]

    /// The error to answer instead of routing the request, or nil to go on.
    public static func refusal(_ request: HTTPRequest, allowedOrigins: [String]) -> HTTPError? {
        refusal(method: request.method, headers: request.headers, listening: request.listening,
                allowedOrigins: allowedOrigins, scheme: request.isSecure ? "https" : "http")
    }

    /// The decision over plain values. `scheme` is the one the daemon serves
    /// (`https` once it speaks TLS).
    public static func refusal(method: String, headers: [(name: String, value: String)], listening: ListeningAddress?,
                               allowedOrigins: [String], scheme: String = "http") -> HTTPError? {
        func header(_ name: String) -> String? {
            // Names are lower-cased where the server collects them.
            headers.first { $0.name == name }?.value.trimmingSpaces
        }
        let host = header("host")
        if let listening, listening.isLoopback, let host, !isLoopbackName(host, listening) {
            return HTTPError(421, misdirectedMessage)
        }
        let isWebSocket = header("upgrade")?.lowercased().contains("websocket") ?? false
        guard isWebSocket || !["GET", "HEAD", "OPTIONS"].contains(method) else { return nil }
        let origin = header("origin")
        if isWebSocket, let origin, allowedOrigins.contains(where: { sameText($0, origin) }) { return nil }
        if header("sec-fetch-site")?.lowercased() == "cross-site" { return HTTPError(403, refusedMessage) }
        if let origin, !isSameOrigin(origin, host: host, scheme: scheme) { return HTTPError(403, refusedMessage) }
        return nil
    }

    /// `scheme://host[:port]` of the Origin names the request's own `Host`.
    /// `null` (sandboxed frames, some redirects) never does.
    static func isSameOrigin(_ origin: String, host: String?, scheme: String) -> Bool {
        let parts = origin.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard let host, parts.count == 2, parts[0].lowercased() == scheme else { return false }
        var authority = parts[1]
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        guard let a = Authority(String(authority)), let b = Authority(host) else { return false }
        let defaultPort = scheme == "https" ? 443 : 80
        return a.name == b.name && (a.port ?? defaultPort) == (b.port ?? defaultPort)
    }

    static func isLoopbackName(_ host: String, _ listening: ListeningAddress) -> Bool {
        // The usual forms, compared in place (this runs for every request).
        for name in ["127.0.0.1", "localhost", "[::1]", listening.host] where matches(host, name, listening.port) { return true }
        guard let authority = Authority(host) else { return false }
        let names = ["localhost", "127.0.0.1", "[::1]", listening.host.lowercased()]
        return names.contains(authority.name) && (authority.port == nil || authority.port == listening.port)
    }

    /// `host` is exactly `name` or `name:port` (bytes as sent; other spellings
    /// go through `Authority`).
    private static func matches(_ host: String, _ name: String, _ port: Int) -> Bool {
        let h = host.utf8, n = name.utf8
        guard h.starts(with: n) else { return false }
        var rest = h.dropFirst(n.count)
        if rest.isEmpty { return true }
        guard rest.first == UInt8(ascii: ":") else { return false }
        rest = rest.dropFirst()
        var value = 0
        for b in rest {
            guard b >= 0x30 && b <= 0x39, value < 100_000 else { return false }
            value = value * 10 + Int(b - 0x30)
        }
        return !rest.isEmpty && value == port
    }

    private static func sameText(_ a: String, _ b: String) -> Bool {
        func normal(_ s: String) -> String { s.hasSuffix("/") ? String(s.dropLast()).lowercased() : s.lowercased() }
        return normal(a) == normal(b)
    }
}

/// `host[:port]` as in `Host` and origins: a lower-cased name (IPv6 in brackets)
/// and an optional port. Nil when malformed.
struct Authority: Equatable {
    let name: String
    let port: Int?

    init?(_ text: String) {
        let text = text.lowercased()
        var rest: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            name = String(text[...close])
            rest = text[text.index(after: close)...]
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return nil }
            name = String(parts[0])
            rest = parts.count == 2 ? ":" + parts[1] : ""
        }
        guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) else { return nil }
        if rest.isEmpty || rest == ":" {
            port = nil
        } else {
            guard rest.first == ":" else { return nil }
            let digits = rest.dropFirst()
            guard digits.count <= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(digits), p <= 65535 else {
                return nil
            }
            port = p
        }
    }
}

private extension String {
    /// Without leading and trailing spaces and tabs (over UTF-8, no copy when
    /// there are none: this runs for every request).
    var trimmingSpaces: String {
        let u = utf8
        var start = u.startIndex, end = u.endIndex
        while start < end, u[start] == 0x20 || u[start] == 0x09 { start = u.index(after: start) }
        while end > start {
            let last = u.index(before: end)
            guard u[last] == 0x20 || u[last] == 0x09 else { break }
            end = last
        }
        if start == u.startIndex && end == u.endIndex { return self }
        return String(self[start..<end])
    }
}
