import Glibc
import HTTPServer
import HTTPTestSupport
import JSON
import JobRunnerAPI
import Testing

/// The cross-site decision as a pure function.
@Suite(.timeLimit(.minutes(10))) struct CrossSiteRuleTests {
    let loopback = ListeningAddress(port: 8080, host: "127.0.0.1", isLoopback: true)
    let anyAddress = ListeningAddress(port: 8080, host: "0.0.0.0", isLoopback: false)

    func status(_ method: String, _ headers: [(String, String)], listening: ListeningAddress? = nil,
                allowed: [String] = []) -> Int? {
        let named = headers.map { (name: $0.0.lowercased(), value: $0.1) }
        return CrossSite.refusal(method: method, headers: [(name: "host", value: "127.0.0.1:8080")] + named,
                                 listening: listening ?? loopback, allowedOrigins: allowed)?.status
    }

    let upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")]

    @Test func stateChangingRequestsFromOtherOriginsAreRefused() {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            #expect(status(method, [("Origin", "http://evil.example")]) == 403)
            #expect(status(method, [("Origin", "null")]) == 403)
            #expect(status(method, [("Sec-Fetch-Site", "cross-site")]) == 403)
            #expect(status(method, [("Origin", "http://127.0.0.1:9999")]) == 403)
            #expect(status(method, [("Origin", "https://127.0.0.1:8080")]) == 403)
        }
    }

    @Test func sameOriginAndOriginlessClientsPass() {
        #expect(status("POST", []) == nil)
        #expect(status("POST", [("Origin", "http://127.0.0.1:8080")]) == nil)
        #expect(status("POST", [("Origin", "HTTP://127.0.0.1:8080"), ("Sec-Fetch-Site", "same-origin")]) == nil)
        #expect(status("DELETE", [("Sec-Fetch-Site", "none")]) == nil)
        // Default ports: `Origin: http://h` and `Host: h:80` are the same origin.
        let named = [(name: "host", value: "jobs.example:80"), (name: "origin", value: "http://jobs.example")]
        #expect(CrossSite.refusal(method: "POST", headers: named, listening: anyAddress, allowedOrigins: []) == nil)
    }

    @Test func readsStayAllowedCrossSite() {
        #expect(status("GET", [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")]) == nil)
        #expect(status("HEAD", [("Origin", "null")]) == nil)
    }

    @Test func webSocketsAcceptOnlyTheirOwnOriginAndTheAllowedOnes() {
        #expect(status("GET", upgrade + [("Origin", "http://evil.example")]) == 403)
        #expect(status("GET", upgrade + [("Sec-Fetch-Site", "cross-site")]) == 403)
        #expect(status("GET", upgrade + [("Origin", "http://127.0.0.1:8080")]) == nil)
        #expect(status("GET", upgrade) == nil)
        let allowed = ["http://good.example"]
        #expect(status("GET", upgrade + [("Origin", "http://good.example"), ("Sec-Fetch-Site", "cross-site")],
                       allowed: allowed) == nil)
        #expect(status("GET", upgrade + [("Origin", "http://evil.example")], allowed: allowed) == 403)
        // The allowed list is for WebSockets: REST from those origins is still cross-site.
        #expect(status("POST", [("Origin", "http://good.example")], allowed: allowed) == 403)
    }

    @Test func loopbackDaemonsAnswerOnlyToLoopbackNames() {
        func host(_ value: String, _ listening: ListeningAddress) -> Int? {
            CrossSite.refusal(method: "GET", headers: [(name: "host", value: value)], listening: listening,
                              allowedOrigins: [])?.status
        }
        for good in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080", "127.0.0.1", "localhost"] {
            #expect(host(good, loopback) == nil, "\(good)")
        }
        for bad in ["evil.example:8080", "evil.example", "127.0.0.1:9090", "127.0.0.1.evil.example:8080",
                    "localhost:8080@evil", "::1:8080", "localhost:99999", ""] {
            #expect(host(bad, loopback) == 421, "\(bad)")
        }
        #expect(host("jobs.example:8080", anyAddress) == nil)
        let v6 = ListeningAddress(port: 8080, host: "[::1]", isLoopback: true)
        #expect(host("[::1]:8080", v6) == nil)
        #expect(host("rebound.example:8080", v6) == 421)
    }
}

