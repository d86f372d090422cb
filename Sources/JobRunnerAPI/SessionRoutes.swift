import HTTPServer
import JSON
import JobEngine

/// `/api/session`: the dashboard signs in with a token once and then carries an
/// `HttpOnly; SameSite=Strict` cookie instead (the page never keeps the token).
extension JobRunnerAPI {
    /// Sign-in, sign-out and "who am I" are open: the handlers decide.
    static let sessionRoutes: [APIRoute] = [
        APIRoute("GET", "/api/session", .open, handle: { api, req in try api.sessionInfo(req) }, doc: OpenAPI.getSession),
        APIRoute("POST", "/api/session", .open, handle: { api, req in try api.signIn(req) }, doc: OpenAPI.signIn),
        APIRoute("DELETE", "/api/session", .open, handle: { api, req in api.signOut(req) }, doc: OpenAPI.signOut),
    ]

    /// `GET /api/session`: who is signed in (by cookie or bearer token); 401 if nobody.
    func sessionInfo(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard let principal = request.attachment as? Principal else { throw AuthPolicy.unauthenticated() }
        return .json(Self.describe(principal, mode: gate.authenticator.mode).serialized(), headers: [("Cache-Control", "no-store")])
    }

    /// `POST /api/session` with `{"token": "..."}`: a new session and its cookie.
    func signIn(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let authenticator = gate.authenticator
        guard authenticator.mode == .tokens else {
            throw HTTPError(400, "Authentication is off (no tokens configured, or --auth none): there is nothing to sign in to")
        }
        if let wait = signIns.take(RateLimiter.key(address: request.remoteAddress)) {
            throw HTTPError(429, "Too many sign-ins from this address: try again in \(wait) s",
                            headers: [("Retry-After", String(wait)), ("Cache-Control", "no-store")])
        }
        guard let body = try? JSONValue.parse(request.body, limits: JSONLimits(maxBytes: 4096, maxDepth: 4)),
              case .object(let object) = body else {
            throw HTTPError(400, "Invalid JSON body")
        }
        guard let token = object["token"]?.stringValue, !token.isEmpty else {
            throw HTTPError(400, "Missing 'token' field: a string")
        }
        guard let (id, principal) = authenticator.signIn(token: token) else {
            throw HTTPError(401, "Invalid token", headers: [("WWW-Authenticate", "Bearer"), ("Cache-Control", "no-store")])
        }
        let lifetime = Int(authenticator.sessionLifetime.rounded())
        var description = Self.describe(principal, mode: .tokens)
        if case .object(var o) = description {
            o["expires_in"] = .int(Int64(lifetime))
            description = .object(o)
        }
        return .json(description.serialized(), headers: [
            ("Set-Cookie", Self.cookie(id, maxAge: lifetime, secure: request.isSecure)),
            ("Cache-Control", "no-store"),
        ])
    }

    /// `DELETE /api/session`: ends the cookie's session (and any WebSocket it
    /// opened); succeeds also when there was none.
    func signOut(_ request: HTTPRequest) -> HTTPResponse {
        gate.authenticator.signOut(request.headers)
        sockets.revalidate()
        var w = JSONWriter(capacity: 24)
        w.object { $0.bool("signed_out", true) }
        return .json(w.bytes, headers: [
            ("Set-Cookie", Self.cookie("", maxAge: 0, secure: request.isSecure)),
            ("Cache-Control", "no-store"),
        ])
    }

    static func cookie(_ value: String, maxAge: Int, secure: Bool) -> String {
        "\(Authenticator.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    static func describe(_ principal: Principal, mode: Authenticator.Mode) -> JSONValue {
        let scopes = principal.has(.admin) ? Scope.allCases : principal.scopes.sorted()
        let via: JSONValue = switch principal.credential {
        case .open: .null
        case .token: "token"
        case .session: "session"
        }
        return .object(JSONObject([
            ("auth", .string(mode.rawValue)),
            ("name", principal.name.map(JSONValue.string) ?? .null),
            ("scopes", .array(scopes.map { .string($0.rawValue) })),
            ("via", via),
        ]))
    }
}

extension OpenAPI {
    static func getSession(_: JobRegistry) -> Doc {
        Doc(id: "getSession", tag: "session", summary: "Who is signed in",
            responses: ["200": response("The caller: by session cookie or bearer token (open daemon: anybody).", ref("Session")),
                        "401": error("Nobody is signed in.",
                                      headers: ["WWW-Authenticate": header("Bearer", ["type": "string"], required: true)])])
    }

    static func signIn(_: JobRegistry) -> Doc {
        Doc(id: "signIn", tag: "session", summary: "Trade a token for a session cookie",
            body: ["type": "object", "required": ["token"], "additionalProperties": false,
                   "properties": ["token": ["type": "string", "minLength": 1, "maxLength": 1024,
                                            "description": "A token of the config file (its text, as a bearer token carries it)."]]],
            responses: ["200": response("Signed in: Set-Cookie carries the HttpOnly session.", ref("Session"),
                                         headers: ["Set-Cookie": header("The session cookie.", ["type": "string"], required: true)]),
                        "400": error("Authentication is off, or the body is not {\"token\": string}."),
                        "401": error("The token is unknown.",
                                      headers: ["WWW-Authenticate": header("Bearer", ["type": "string"], required: true)]),
                        "429": error("Too many sign-ins: wait as long as Retry-After says.",
                                     headers: ["Retry-After": header("Seconds to wait.", ["type": "integer"], required: true)])])
    }

    static func signOut(_: JobRegistry) -> Doc {
        Doc(id: "signOut", tag: "session", summary: "End the cookie's session",
            responses: ["200": response("Signed out (also when there was no session).",
                                         ["type": "object", "required": ["signed_out"], "properties": ["signed_out": ["const": true]]])])
    }
}
