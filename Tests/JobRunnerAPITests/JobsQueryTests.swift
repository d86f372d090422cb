import HTTPServer
import HTTPTestSupport
import JSON
import Testing

/// `GET /api/jobs?status=...&type=...`: one rule for both filters.
@Suite(.timeLimit(.minutes(10))) struct JobsQueryTests {
    /// One running countdown (capacity 1) and pending jobs of three other types.
    static func daemonWithMixedJobs() throws -> TestDaemon {
        let d = try TestDaemon(capacity: 1)
        for body in [#"{"job_type":"countdown","params":{"seconds":60}}"#, #"{"job_type":"echo"}"#,
                     #"{"job_type":"prime"}"#, #"{"job_type":"echo"}"#, #"{"job_type":"fibonacci"}"#] {
            _ = try d.call("POST", "/api/jobs", body)
        }
        return d
    }

    static func ids(_ d: TestDaemon, _ path: String) throws -> [Int64] {
        let (status, body, _) = try d.call("GET", path)
        #expect(status == 200, "\(path): \(body)")
        return body.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
    }

    @Test func typeAndStatusBothTakeCommaSeparatedLists() async throws {
        try await offPool {
            let d = try Self.daemonWithMixedJobs()
            #expect(try Self.ids(d, "/api/jobs?type=echo") == [2, 4])
            #expect(try Self.ids(d, "/api/jobs?type=echo,prime") == [2, 3, 4])
            #expect(try Self.ids(d, "/api/jobs?type=prime,echo,prime") == [2, 3, 4])
            #expect(try Self.ids(d, "/api/jobs?status=running,pending&type=countdown,fibonacci") == [1, 5])
            #expect(try Self.ids(d, "/api/jobs?status=running&type=echo") == [])
            let (_, _, response) = try d.call("GET", "/api/jobs?type=echo,prime&limit=2")
            #expect(response.header("X-Total-Count") == "3")
            #expect(response.header("Link") == #"</api/jobs?type=echo,prime&limit=2&before_id=3&order=asc>; rel="next""#)
            #expect(try Self.ids(d, "/api/jobs?type=echo,prime&limit=2&before_id=3&order=asc") == [2])
        }
    }

    @Test(arguments: [
        ("type=bogus", "Invalid 'type' value 'bogus': use countdown, prime, fibonacci or echo (comma-separated)"),
        ("type=ECHO", "Invalid 'type' value 'ECHO': use countdown, prime, fibonacci or echo (comma-separated)"),
        ("type=echo,nope", "Invalid 'type' value 'nope': use countdown, prime, fibonacci or echo (comma-separated)"),
        ("status=PENDING", "Invalid 'status' value 'PENDING': use pending, running, completed, failed or cancelled (comma-separated)"),
        ("status=pending,done", "Invalid 'status' value 'done': use pending, running, completed, failed or cancelled (comma-separated)"),
        ("status=pending&type=Echo", "Invalid 'type' value 'Echo': use countdown, prime, fibonacci or echo (comma-separated)"),
    ])
    func unknownNamesAre400NamingTheValue(_ query: String, _ message: String) async throws {
        try await offPool {
            let d = try Self.daemonWithMixedJobs()
            let (status, body, _) = try d.call("GET", "/api/jobs?" + query)
            #expect(status == 400)
            #expect(body == ["error": .string(message)])
        }
    }

    @Test func aLongUnknownValueIsShortenedInTheMessage() async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, body, _) = try d.call("GET", "/api/jobs?type=" + String(repeating: "x", count: 5000))
            #expect(status == 400)
            let message = try #require(body["error"]?.stringValue)
            #expect(message.hasPrefix("Invalid 'type' value '" + String(repeating: "x", count: 100) + "…': use"))
        }
    }

    @Test func emptyFiltersMeanAny() async throws {
        try await offPool {
            let d = try Self.daemonWithMixedJobs()
            #expect(try Self.ids(d, "/api/jobs?type=&status=") == [1, 2, 3, 4, 5])
        }
    }
}
