import HTTPServer
import HTTPTestSupport
import JSON
import Testing

/// `GET /api/jobs` with queue, time range and text search; the bulk actions.
@Suite(.timeLimit(.minutes(10))) struct HistoryTests {
    /// Capacity 1: one countdown runs; the rest wait (echo jobs in two queues).
    static func daemon() throws -> TestDaemon {
        let d = try TestDaemon(capacity: 1)
        for body in [#"{"job_type":"countdown","params":{"seconds":60}}"#,
                     #"{"job_type":"echo","params":{"message":"backup main"},"queue":"nightly"}"#,
                     #"{"job_type":"echo","params":{"message":"backup other"},"queue":"nightly"}"#,
                     #"{"job_type":"echo","params":{"message":"report Q4"},"queue":"reports"}"#,
                     #"{"job_type":"echo","params":{"message":"backups galore"}}"#] {
            let (status, _, _) = try d.call("POST", "/api/jobs", body)
            #expect(status == 201)
        }
        return d
    }

    @Test func queueTimeAndSearchFilter() async throws {
        try await offPool {
            let d = try Self.daemon()
            #expect(try JobsQueryTests.ids(d, "/api/jobs?queue=nightly") == [2, 3])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?queue=reports,nightly") == [2, 3, 4])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?queue=,reports,,") == [4])
            // At most 100 distinct names (repeats count once).
            #expect(try JobsQueryTests.ids(d, "/api/jobs?queue=" + (0..<99).map { "q\($0)" }.joined(separator: ",") + ",q0,reports") == [4])
            let (status, body, _) = try d.call("GET", "/api/jobs?queue=" + (0...100).map { "q\($0)" }.joined(separator: ","))
            #expect(status == 400 && body["error"] == "Invalid 'queue': at most 100 queue names")
            #expect(try JobsQueryTests.ids(d, "/api/jobs?q=backup") == [2, 3])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?q=backup*") == [2, 3, 5])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?q=%22backup%20main%22") == [2])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?q=back*&queue=default") == [5])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?created_after=2000-01-01T00:00:00Z&created_before=2999-01-01") == [1, 2, 3, 4, 5])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?created_after=32503680000") == [])
            let (_, _, response) = try d.call("GET", "/api/jobs?q=backup*&limit=2")
            #expect(response.header("X-Total-Count") == "3")
            #expect(response.header("Link") == #"</api/jobs?q=backup%2A&limit=2&before_id=3&order=asc>; rel="next""#)
            #expect(try JobsQueryTests.ids(d, "/api/jobs?q=backup%2A&limit=2&before_id=3&order=asc") == [2])
        }
    }

    /// The `Link` to the next page repeats each time as the request gave it:
    /// a time Swift prints in exponent form (`1e-05`) or an ISO time with an
    /// offset must lead to the next page, not to a 400.
    @Test(arguments: ["created_after=0.00001", "created_after=1970-01-01T00:00:00.00001Z",
                      "created_after=0.0000001&created_before=2999-01-01T00:00:00.5%2B01:00"])
    func theNextPageLinkKeepsTimesAsGiven(_ times: String) async throws {
        try await offPool {
            let d = try Self.daemon()
            let (status, body, response) = try d.call("GET", "/api/jobs?\(times)&limit=2")
            #expect(status == 200, "\(body)")
            let link = try #require(response.header("Link"))
            #expect(link.hasPrefix("</api/jobs?") && link.hasSuffix(#">; rel="next""#), "\(link)")
            let next = String(link.dropFirst().prefix { $0 != ">" })
            #expect(next.contains(times.replacingColons()), "\(next)")
            #expect(try JobsQueryTests.ids(d, next) == [2, 3])
        }
    }

    @Test(arguments: [
        ("created_after=yesterday", "Invalid 'created_after' value 'yesterday': use epoch seconds or ISO 8601 (2025-11-29T14:30:00Z)"),
        ("created_before=2025-11-29T14:30", "Invalid 'created_before' value '2025-11-29T14:30': use epoch seconds or ISO 8601 (2025-11-29T14:30:00Z)"),
        ("created_before=2025-02-30", "Invalid 'created_before' value '2025-02-30': use epoch seconds or ISO 8601 (2025-11-29T14:30:00Z)"),
        ("created_after=-5", "Invalid 'created_after' value '-5': use epoch seconds or ISO 8601 (2025-11-29T14:30:00Z)"),
        ("created_after=1e9", "Invalid 'created_after' value '1e9': use epoch seconds or ISO 8601 (2025-11-29T14:30:00Z)"),
        ("queue=Nightly", "Invalid 'queue' value 'Nightly': queue names match ^[a-z0-9_-]{1,64}$ (comma-separated)"),
        ("queue=a,,B", "Invalid 'queue' value 'B': queue names match ^[a-z0-9_-]{1,64}$ (comma-separated)"),
        ("q=%22%22", "Invalid 'q': must contain a letter or digit"),
        ("q=a%20b%20c%20d%20e%20f%20g%20h%20i%20j%20k%20l%20m%20n%20o%20p%20q", "Invalid 'q': at most 16 words"),
    ])
    func badFiltersAre400(_ query: String, _ message: String) async throws {
        try await offPool {
            let d = try TestDaemon()
            let (status, body, _) = try d.call("GET", "/api/jobs?" + query)
            #expect(status == 400)
            #expect(body == ["error": .string(message)])
        }
    }

    @Test func isoTimesWithZonesAndFractions() async throws {
        try await offPool {
            let d = try TestDaemon()
            _ = try d.call("POST", "/api/jobs", #"{"job_type":"echo"}"#)
            // One instant four ways: all before the job's creation.
            for t in ["2020-01-01T01:00:00Z", "2020-01-01T02:00:00%2B01:00", "2020-01-01T00:30:00.000-00:30", "1577840400"] {
                #expect(try JobsQueryTests.ids(d, "/api/jobs?created_after=\(t)") == [1], "\(t)")
                #expect(try JobsQueryTests.ids(d, "/api/jobs?created_before=\(t)") == [], "\(t)")
            }
            let (status, _, _) = try d.call("GET", "/api/jobs?q=" + String(repeating: "x", count: 201))
            #expect(status == 400)
        }
    }

    @Test func bulkCancelAsksForTheConfirmedCount() async throws {
        try await offPool {
            let d = try Self.daemon()
            let filter = #""filter":{"queue":"nightly"}"#
            var (status, body, _) = try d.call("POST", "/api/jobs/bulk/cancel", "{\(filter),\"dry_run\":true}")
            #expect(status == 200 && body == ["action": "cancel", "count": 2])
            (status, body, _) = try d.call("POST", "/api/jobs/bulk/cancel", "{\(filter)}")
            #expect(status == 400 && body["error"]?.stringValue?.hasPrefix("Missing 'expected_count'") == true)
            (status, body, _) = try d.call("POST", "/api/jobs/bulk/cancel", "{\(filter),\"expected_count\":3}")
            #expect(status == 409)
            #expect(body == ["error": "The filter now selects 2 jobs to cancel, not 3: confirm again", "count": 2])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?status=cancelled") == [])
            (status, body, _) = try d.call("POST", "/api/jobs/bulk/cancel", "{\(filter),\"expected_count\":2}")
            #expect(status == 200 && body == ["action": "cancel", "count": 2, "done": 2])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?status=cancelled") == [2, 3])
            // Retry brings them back; delete takes only finished jobs.
            (status, body, _) = try d.call("POST", "/api/jobs/bulk/retry", #"{"filter":{"status":["cancelled","pending"]},"expected_count":2}"#)
            #expect(status == 200 && body == ["action": "retry", "count": 2, "done": 2])
            #expect(try JobsQueryTests.ids(d, "/api/jobs?status=pending") == [2, 3, 4, 5])
            (status, body, _) = try d.call("POST", "/api/jobs/bulk/delete", #"{"filter":{"q":"backup*"},"dry_run":true}"#)
            #expect(status == 200 && body == ["action": "delete", "count": 0])
            _ = try d.call("POST", "/api/jobs/bulk/cancel", #"{"filter":{"q":"backup*"},"expected_count":3}"#)
            (status, body, _) = try d.call("POST", "/api/jobs/bulk/delete", #"{"filter":{"q":"backup*"},"expected_count":3}"#)
            #expect(status == 200 && body == ["action": "delete", "count": 3, "done": 3])
            #expect(try JobsQueryTests.ids(d, "/api/jobs") == [1, 4])
            let (_, stats, _) = try d.call("GET", "/api/stats")
            #expect(stats["queue"]?["total"] == 2 && stats["queue"]?["cancelled"] == 0)
        }
    }

    /// A time as a JSON number with a fraction is the number sent, also one
    /// small enough to print in exponent form.
    @Test func bulkTimesAsNumbersWithFractions() async throws {
        try await offPool {
            let d = try Self.daemon()
            for (filter, count) in [(#"{"created_after":0.00001}"#, 5), (#"{"created_after":0.0000001,"created_before":99999999999.5}"#, 5),
                                    (#"{"created_before":0.00001}"#, 0)] {
                let (status, body, _) = try d.call("POST", "/api/jobs/bulk/cancel", #"{"filter":\#(filter),"dry_run":true}"#)
                #expect(status == 200, "\(filter): \(body)")
                #expect(body["count"]?.intValue == Int64(count), "\(filter): \(body)")
            }
        }
    }

    @Test(arguments: [
        (#"{"filter":[],"expected_count":1}"#, "Invalid 'filter' field: must be an object"),
        (#"{"filter":{},"expected_count":-1}"#, "Invalid 'expected_count' field: must be a non-negative integer"),
        (#"{"filter":{"colour":"red"},"expected_count":1}"#, "Unknown filter: colour (known: status, type, queue, schedule, created_after, created_before, q)"),
        (#"{"filter":{"status":"bogus"},"expected_count":1}"#, "Invalid 'status' value 'bogus': use pending, running, completed, failed or cancelled (comma-separated)"),
        (#"{"filter":{"q":5},"expected_count":1}"#, "Invalid filter 'q': must be a string"),
        ("{\"filter\":{\"queue\":[" + (0...100).map { "\"q\($0)\"" }.joined(separator: ",") + "]},\"dry_run\":true}",
         "Invalid 'queue': at most 100 queue names"),
        (#"{"filter":{"created_after":1e300},"dry_run":true}"#, "Invalid 'created_after' value: epoch seconds from 0 to 100000000000"),
        (#"{"filter":{"created_before":-0.5},"dry_run":true}"#, "Invalid 'created_before' value: epoch seconds from 0 to 100000000000"),
        (#"{"filter":{},"expected":1}"#, "Unknown field: expected (known: filter, expected_count, dry_run)"),
        ("nope", "Invalid JSON body"),
    ])
    func badBulkBodiesAre400(_ body: String, _ message: String) throws {
        let d = try TestDaemon()
        let (status, answer, _) = try d.call("POST", "/api/jobs/bulk/cancel", body)
        #expect(status == 400)
        #expect(answer == ["error": .string(message)])
    }

    @Test func moreThanTheLimitIsRefusedAndNothingChanges() async throws {
        try await offPool {
            let d = try TestDaemon(capacity: 1)
            for _ in 0..<10_001 { try d.engine.submit(type: "countdown", params: ["seconds": 60]) }
            let (status, body, _) = try d.call("POST", "/api/jobs/bulk/cancel", #"{"filter":{},"expected_count":10001}"#)
            #expect(status == 400)
            #expect(body["error"] == "The filter selects more than 10000 jobs to cancel: narrow it (at most 10000 per bulk action)")
            #expect(d.engine.queueStats().pending == 10_000 && d.engine.queueStats().cancelled == 0)
        }
    }
}

private extension String {
    /// The Link percent-encodes `:` (and `+`).
    func replacingColons() -> String {
        var out = ""
        for c in self { out += c == ":" ? "%3A" : String(c) }
        return out
    }
}
