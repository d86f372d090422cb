import HTTPServer
import JSON
@testable import JobRunnerAPI
import Testing

@Suite(.timeLimit(.minutes(10))) struct AuthTests {
    @Test func everyRouteHasTheScopeOfTheTable() {
        func access(_ method: String, _ path: String) -> AuthPolicy.Access { AuthPolicy.rule(method: method, path: path).access }
        #expect(access("GET", "/healthz") == .open)
        #expect(access("GET", "/") == .open)
        #expect(access("POST", "/index.html") == .open)
        #expect(access("HEAD", "/api/stats") == .scope(.read))
        #expect(access("GET", "/api/jobs/7/log") == .scope(.read))
        #expect(access("POST", "/api/jobs") == .scope(.submit))
        #expect(access("DELETE", "/api/jobs/7") == .scope(.submit))
        // The literal route wins over the parameter one.
        #expect(access("POST", "/api/jobs/clear-completed") == .scope(.admin))
        #expect(access("POST", "/api/jobs/7/retry") == .scope(.submit))
        // Webhook deliveries name their URLs (which may carry a key): admin only.
        #expect(access("GET", "/api/webhooks/deliveries") == .scope(.admin))
        #expect(access("POST", "/api/jobs/bulk/cancel") == .scope(.submit))
        #expect(access("POST", "/api/jobs/bulk/retry") == .scope(.submit))
        #expect(access("POST", "/api/jobs/bulk/delete") == .scope(.admin))
        // Unknown API paths: read for GET, admin for the rest.
        #expect(access("GET", "/api/new-thing") == .scope(.read))
        #expect(access("PATCH", "/api/jobs/7") == .scope(.admin))
        #expect(access("GET", "//api///stats") == .scope(.read))
        #expect(AuthPolicy.rule(command: "clear_completed").access == .scope(.admin))
        #expect(AuthPolicy.rule(command: "create_job").rateLimited)
        #expect(AuthPolicy.rule(command: "whatever").access == .scope(.read))
    }

    @Test func bearerHeadersAndCookies() {
        #expect(Authenticator.bearerToken("Bearer abc-_.~+/=") == "abc-_.~+/=")
        #expect(Authenticator.bearerToken("  bEaReR   abc  ") == "abc")
        #expect(Authenticator.bearerToken("Bearer") == nil)
        #expect(Authenticator.bearerToken("Bearer a b") == nil)
        #expect(Authenticator.bearerToken("Basic abc") == nil)
        #expect(Authenticator.bearerToken("Bearer é") == nil)
        #expect(Authenticator.sessionID([("cookie", "a=1; jobrunner_session=xyz; b=2")]) == "xyz")
        #expect(Authenticator.sessionID([("cookie", "jobrunner_sessionx=1")]) == nil)
    }

    @Test func tokensSessionsAndRevocation() throws {
        let token = try #require(Tokens.generate())
        #expect(token.utf8.count == 43)
        let hash = try #require(TokenEntry.hexBytes(Tokens.hashHex(token)))
        let auth = Authenticator(mode: .tokens, tokens: [TokenEntry(name: "ci", hash: hash, scopes: [.read])])
        let byHeader = try auth.authenticate([("authorization", "Bearer \(token)")]).get()
        #expect(byHeader.name == "ci" && byHeader.has(.read) && !byHeader.has(.submit))
        #expect((try? auth.authenticate([("authorization", "Bearer x\(token)")]).get()) == nil)
        let (id, _) = try #require(auth.signIn(token: token))
        let bySession = try auth.authenticate([("cookie", "jobrunner_session=\(id)")]).get()
        #expect(bySession.viaSession && bySession.name == "ci")
        auth.replaceTokens([])
        #expect(auth.refresh(byHeader) == nil)
        #expect(auth.refresh(bySession) == nil)
        #expect(auth.sessionCount == 0)
    }

    @Test func oneTokenSigningInOverAndOverEndsOnlyItsOwnSessions() throws {
        let admin = try #require(Tokens.generate()), reader = try #require(Tokens.generate())
        func entry(_ name: String, _ token: String, _ scopes: Set<Scope>) throws -> TokenEntry {
            TokenEntry(name: name, hash: try #require(TokenEntry.hexBytes(Tokens.hashHex(token))), scopes: scopes)
        }
        let auth = Authenticator(mode: .tokens, tokens: [try entry("admin", admin, [.admin]), try entry("ro", reader, [.read])])
        let (adminSession, _) = try #require(auth.signIn(token: admin))
        var readerSessions: [String] = []
        for _ in 0..<(Authenticator.maxSessionsPerToken + 50) {
            readerSessions.append(try #require(auth.signIn(token: reader)).id)
        }
        #expect(auth.sessionCount == Authenticator.maxSessionsPerToken + 1)
        let byCookie = { (id: String) in try? auth.authenticate([("cookie", "jobrunner_session=\(id)")]).get() }
        #expect(byCookie(adminSession)?.name == "admin")
        // The reader's oldest went, its newest stay.
        #expect(byCookie(readerSessions[0]) == nil)
        #expect(byCookie(readerSessions.last!)?.name == "ro")
    }

    @Test func everyLoopbackAddressIsOneCaller() {
        #expect(RateLimiter.key(address: "127.0.0.1") == RateLimiter.key(address: "127.3.2.1"))
        #expect(RateLimiter.key(address: "::1") == RateLimiter.key(address: "127.0.0.2"))
        #expect(RateLimiter.key(address: "::ffff:127.0.0.9") == RateLimiter.key(address: "127.0.0.1"))
        #expect(RateLimiter.key(address: "10.0.0.1") != RateLimiter.key(address: "10.0.0.2"))
        #expect(RateLimiter.key(.anybody, address: "127.9.9.9") == "address loopback")
    }

    @Test func tokenSectionErrorsNameTheEntryAndField() {
        func error(_ json: String) -> String? {
            do { _ = try TokenEntry.parseSection(try JSONValue.parse(json)); return nil } catch { return (error as? TokenConfigError)?.message }
        }
        #expect(error(#"[{"name":"a b","sha256":"00","scopes":["read"]}]"#)?.contains("'name'") == true)
        #expect(error(#"[{"name":"ci","sha256":"00","scopes":["read"]}]"#)?.contains("'sha256' must be 64 hex digits") == true)
        let hex = String(repeating: "ab", count: 32)
        #expect(error(#"[{"name":"ci","sha256":"\#(hex)","scopes":["root"]}]"#)?.contains("unknown scope") == true)
        #expect(error(#"[{"name":"ci","sha256":"\#(hex)","scopes":["read"]},{"name":"ci","sha256":"\#(hex)","scopes":["read"]}]"#)?
            .contains("listed twice") == true)
        #expect(error(#"[{"name":"ci","sha256":"\#(hex)","scopes":["admin"]}]"#) == nil)
    }

    @Test func rateLimiterIsATokenBucket() {
        let limiter = RateLimiter(perSecond: 2)
        #expect(limiter.take("a", now: 100) == nil)
        #expect(limiter.take("a", now: 100) == nil)
        #expect(limiter.take("a", now: 100) == 1)
        #expect(limiter.take("b", now: 100) == nil)
        #expect(limiter.take("a", now: 100.5) == nil)
        #expect(limiter.take("a", now: 100.5) == 1)
        #expect(RateLimiter.parse("10/s") == 10 && RateLimiter.parse("0.5") == 0.5)
        #expect(RateLimiter.parse("0/s") == nil && RateLimiter.parse("x") == nil)
    }

    @Test func auditLinesCannotBeForged() {
        let line = AuthAudit.line(AuditRecord(identity: nil, address: "::1", method: "DELETE", path: "/a b\naudit: x%", status: 404))
        #expect(line == "audit: - ::1 DELETE /a%20b%0Aaudit:%20x%25 404")
    }
}
