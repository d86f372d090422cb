@testable import CommandJobs
import JSON
import JobEngine
import ProcessRunner
import Testing

let sharedRunner = try! ProcessRunner(killGrace: 0.5)

func definition(_ json: String) throws -> JSONValue {
    try JSONValue.parse(Array(json.utf8))
}

/// The loader's verdict on one definition: the type, or the error's message.
func load(_ json: String) -> Result<CommandJobType, DefinitionError> {
    do {
        return .success(try CommandTypeLoader.parse(try definition(json), source: "test.json", runner: sharedRunner))
    } catch let error as DefinitionError {
        return .failure(error)
    } catch {
        return .failure(DefinitionError(message: "not JSON: \(error)"))
    }
}

func message(_ json: String) -> String {
    if case .failure(let e) = load(json) { return e.message }
    return "accepted"
}

@Suite(.timeLimit(.minutes(10))) struct LoaderTests {
    let backup = """
        {"name": "backup", "description": "Back up one database",
         "command": ["/bin/echo", "--db", "{database}", "--level={level}"],
         "params": {
           "database": {"type": "string", "required": true, "max_length": 64, "pattern": "^[a-z0-9_]+$", "description": "Database name"},
           "level": {"type": "integer", "default": 1, "min": 1, "max": 9},
           "fast": {"type": "boolean", "default": false},
           "ratio": {"type": "number", "min": 0, "max": 1},
           "mode": {"type": "string", "enum": ["full", "diff"], "default": "full"}
         },
         "env": {"PGHOST": "localhost"}, "cwd": "/tmp", "timeout": 3600, "concurrency": 1, "max_attempts": 1}
        """

    @Test func aFullDefinitionLoadsAndValidatesInTheAPIsWording() throws {
        let type = try load(backup).get()
        #expect(type.name == "backup")
        #expect(type.parameters.map(\.name) == ["database", "level", "fast", "ratio", "mode"])
        func error(_ params: JSONValue) -> String {
            do {
                _ = try type.validate(params)
                return "valid"
            } catch { return error.message }
        }
        #expect(error([:]) == "Parameter 'database' is required")
        #expect(error(["database": "Main DB"]) == "Parameter 'database' must match ^[a-z0-9_]+$")
        #expect(error(["database": "main", "mode": "half"]) == "Parameter 'mode' must be one of: full, diff")
        #expect(error(["database": "main", "level": 10]) == "Parameter 'level' must be at most 9")
        #expect(error(["database": "main", "level": "x"]) == "Parameter 'level' must be an integer")
        #expect(error(["database": "main", "fast": "yes"]) == "Parameter 'fast' must be a boolean")
        #expect(error(["database": "main", "ratio": 2]) == "Parameter 'ratio' must be at most 1")
        #expect(error(["database": "main", "ratio": "a"]) == "Parameter 'ratio' must be a number")
        #expect(error(["database": "main", "other": 1]) == "Unknown parameter: other")
        let params = try type.validate(["database": "main", "level": "3", "fast": true, "ratio": 0.5])
        #expect(params == ["database": "main", "level": 3, "fast": true, "ratio": 0.5, "mode": "full"])
        #expect(type.template.map { $0.render(params) } == ["/bin/echo", "--db", "main", "--level=3"])
    }

    @Test func theSchemaShowsEveryRule() throws {
        let schema = try load(backup).get().schema
        let database = schema["params"]?.arrayValue?.first
        #expect(database?["required"] == true)
        #expect(database?["pattern"] == "^[a-z0-9_]+$")
        #expect(database?["max_length"] == 64)
        let mode = schema["params"]?.arrayValue?.last
        #expect(mode?["enum"] == ["full", "diff"])
        #expect(mode?["default"] == "full")
    }

    @Test(arguments: [
        (#"{"command": ["/bin/true"]}"#, "test.json: field 'name': required, a string"),
        (#"{"name": "Bad Name", "command": ["/bin/true"]}"#, "test.json: field 'name': must match ^[a-z][a-z0-9_-]{0,62}$"),
        (#"{"name": "x", "command": []}"#, "test.json: field 'command': required, a non-empty array of strings"),
        (#"{"name": "x", "command": ["true"]}"#, "test.json: field 'command': the program 'true' must be an absolute path"),
        (#"{"name": "x", "command": ["/no/such/program"]}"#, "test.json: field 'command': the program '/no/such/program' does not exist or is not executable"),
        (#"{"name": "x", "command": ["/bin/echo", "{nope}"]}"#, "test.json: field 'command': the placeholder {nope} names no parameter"),
        (#"{"name": "x", "command": ["/bin/true"], "shell": true}"#, "test.json: field 'shell': unknown field (known: command, concurrency, cwd, description, env, max_attempts, name, params, timeout)"),
        (#"{"name": "x", "command": ["/bin/true"], "params": {"a": {"type": "date"}}}"#, "test.json: field 'params.a.type': required: integer, number, string or boolean"),
        (#"{"name": "x", "command": ["/bin/true"], "params": {"a": {"type": "string", "pattern": "("}}}"#, "PATTERN"),
        (#"{"name": "x", "command": ["/bin/true"], "params": {"a": {"type": "integer", "default": "x"}}}"#, "test.json: field 'params.a.default': Parameter 'a' must be an integer"),
        (#"{"name": "x", "command": ["/bin/true"], "params": {"a": {"type": "string", "enum": ["x"], "default": "y"}}}"#, "test.json: field 'params.a.default': Parameter 'a' must be one of: x"),
        (#"{"name": "x", "command": ["/bin/true"], "env": {"JOBRUNNER_JOB_ID": "1"}}"#, "test.json: field 'env': 'JOBRUNNER_JOB_ID': JOBRUNNER_* variables are set by the daemon"),
        (#"{"name": "x", "command": ["/bin/true"], "cwd": "/no/such/dir"}"#, "test.json: field 'cwd': '/no/such/dir' is not a directory"),
        (#"{"name": "x", "command": ["/bin/true"], "timeout": 0}"#, "test.json: field 'timeout': must be a number of seconds, more than 0"),
        (#"{"name": "x", "command": ["/bin/true"], "max_attempts": 101}"#, "test.json: field 'max_attempts': must be an integer from 1 to 100"),
    ])
    func badDefinitionsNameTheFileAndTheField(json: String, expected: String) {
        let got = message(json)
        if expected == "PATTERN" {
            #expect(got.hasPrefix("test.json: field 'params.a.pattern': invalid regular expression '('"))
        } else {
            #expect(got == expected)
        }
    }

    @Test func builtInNamesAndDuplicatesAreRefused() throws {
        let types = try definition(#"[{"name": "echo", "command": ["/bin/true"]}]"#)
        #expect(throws: DefinitionError.self) {
            try CommandTypeLoader.load(configTypes: types, configFile: "/etc/j.json", directory: nil, runner: sharedRunner, builtIn: ["echo"])
        }
        let twice = try definition(#"[{"name": "a", "command": ["/bin/true"]}, {"name": "a", "command": ["/bin/true"]}]"#)
        do {
            _ = try CommandTypeLoader.load(configTypes: twice, configFile: "/etc/j.json", directory: nil, runner: sharedRunner, builtIn: [])
            Issue.record("a duplicate was accepted")
        } catch {
            #expect(error.message == "/etc/j.json (job_types)[1]: field 'name': job type 'a' is defined twice")
        }
        #expect(try CommandTypeLoader.load(configTypes: nil, configFile: nil, directory: "/no/such/dir", runner: sharedRunner, builtIn: []).isEmpty)
    }

    @Test func theEnvironmentIsTheBaseTheTypesAndTheJobs() throws {
        let type = try load(backup).get()
        let env = type.environment(for: 42, ["database": "main"])
        #expect(env.contains("JOBRUNNER_JOB_ID=42"))
        #expect(env.contains(#"JOBRUNNER_PARAMS={"database":"main"}"#))
        #expect(env.contains("JOBRUNNER_PROGRESS_FD=3"))
        #expect(env.contains("PGHOST=localhost"))
        #expect(env.contains { $0.hasPrefix("PATH=") } && env.contains { $0.hasPrefix("LANG=") } && env.contains { $0.hasPrefix("HOME=") })
        #expect(env.count == 7)
    }
}
