import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
@testable import JobRunnerAPI
import Testing

/// A route is declared once, in `JobRunnerAPI.routes`: the router, the scope
/// policy and the OpenAPI document all follow that one entry.
@Suite(.timeLimit(.minutes(1))) struct RouteTableTests {
    /// A route this test adds, in one place: nothing else is edited.
    static let probe = APIRoute("POST", "/api/probe/:name", .scope(.admin), handle: { _, req in
        var w = JSONWriter()
        w.object { $0.string("probe", req.parameter("name") ?? "") }
        return .json(w.bytes)
    }, doc: { _ in
        OpenAPI.Doc(id: "probeTest", tag: "meta", summary: "A test's own route",
                    parameters: [OpenAPI.pathParameter("name", ["type": "string"], "Any name.")],
                    responses: ["200": OpenAPI.response("The name.", ["type": "object"])])
    })

    @Test func aRouteAddedInOnePlaceIsRoutedCheckedAndDocumented() async throws {
        try await offPool {
            let admin = try #require(Tokens.generate()), reader = try #require(Tokens.generate())
            func entry(_ name: String, _ token: String, _ scopes: Set<Scope>) throws -> TokenEntry {
                TokenEntry(name: name, hash: try #require(TokenEntry.hexBytes(Tokens.hashHex(token))), scopes: scopes)
            }
            let engine = JobEngine(registry: .builtIn, capacity: 1)
            var configuration = APIConfiguration()
            configuration.authenticator = Authenticator(mode: .tokens, tokens: [try entry("admin", admin, [.admin]), try entry("ro", reader, [.read])])
            let api = JobRunnerAPI(engine: engine, configuration: configuration, routes: JobRunnerAPI.routes + [Self.probe])
            var server = ServerConfiguration()
            server.port = 0
            server.renderError = JobRunnerAPI.renderError
            let http = HTTPServer(configuration: server, router: api.makeRouter())
            try http.start()
            defer {
                http.stop()
                engine.stop()
            }
            func call(_ token: String?) throws -> TestResponse {
                try httpRequest(port: http.port, "POST", "/api/probe/abc", body: "{}",
                                headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
            }

            // Routing: it answers, with its path parameter; other methods get 405.
            let answered = try call(admin)
            #expect(answered.status == 200 && answered.text == #"{"probe":"abc"}"#)
            let other = try httpRequest(port: http.port, "GET", "/api/probe/abc", headers: [("Authorization", "Bearer \(admin)")])
            #expect(other.status == 405 && other.header("Allow") == "POST")

            // Scopes: the policy names the entry's scope; a reader is refused, nobody is asked to authenticate.
            let rule = api.gate.policy.rule(method: "POST", path: "/api/probe/abc")
            #expect(rule.access == .scope(.admin) && rule.pattern == "/api/probe/:name")
            let refused = try call(reader)
            #expect(refused.status == 403)
            #expect(try JSONValue.parse(refused.body)["error"] == "Token 'ro' lacks the 'admin' scope")
            #expect(try call(nil).status == 401)

            // OpenAPI: the operation is listed with the entry's text and scope.
            let doc = try JSONValue.parse(try httpRequest(port: http.port, "GET", "/api/openapi.json").body)
            let op = try #require(doc["paths"]?["/api/probe/{name}"]?["post"])
            #expect(op["operationId"] == "probeTest" && op["summary"] == "A test's own route")
            #expect(op["x-scope"] == "admin" && op["security"] == [["bearerAuth": ["admin"]], ["sessionCookie": ["admin"]]])
            #expect(op["responses"]?["403"] != nil && op["responses"]?["401"] != nil)

            // The API's own table does not have it.
            #expect(AuthPolicy.rule(method: "POST", path: "/api/probe/abc").pattern == "*")
            #expect(!JobRunnerAPI.routes.contains { $0.pattern == "/api/probe/:name" })
        }
    }

    /// Every rule of the policy is a route of the table, and the other way round,
    /// with the same access: there is no second list to keep in step.
    @Test func thePolicyIsTheTable() {
        let routes = JobRunnerAPI.routes
        #expect(AuthPolicy.rules.filter { $0.method != "WS" }.count == routes.count)
        for route in routes {
            let rule = AuthPolicy.rule(method: route.method, path: "/" + route.pattern.split(separator: "/").map { $0.hasPrefix(":") ? "x" : $0 }.joined(separator: "/"))
            #expect(rule.pattern == route.pattern && rule.access == route.access && rule.rateLimited == route.rateLimited,
                    "\(route.method) \(route.pattern)")
        }
        #expect(Set(routes.map { "\($0.method) \($0.pattern)" }).count == routes.count, "a route is declared twice")
    }
}
