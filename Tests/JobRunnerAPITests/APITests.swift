import Glibc
import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import Testing

/// A real daemon stack (engine, API, server on port 0) for one test.
final class TestDaemon {
    let engine: JobEngine
    let server: HTTPServer
    var port: Int { server.port }

    init(capacity: Int = 3, webRoot: String? = nil, maxBody: Int = 1 << 20, registry: JobRegistry = .builtIn) throws {
        engine = JobEngine(registry: registry, capacity: capacity)
        let api = JobRunnerAPI(engine: engine, webRoot: webRoot, maxBodyBytes: maxBody)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.maxBodyBytes = maxBody
        configuration.renderError = JobRunnerAPI.renderError
        server = HTTPServer(configuration: configuration, router: api.makeRouter())
        try server.start()
    }

    deinit {
        engine.stop()
        server.stop()
    }

    func call(_ method: String, _ path: String, _ body: String? = nil) throws -> (Int, JSONValue, TestResponse) {
        let r = try httpRequest(port: port, method, path, body: body)
        let json = (try? JSONValue.parse(r.body)) ?? .null
        return (r.status, json, r)
    }
}

@Suite(.timeLimit(.minutes(10))) struct APITests {
    @Test func createReturns201WithTheNormalisedJob() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, body, response) = try d.call("POST", "/api/jobs", #"{"job_type":"countdown","params":{"seconds":"5"}}"#)
            #expect(status == 201)
            #expect(response.header("Content-Type") == "application/json")
            // The base shape's fields, then the job's options beside them.
            #expect(Set(["id", "type", "params", "status", "created_at"]).isSubset(of: body.objectValue?.keys ?? []))
            #expect(body["queue"] == "default" && body["priority"] == 0 && body["attempt"] == 1 && body["max_attempts"] == 1)
            #expect(body["id"] == 1)
            #expect(body["type"] == "countdown")
            #expect(body["params"] == ["seconds": 5])
            #expect(body["status"] == "pending")
            if case .double(let t)? = body["created_at"] { #expect(t > 1_700_000_000) } else { Issue.record("created_at is not a number") }
            #expect(response.header("Location") == "/api/jobs/1")
        }
    }

    @Test(arguments: [
        ("not json", "Invalid JSON body"),
        ("[1,2]", "Invalid JSON body"),
        ("\"text\"", "Invalid JSON body"),
        ("{}", "Missing 'job_type' field"),
        (#"{"job_type":null}"#, "Missing 'job_type' field"),
        (#"{"job_type":"nope"}"#, "Unknown job type: nope"),
        (#"{"job_type":"echo","params":[1]}"#, "Invalid 'params' field: must be an object"),
        (#"{"job_type":"echo","params":"x"}"#, "Invalid 'params' field: must be an object"),
        (#"{"job_type":"echo","params":{"message":7}}"#, "Parameter 'message' must be a string"),
        (#"{"job_type":"echo","params":{"nope":1}}"#, "Unknown parameter: nope"),
        (#"{"job_type":"countdown","params":{"seconds":0}}"#, "Parameter 'seconds' must be at least 1"),
        (#"{"job_type":"prime","params":{"limit":2.5}}"#, "Parameter 'limit' must be an integer"),
    ])
    func badSubmissionsGet400(_ body: String, _ message: String) throws {
        let d = try TestDaemon()
        let (status, json, _) = try d.call("POST", "/api/jobs", body)
        #expect(status == 400)
        #expect(json == ["error": .string(message)])
        #expect(d.engine.queueStats().total == 0)
    }

    @Test func getListAndStats() async throws {
        try await offPool {
            let d = try TestDaemon(capacity: 1)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"countdown","params":{"seconds":60}}"#)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"echo"}"#)
            let (status, job, _) = try d.call("GET", "/api/jobs/2")
            #expect(status == 200)
            #expect(job.objectValue?.keys == ["id", "type", "params", "status", "progress", "result", "error",
                                              "created_at", "started_at", "completed_at", "queue", "priority", "run_at",
                                              "attempt", "max_attempts", "timeout", "idempotency_key", "schedule", "node", "errors"])
            #expect(job["status"] == "pending")
            #expect(job["progress"] == ["percent": 0, "message": "Queued"])
            #expect(job["params"] == ["message": "Hello, World!", "delay": 3])
            #expect(job["result"] == .null && job["started_at"] == .null)

            let (_, list, _) = try d.call("GET", "/api/jobs")
            #expect(list.arrayValue?.map { $0["id"] } == [1, 2])
            #expect(list.arrayValue?.first?["status"] == "running")

            let (_, stats, _) = try d.call("GET", "/api/stats")
            #expect(stats == [
                "queue": ["pending": 1, "running": 1, "completed": 0, "failed": 0, "cancelled": 0, "total": 2],
                "worker": ["active": 1, "capacity": 1, "processed": 0, "is_running": true],
                "clients": ["sse": 0, "websocket": 0],
            ])
        }
    }

    @Test func jobTypesListsTheFourBuiltIns() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, types, _) = try d.call("GET", "/api/job-types")
            #expect(status == 200)
            #expect(types.arrayValue?.map { $0["name"] } == ["countdown", "prime", "fibonacci", "echo"])
            #expect(types.arrayValue?.last?["params"] == [
                ["name": "message", "type": "string", "default": "Hello, World!", "max_length": 200, "description": "Message to echo back"],
                ["name": "delay", "type": "integer", "default": 3, "min": 1, "max": 30, "description": "Delay in seconds before echoing"],
            ])
        }
    }

    @Test(arguments: ["/api/jobs/0", "/api/jobs/abc", "/api/jobs/99", "/api/jobs/-1", "/api/jobs/99999999999999999999999"])
    func unknownJobsAre404(_ path: String) async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, body, _) = try d.call("GET", path)
            #expect(status == 404)
            let id = String(path.dropFirst("/api/jobs/".count))
            #expect(body == ["error": .string("Job not found: \(id)")])
            let (deleteStatus, _, _) = try d.call("DELETE", path)
            #expect(deleteStatus == 404)
        }
    }

    @Test func cancelPendingThenCannotCancelAgain() async throws {
        try await offPool {
            let d = try TestDaemon(capacity: 1)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"countdown","params":{"seconds":60}}"#)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"countdown","params":{"seconds":60}}"#)
            let (status, body, _) = try d.call("DELETE", "/api/jobs/2")
            #expect(status == 200)
            #expect(body == ["success": true, "job_id": 2])
            let (again, error, _) = try d.call("DELETE", "/api/jobs/2")
            #expect(again == 409)
            #expect(error == ["error": "Cannot cancel job in status: cancelled", "job_id": 2])
            // Cancel the running one too: it stops at once.
            let (running, _, _) = try d.call("DELETE", "/api/jobs/1")
            #expect(running == 200)
            let (_, job, _) = try d.call("GET", "/api/jobs/1")
            #expect(job["status"] == "cancelled")
            #expect(job["completed_at"] != .null)
        }
    }

    @Test func clearCompletedRemovesOnlyFinishedJobs() async throws {
        try await offPool {
            let d = try TestDaemon(capacity: 1)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"countdown","params":{"seconds":60}}"#)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"countdown"}"#)
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"countdown"}"#)
            _ = try d.call("DELETE", "/api/jobs/3")
            let (status, body, _) = try d.call("POST", "/api/jobs/clear-completed")
            #expect(status == 200)
            #expect(body == ["cleared": 1])
            let (_, list, _) = try d.call("GET", "/api/jobs")
            #expect(list.arrayValue?.map { $0["id"] } == [1, 2])
            let (_, next, _) = try d.call("POST", "/api/jobs", #"{"job_type":"countdown"}"#)
            #expect(next["id"] == 4)
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, body, r) = try d.call("PUT", "/api/jobs")
            #expect(status == 405)
            #expect(r.header("Allow") == "GET, POST, HEAD")
            #expect(body["error"] != nil)
            let (s2, _, r2) = try d.call("GET", "/api/jobs/clear-completed/x")
            #expect(s2 == 404)
            #expect(r2.header("Content-Type") == "application/json")
            let (s3, _, r3) = try d.call("PATCH", "/api/stats")
            #expect(s3 == 405)
            #expect(r3.header("Allow") == "GET, HEAD")
        }
    }

    @Test func unknownAPIPathIsJSON404EvenWithAWebRoot() async throws {
        try await offPool {
            let d = try TestDaemon(webRoot: "/tmp")
            let (status, body, _) = try d.call("GET", "/api/nope")
            #expect(status == 404)
            #expect(body == ["error": "Not found: /api/nope"])
        }
    }

    @Test func oversizeBodyIs413AndTheJobIsNotCreated() async throws {
        try await offPool {
            let d = try TestDaemon(maxBody: 2048)
            let big = #"{"job_type":"echo","params":{"message":""# + String(repeating: "x", count: 4000) + #""}}"#
            let (status, body, _) = try d.call("POST", "/api/jobs", big)
            #expect(status == 413)
            #expect(body["error"]?.stringValue?.contains("too large") == true)
            #expect(d.engine.queueStats().total == 0)
        }
    }

    @Test func deeplyNestedBodyIsRefusedCleanly() async throws {
        try await offPool {
            let d = try TestDaemon()
            let nested = #"{"job_type":"echo","params":{"message":"#
                + String(repeating: "[", count: 3000) + String(repeating: "]", count: 3000) + "}}"
            let (status, body, _) = try d.call("POST", "/api/jobs", nested)
            #expect(status == 400)
            #expect(body == ["error": "Invalid JSON body"])
        }
    }

    @Test func objectWithTooManyMembersIsRefused() async throws {
        try await offPool {
            let d = try TestDaemon()
            let keys = (0..<80_000).map { #""\#(String($0, radix: 16))":1"# }.joined(separator: ",")
            let (status, body, _) = try d.call("POST", "/api/jobs", #"{"job_type":"echo","params":{"# + keys + "}}")
            #expect(status == 400)
            #expect(body == ["error": "Invalid JSON body"])
            #expect(d.engine.queueStats().total == 0)
        }
    }

    @Test func jobRunsToCompletionOverHTTP() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (_, created, _) = try d.call("POST", "/api/jobs", #"{"job_type":"prime","params":{"limit":1000}}"#)
            let id = try #require(created["id"]?.intValue)
            // Prime 1000 takes well under a millisecond; wait on the queue's own event.
            let done = AsyncStream<Void>.makeStream()
            let token = d.engine.subscribe { e in if e.jobID == id && e.isFinal { done.continuation.yield() } }
            defer { d.engine.unsubscribe(token) }
            if d.engine.job(id)?.status.isFinished != true {
                var it = done.stream.makeAsyncIterator()
                _ = await it.next()
            }
            let (_, job, _) = try d.call("GET", "/api/jobs/\(id)")
            #expect(job["status"] == "completed")
            #expect(job["progress"] == ["percent": 100, "message": "Complete"])
            #expect(job["result"]?["prime_count"] == 168)
            #expect(job["result"]?["message"] == "Found 168 prime numbers up to 1000")
        }
    }
}
