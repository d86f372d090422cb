import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import Testing

/// A type with every kind of declared param, as an operator's config makes them.
private struct Declared: JobType {
    let name = "backup"
    let description = "Back up one database"
    let parameters: [ParameterSpec]

    init() throws {
        parameters = [
            ParameterSpec(name: "database", kind: .string(default: nil, maxLength: 64), description: "Database name",
                          declared: .init(required: true, pattern: try ParameterPattern("^[a-z0-9_]+$"))),
            ParameterSpec(name: "level", kind: .integer(default: 1, min: -3, max: 9), description: "", declared: .init()),
            ParameterSpec(name: "ratio", kind: .number(default: nil, min: 0, max: 1), description: "", declared: .init()),
            ParameterSpec(name: "fast", kind: .boolean(default: false), description: "", declared: .init()),
            ParameterSpec(name: "mode", kind: .string(default: "full", maxLength: nil), description: "",
                          declared: .init(choices: ["full", "diff"])),
        ]
    }

    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue { .null }
}

@Suite(.timeLimit(.minutes(10))) struct OpenAPITests {
    static func registry() throws -> JobRegistry {
        var r = JobRegistry.builtIn
        r.register(try Declared())
        return r
    }

    static func document(_ registry: JobRegistry = .builtIn) throws -> JSONValue {
        let d = try TestDaemon(registry: registry)
        let (status, body, response) = try d.call("GET", "/api/openapi.json")
        #expect(status == 200)
        #expect(response.header("Content-Type") == "application/json")
        return body
    }

    /// The document of a daemon with tokens, which offers sign-in.
    static func documentWithTokens(_ registry: JobRegistry = .builtIn) throws -> JSONValue {
        let engine = JobEngine(registry: registry, capacity: 1)
        var configuration = APIConfiguration()
        configuration.authenticator = Authenticator(mode: .tokens, tokens: [])
        let api = JobRunnerAPI(engine: engine, configuration: configuration)
        var server = ServerConfiguration()
        server.port = 0
        server.renderError = JobRunnerAPI.renderError
        let http = HTTPServer(configuration: server, router: api.makeRouter())
        try http.start()
        defer {
            http.stop()
            engine.stop()
        }
        let r = try httpRequest(port: http.port, "GET", "/api/openapi.json")
        #expect(r.status == 200)
        return try JSONValue.parse(r.body)
    }

    /// `/api/jobs/:id` → `/api/jobs/{id}`.
    static func documented(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
    }

    /// A route added without documentation fails here: every HTTP rule of the
    /// scope table, and every route the router has, is an operation of the document.
    @Test func everyRouteIsDocumented() async throws {
        try await offPool {
            // With tokens: an open daemon leaves sign-in out (OpenAPIRulesTests).
            let doc = try Self.documentWithTokens()
            let paths = try #require(doc["paths"]?.objectValue)
            // The WebSocket upgrade is no HTTP operation: it is described beside the paths.
            let sockets = doc["x-websockets"]?.objectValue ?? [:]
            for rule in AuthPolicy.rules where rule.method != "WS" && sockets[rule.pattern] == nil {
                let item = paths[Self.documented(rule.pattern)]
                #expect(item?[rule.method.lowercased()] != nil, "\(rule.method) \(rule.pattern) is not in /api/openapi.json")
            }
            let api = JobRunnerAPI(engine: JobEngine(), webRoot: nil)
            for route in api.makeRouter().routeList where sockets[route.pattern] == nil {
                #expect(paths[Self.documented(route.pattern)]?[route.method.lowercased()] != nil,
                        "\(route.method) \(route.pattern) is routed but not in /api/openapi.json")
            }
            // Nothing documented that is not routed.
            let routed = Set(api.makeRouter().routeList.map { "\($0.method) \(Self.documented($0.pattern))" })
            for path in paths {
                for op in path.value.objectValue ?? [:] {
                    #expect(routed.contains("\(op.key.uppercased()) \(path.key)"), "\(op.key) \(path.key) is documented but not routed")
                }
            }
        }
    }

    /// Each operation names the scope the policy asks for, as the security requirement.
    @Test func securityFollowsTheScopeTable() async throws {
        try await offPool {
            let doc = try Self.documentWithTokens()
            let paths = try #require(doc["paths"]?.objectValue)
            for rule in AuthPolicy.rules where rule.method != "WS" {
                if let socket = doc["x-websockets"]?[rule.pattern] {
                    #expect(rule.access == .scope(.read) && socket["x-scope"] == "read")
                    continue
                }
                let op = paths[Self.documented(rule.pattern)]?[rule.method.lowercased()]
                switch rule.access {
                case .open:
                    #expect(op?["security"] == [[:]], "\(rule.pattern)")
                case .scope(let scope):
                    let s = JSONValue.string(scope.rawValue)
                    #expect(op?["security"] == [["bearerAuth": [s]], ["sessionCookie": [s]]], "\(rule.method) \(rule.pattern)")
                    #expect(op?["responses"]?["401"] != nil && op?["responses"]?["403"] != nil)
                }
            }
            #expect(doc["components"]?["securitySchemes"]?["sessionCookie"]?["name"] == .string(Authenticator.cookieName))
        }
    }

    /// `POST /api/jobs` takes one of the types, told apart by `job_type`, each
    /// with its params' schema; command types' rules (required, pattern, enum,
    /// signed bounds, numbers, booleans) are carried over.
    @Test func submissionsAreOneOfTheTypesWithTheirParams() async throws {
        try await offPool {
            let registry = try Self.registry()
            let doc = try Self.document(registry)
            let body = try #require(doc["paths"]?["/api/jobs"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"])
            let names = registry.types.map(\.name)
            #expect(body["oneOf"] == .array(names.map { ["$ref": .string("#/components/schemas/Submission.\($0)")] }))
            #expect(body["discriminator"]?["propertyName"] == "job_type")
            let schemas = try #require(doc["components"]?["schemas"])
            for name in names {
                #expect(schemas["Submission.\(name)"]?["properties"]?["job_type"] == ["const": .string(name)])
                #expect(schemas["Params.\(name)"]?["additionalProperties"] == false)
            }
            let countdown = schemas["Params.countdown"]?["properties"]?["seconds"]
            #expect(countdown?["type"] == "integer" && countdown?["minimum"] == 1 && countdown?["maximum"] == 60 && countdown?["default"] == 10)
            #expect(schemas["Params.echo"]?["properties"]?["message"]?["maxLength"] == 200)
            #expect(schemas["Params.echo"]?["properties"]?["message"]?["minLength"] == 1)

            let backup = try #require(schemas["Params.backup"])
            #expect(backup["required"] == ["database"])
            #expect(schemas["Submission.backup"]?["required"] == ["job_type", "params"])
            #expect(schemas["Submission.countdown"]?["required"] == ["job_type"])
            let p = try #require(backup["properties"])
            #expect(p["database"]?["pattern"] == "^[a-z0-9_]+$" && p["database"]?["maxLength"] == 64 && p["database"]?["minLength"] == nil)
            #expect(p["level"]?["minimum"] == -3 && p["level"]?["maximum"] == 9)
            #expect(p["ratio"]?["type"] == "number" && p["ratio"]?["maximum"] == 1)
            #expect(p["fast"]?["type"] == "boolean" && p["fast"]?["default"] == false)
            #expect(p["mode"]?["enum"] == ["full", "diff"])
            // Options with the bounds the parser checks.
            let options = try #require(schemas["Submission.backup"]?["properties"])
            #expect(options["priority"] == ["$ref": "#/components/schemas/Option.priority"])
            #expect(schemas["Option.priority"]?["minimum"] == -100 && schemas["Option.max_attempts"]?["maximum"] == 100)
            #expect(schemas["Option.idempotency_key"]?["maxLength"] == 200)
            // A schedule's options are the same, less those that do not apply to scheduled jobs.
            let scheduled = try #require(schemas["NewSchedule.backup"]?["properties"]?["options"]?["properties"]?.objectValue)
            #expect(scheduled.keys == ["queue", "priority", "timeout", "max_attempts", "backoff"])
        }
    }

    /// The schemas' bounds are the validator's: a value at each bound is
    /// accepted, one past it refused, for every param of every type.
    @Test func boundsAgreeWithValidation() async throws {
        try await offPool {
            for type in try Self.registry().types {
                let schema = type.paramsSchema
                let required = schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
                func params(_ name: String, _ value: JSONValue) -> JSONValue {
                    var o = JSONObject()
                    for r in required where r != name { o[r] = "x" }
                    o[name] = value
                    return .object(o)
                }
                for member in schema["properties"]?.objectValue ?? [:] {
                    let s = member.value
                    if let lo = s["minimum"] {
                        #expect((try? type.validate(params(member.key, lo))) != nil, "\(type.name).\(member.key) = \(lo.jsonString)")
                        if case .int(let i) = lo { #expect((try? type.validate(params(member.key, .int(i - 1)))) == nil) }
                    }
                    if let hi = s["maximum"] {
                        #expect((try? type.validate(params(member.key, hi))) != nil, "\(type.name).\(member.key) = \(hi.jsonString)")
                        switch hi {
                        case .int(let i): #expect((try? type.validate(params(member.key, .int(i + 1)))) == nil)
                        default: #expect((try? type.validate(params(member.key, .double((hi.wholeNumber.map(Double.init) ?? 0) + 0.5)))) == nil)
                        }
                    }
                    if case .int(let n)? = s["maxLength"], s["pattern"] == nil {
                        #expect((try? type.validate(params(member.key, .string(String(repeating: "é", count: Int(n)))))) != nil)
                        #expect((try? type.validate(params(member.key, .string(String(repeating: "é", count: Int(n) + 1))))) == nil)
                    }
                    if let d = s["default"] { #expect((try? type.validate(params(member.key, d))) != nil) }
                    #expect((try? type.validate(params(member.key + "_not_declared", 1))) == nil)
                }
                if !required.isEmpty { #expect((try? type.validate(.object([:]))) == nil) }
            }
        }
    }

    /// Reloaded job types (SIGHUP) show up in the next document.
    @Test func documentFollowsReloadedTypes() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (_, before, _) = try d.call("GET", "/api/openapi.json")
            #expect(before["components"]?["schemas"]?["Params.backup"] == nil)
            let (_, again, _) = try d.call("GET", "/api/openapi.json")
            #expect(again == before)
            d.engine.replaceRegistry(try Self.registry())
            let (_, after, _) = try d.call("GET", "/api/openapi.json")
            #expect(after["components"]?["schemas"]?["Params.backup"] != nil)
            let types = after["paths"]?["/api/jobs"]?["get"]?["parameters"]?.arrayValue?.first { $0["name"] == "type" }
            #expect(types?["schema"]?["items"]?["enum"]?.arrayValue?.contains("backup") == true)
        }
    }

    /// JSON Schema's `integer` includes 4.0: the daemon takes it where the
    /// document says integer, and still refuses a fraction.
    @Test func integralNumbersAreIntegers() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (created, job, _) = try d.call("POST", "/api/jobs", #"{"job_type":"echo","priority":4.0,"max_attempts":2.0,"delay":60}"#)
            #expect(created == 201 && job["priority"] == 4 && job["max_attempts"] == 2)
            let (refused, error, _) = try d.call("POST", "/api/jobs", #"{"job_type":"echo","priority":4.5}"#)
            #expect(refused == 400 && error["error"] == "Invalid 'priority' field: must be an integer from -100 to 100")
            let (updated, queue, _) = try d.call("PUT", "/api/queues/mail", #"{"concurrency":3.0}"#)
            #expect(updated == 200 && queue["concurrency"] == 3)
            let (bad, _, _) = try d.call("PUT", "/api/queues/mail", #"{"concurrency":3.5}"#)
            #expect(bad == 400)
        }
    }

    @Test func docsPageIsServedFromTheWebRootOr404() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, body, _) = try d.call("GET", "/api/docs")
            #expect(status == 404 && body["error"] == "Not found: /api/docs")
        }
    }
}
