import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import Testing

/// Fails straight away with a message meant for users.
struct FailingJob: JobType {
    let name = "fail"
    let description = "always fails"
    let parameters: [ParameterSpec] = []
    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        context.progress(10, "about to fail")
        throw JobFailure("it broke <badly>")
    }
}

@Suite(.timeLimit(.minutes(10))) struct LiveTests {
    func daemon() throws -> TestDaemon {
        var registry = JobRegistry.builtIn
        registry.register(FailingJob())
        return try TestDaemon(registry: registry)
    }

    func json(_ text: String?) throws -> JSONValue {
        try JSONValue.parse(try #require(text))
    }

    @Test func webSocketSeesAFailedJobsWholeLife() async throws {
        try await offPool {
            let d = try daemon()
            let ws = try TestWebSocket(port: d.port, path: "/ws/queue")
            let state = try JSONValue.parse(try ws.receiveText() ?? "")
            try ws.send(clientFrame(0x1, Array(#"{"type":"create_job","job_type":"fail"}"#.utf8)))
            var types: [String] = []
            var failed: JSONValue?
            // The job may fail before its ack is sent: wait for both.
            while failed == nil || !types.contains("job_created_ack"), let text = try ws.receiveText() {
                let m = try JSONValue.parse(text)
                types.append(m["type"]?.stringValue ?? "?")
                if m["type"] == "job_failed" { failed = m }
            }
            #expect(state["type"] == "queue_state")
            #expect(state["jobs"] == [])
            #expect(state["job_types"]?.arrayValue?.count == 5)
            #expect(failed == ["type": "job_failed", "data": ["job_id": 1, "error": "it broke <badly>"]])
            #expect(types.first == "job_created")
            #expect(types.contains("job_created_ack") && types.contains("job_started") && types.contains("job_progress"))
            #expect((types.firstIndex(of: "job_started") ?? 99) < (types.firstIndex(of: "job_progress") ?? -1))
        }
    }

    @Test func sseOfAFailedJob() async throws {
        try await offPool {
            let d = try daemon()
            let (_, created, _) = try d.call("POST", "/api/jobs", #"{"job_type":"fail"}"#)
            let id = try #require(created["id"]?.intValue)
            let r = try TestHTTPConnection(port: d.port).request("GET", "/api/jobs/\(id)/progress")
            #expect(r.status == 200)
            #expect(r.header("Content-Type") == "text/event-stream")
            #expect(r.header("Cache-Control") == "no-cache")
            #expect(r.header("X-Accel-Buffering") == "no")
            let text = r.text
            #expect(text.hasPrefix("retry: 2000\n\n"))
            #expect(text.contains("event: status\n"))
            #expect(text.contains("event: failed\ndata: {\"status\":\"failed\",\"error\":\"it broke <badly>\"}\n\n"))
        }
    }

    @Test func unknownJobStreamIs404() async throws {
        try await offPool {
            let d = try daemon()
            let (status, body, _) = try d.call("GET", "/api/jobs/42/progress")
            #expect(status == 404)
            #expect(body == ["error": "Job not found: 42"])
        }
    }

    @Test func commandErrors() async throws {
        try await offPool {
            let d = try daemon()
            let ws = try TestWebSocket(port: d.port, path: "/ws/queue")
            _ = try ws.receiveText()
            let exchanges: [(String, JSONValue)] = [
                (#"{"type":"create_job"}"#, ["type": "error", "message": "Missing 'job_type' field"]),
                (#"{"type":"create_job","job_type":"echo","params":{"delay":99}}"#,
                 ["type": "error", "message": "Parameter 'delay' must be at most 30"]),
                (#"{"type":"cancel_job"}"#, ["type": "error", "message": "Missing 'job_id' field"]),
                (#"{"type":"cancel_job","job_id":77}"#, ["type": "error", "message": "Job not found: 77"]),
                (#"{"type":"ping","ts":12.5}"#, ["type": "pong", "ts": 12.5]),
                (#"{"type":"clear_completed"}"#, ["type": "jobs_cleared_ack", "cleared": 0]),
            ]
            for (command, expected) in exchanges {
                try ws.send(clientFrame(0x1, Array("[not an object]".utf8)))  // ignored
                try ws.send(clientFrame(0x1, Array(command.utf8)))
                var reply = try json(try ws.receiveText())
                while reply["type"] == "jobs_cleared" { reply = try json(try ws.receiveText()) }
                #expect(reply == expected)
            }
        }
    }
}