/// The rule at work on a real daemon.
@Suite(.timeLimit(.minutes(10))) struct CrossSiteTests {
    func post(_ port: Int, _ path: String, body: String, headers: [(String, String)]) throws -> TestResponse {
        try TestHTTPConnection(port: port).request("POST", path, body: Array(body.utf8), headers: headers)
    }

    @Test func aFormPostFromAnotherSiteCreatesNothing() async throws {
        try await offPool {
            let d = try TestDaemon()
            let job = #"{"job_type":"echo"}"#
            for headers in [[("Content-Type", "text/plain"), ("Origin", "http://evil.example")],
                            [("Content-Type", "application/x-www-form-urlencoded"), ("Sec-Fetch-Site", "cross-site")],
                            [("Content-Type", "text/plain"), ("Origin", "null")]] {
                let r = try post(d.port, "/api/jobs", body: job, headers: headers)
                #expect(r.status == 403)
                #expect(try JSONValue.parse(r.body) == ["error": "Cross-site request refused"])
            }
            #expect(try post(d.port, "/api/jobs/clear-completed", body: "", headers: [("Origin", "http://evil.example")]).status == 403)
            let cancel = try TestHTTPConnection(port: d.port).request("DELETE", "/api/jobs/1", headers: [("Origin", "http://evil.example")])
            #expect(cancel.status == 403)
            #expect(d.engine.queueStats().total == 0)
            // The dashboard's own origin and curl still work.
            let port = d.port
            #expect(try post(port, "/api/jobs", body: job, headers: [("Origin", "http://127.0.0.1:\(port)")]).status == 201)
            #expect(try post(port, "/api/jobs", body: job, headers: []).status == 201)
        }
    }

    @Test func aCrossSiteWebSocketGetsNoQueueState() async throws {
        try await offPool {
            let d = try TestDaemon()
            #expect(throws: TestClientError.self) {
                _ = try TestWebSocket(port: d.port, path: "/ws/queue", extraHeaders: "Origin: http://evil.example\r\n")
            }
            let c = try TestHTTPConnection(port: d.port)
            let r = try c.request("GET", "/ws/queue", headers: [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Origin", "http://evil.example"),
            ])
            #expect(r.status == 403)
            #expect(try JSONValue.parse(r.body) == ["error": "Cross-site request refused"])
            let port = d.port
            let ws = try TestWebSocket(port: port, path: "/ws/queue", extraHeaders: "Origin: http://127.0.0.1:\(port)\r\n")
            #expect(try ws.receiveText()?.contains("queue_state") == true)
        }
    }

    @Test func aReboundHostNameIsRefused() async throws {
        try await offPool {
            let d = try TestDaemon()
            let c = try TestHTTPConnection(port: d.port)
            try c.send("GET /api/stats HTTP/1.1\r\nHost: rebound.example:\(d.port)\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 421)
            #expect(try JSONValue.parse(r.body)["error"] != nil)
            #expect(try httpRequest(port: d.port, "GET", "/api/stats", headers: []).status == 200)
        }
    }

    @Test func dashboardFilesCannotBeFramedOrSniffed() async throws {
        try await offPool {
            let root = try WebRootWithIndex()
            let d = try TestDaemon(webRoot: root.path)
            let r = try httpRequest(port: d.port, "GET", "/")
            #expect(r.status == 200)
            #expect(r.header("X-Frame-Options") == "DENY")
            #expect(r.header("X-Content-Type-Options") == "nosniff")
            let csp = try #require(r.header("Content-Security-Policy"))
            #expect(csp.contains("default-src 'self'"))
            #expect(csp.contains("frame-ancestors 'none'"))
        }
    }
}

/// A web root with one index.html.
struct WebRootWithIndex {
    let path: String

    init() throws {
        var template = Array("/tmp/jobrunner-api-www-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        let fd = open(path + "/index.html", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TestClientError("cannot write index.html") }
        _ = "<h1>hi</h1>".withCString { write(fd, $0, 11) }
        close(fd)
    }
}
