import JSON
import JobEngine
import JobQueue
import Testing

@Suite(.timeLimit(.minutes(10))) struct ValidationTests {
    let engine = JobEngine(capacity: 1)

    func message(_ type: String, _ params: JSONValue?) -> String? {
        do {
            _ = try engine.submit(type: type, params: params)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func defaultsAreFilledIn() throws {
        let types = engine.registry
        #expect(try types.type(named: "countdown")!.validate(nil) == JSONObject([("seconds", 10)]))
        #expect(try types.type(named: "prime")!.validate(.null) == JSONObject([("limit", 1000)]))
        #expect(try types.type(named: "fibonacci")!.validate([:]) == JSONObject([("count", 20)]))
        #expect(try types.type(named: "echo")!.validate(["delay": .null]) == JSONObject([("message", "Hello, World!"), ("delay", 3)]))
    }

    @Test func digitStringsBecomeNumbers() throws {
        let params = try engine.registry.type(named: "countdown")!.validate(["seconds": "5"])
        #expect(params["seconds"] == .int(5))
    }

    @Test(arguments: [
        ("countdown", ["seconds": -1] as JSONValue, "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": 2.5], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": "abc"], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": "-1"], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": " 5"], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": ""], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": true], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": [1]], "Parameter 'seconds' must be an integer"),
        ("countdown", ["seconds": 0], "Parameter 'seconds' must be at least 1"),
        ("countdown", ["seconds": 61], "Parameter 'seconds' must be at most 60"),
        ("countdown", ["seconds": "99999999999999999999999"], "Parameter 'seconds' must be at most 60"),
        ("prime", ["limit": 9], "Parameter 'limit' must be at least 10"),
        ("prime", ["limit": 100_001], "Parameter 'limit' must be at most 100000"),
        ("fibonacci", ["count": 4], "Parameter 'count' must be at least 5"),
        ("fibonacci", ["count": 51], "Parameter 'count' must be at most 50"),
        ("echo", ["message": ""], "Parameter 'message' cannot be empty"),
        ("echo", ["message": 5], "Parameter 'message' must be a string"),
        ("echo", ["message": "/etc/shadow\u{0}.txt"], "Parameter 'message' must not contain U+0000 (NUL)"),
        ("echo", ["message": ["x"]], "Parameter 'message' must be a string"),
        ("echo", ["message": .string(String(repeating: "é", count: 201))], "Parameter 'message' is too long (max 200)"),
        ("echo", ["delay": 31], "Parameter 'delay' must be at most 30"),
        ("echo", ["message": 1, "delay": 0], "Parameter 'message' must be a string"),
        ("echo", ["bogus": 1], "Unknown parameter: bogus"),
        ("echo", [1], "Invalid 'params' field: must be an object"),
        ("echo", "x", "Invalid 'params' field: must be an object"),
        ("nope", nil, "Unknown job type: nope"),
    ] as [(String, JSONValue?, String)])
    func rejected(_ type: String, _ params: JSONValue?, _ expected: String) {
        #expect(message(type, params) == expected)
    }

    @Test func maxLengthCountsCharactersNotBytes() throws {
        let message = String(repeating: "é", count: 200)
        let params = try engine.registry.type(named: "echo")!.validate(["message": .string(message)])
        #expect(params["message"] == .string(message))
    }

    @Test func missingRequiredParameter() {
        struct Needy: JobType {
            let name = "needy"
            let description = "needs a value"
            let parameters: [ParameterSpec] = [.integer("n", default: nil, "no default")]
            func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue { .null }
        }
        #expect(throws: ValidationError("Missing required parameter: n")) { try Needy().validate(nil) }
    }

    @Test func submitReportsTheFirstFailure() {
        #expect(throws: SubmitError.invalid(ValidationError("Parameter 'seconds' must be at most 60"))) {
            try engine.submit(type: "countdown", params: ["seconds": 100])
        }
        #expect(engine.queueStats().total == 0)
    }
}
