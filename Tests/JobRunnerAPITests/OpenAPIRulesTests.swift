import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import Testing

/// A small seeded generator: the random cases are the same on every run.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The document's constraints are the handlers' own: what the document calls
/// valid, the daemon takes (so a client, or schemathesis, that follows it is
/// not refused), and what it calls invalid, the daemon refuses.
@Suite(.timeLimit(.minutes(10))) struct OpenAPIRulesTests {
    static func schemas() throws -> JSONValue {
        try #require(try OpenAPITests.document()["components"]?["schemas"])
    }

    static func regex(_ pattern: JSONValue?) throws -> Regex<AnyRegexOutput> {
        try Regex(try #require(pattern?.stringValue))
    }

    @Test func cronPatternTakesWhatTheParserTakes() async throws {
        try await offPool {
            let regex = try Self.regex(try Self.schemas()["Cron"]?["pattern"])
            let engine = JobEngine()
            defer { engine.stop() }
            func accepted(_ cron: String) -> Bool { (try? engine.previewCron(cron, zone: "UTC", count: 1)) != nil }
            func documented(_ cron: String) -> Bool { cron.wholeMatch(of: regex) != nil }
            for cron in ["* * * * *", "30 3 * * *", "*/15 * * * *", "0 9 * * MON-FRI", "0 0 1 JAN *", "0 0 * * 1-5", "05 04 * * sun",
                         "5,10,15 0-23/2 1-31/7 jan-jun FRI-0", "0 0 * * 7", "0 12 * * Sat", "59 23 31 12 6", "0 */2 * * MON-SUN", "@daily", "@yearly"] {
                #expect(documented(cron) && accepted(cron), "\(cron)")
            }
            for cron in ["61 * * * *", "5-3 * * * *", "* * * *", "5/10 * * * *", "*/0 * * * *", "*/61 * * * *", "0 0 0 * *", "0 0 * 13 *",
                         "0 0 * * 8", "@every", "MON * * * *", "0 0 * * TUE-MON", "0 0 * MAR-JAN *", "1,,2 * * * *", "@daily 1"] {
                #expect(!documented(cron) && !accepted(cron), "\(cron)")
            }
            // Random expressions from good and bad pieces of each field: whatever the pattern takes, the parser takes.
            let pieces = [
                ["*", "*/5", "*/60", "*/61", "0", "59", "60", "05", "005", "5-3", "3-5", "0-59", "2-2", "x", "5/2", "1-5/7", "-"],
                ["*", "*/24", "*/25", "0", "23", "24", "0-23/2", "5-3", "3-5", "07"],
                ["*", "1", "31", "32", "0", "1-31/7", "3-1", "01", "*/31", "*/32"],
                ["*", "1", "12", "13", "JAN", "jan", "Jan", "jAN", "JAN-MAR", "MAR-JAN", "jan-jun", "1-12/3", "*/12", "*/13", "JANUARY"],
                ["*", "0", "7", "8", "SUN", "sat", "FRI-SUN", "FRI-0", "MON-FRI", "TUE-MON", "1-5", "5-0", "*/7", "*/8", "MON-7"],
            ]
            var random = SplitMix(state: 20_261_207)
            var taken = 0
            for _ in 0..<3000 {
                let fields = pieces.map { pool in
                    (0..<Int.random(in: 1...2, using: &random)).map { _ in pool.randomElement(using: &random)! }.joined(separator: ",")
                }
                let cron = fields.joined(separator: " ")
                if documented(cron) {
                    taken += 1
                    #expect(accepted(cron), "\(cron) matches the document's pattern but is refused")
                }
            }
            #expect(taken > 100)
        }
    }

    @Test func zonesAreTheDaemonsZones() async throws {
        try await offPool {
            let zone = try #require(try Self.schemas()["TimeZone"])
            // ^(?:Africa/Abidjan|...|Zulu)$, names escaped where a regex needs it (Etc/GMT\+5).
            let pattern = try #require(zone["pattern"]?.stringValue)
            #expect(pattern.hasPrefix("^(?:") && pattern.hasSuffix(")$"))
            let names = pattern.dropFirst(4).dropLast(2).split(separator: "|").map { String($0.filter { $0 != "\\" }) }
            let regex = try Regex(pattern)
            for name in names { #expect(name.wholeMatch(of: regex) != nil, "\(name)") }
            for other in ["Factory", "Europe/Nowhere", "europe/berlin", "UTC ", "Etc/GMT5"] { #expect(other.wholeMatch(of: regex) == nil, "\(other)") }
            #expect(names.count > 300 && names.contains("Europe/Berlin") && names.contains("UTC") && !names.contains("Factory"))
            let engine = JobEngine()
            defer { engine.stop() }
            for name in names { #expect((try? engine.previewCron("@daily", zone: name, count: 1)) != nil, "\(name)") }
        }
    }

    @Test func searchPatternTakesOnlyWhatTheSearchTakes() async throws {
        try await offPool {
            let doc = try OpenAPITests.document()
            let q = doc["paths"]?["/api/jobs"]?["get"]?["parameters"]?.arrayValue?.first { $0["name"] == "q" }
            let regex = try Self.regex(q?["schema"]?["pattern"])
            let pieces = ["disk", "full", "a1", "nightly*", "\"exit code\"", "\"x\"*", "*", "-", "\"", "é", "", " ", "  "]
            var random = SplitMix(state: 42)
            var taken = 0
            for _ in 0..<2000 {
                let text = (0..<Int.random(in: 1...20, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined(separator: " ")
                // An empty q is no filter (the handler skips it before the search).
                guard !text.isEmpty, text.wholeMatch(of: regex) != nil, text.count <= 200 else { continue }
                taken += 1
                #expect((try? JobSearch(text)) != nil, "\(text)")
            }
            #expect(taken > 20)
        }
    }

    /// The progress stream's events: a `oneOf` by event name, each with the JSON its data holds.
    @Test func progressEventsAreDescribedByName() async throws {
        try await offPool {
            let doc = try OpenAPITests.document()
            let content = doc["paths"]?["/api/jobs/{id}/progress"]?["get"]?["responses"]?["200"]?["content"]?["text/event-stream"]
            #expect(content?["schema"] == ["$ref": "#/components/schemas/ProgressEvent"])
            let event = try #require(try Self.schemas()["ProgressEvent"])
            let kinds = try #require(event["oneOf"]?.arrayValue)
            let names = kinds.compactMap { $0["properties"]?["event"]?["const"]?.stringValue }
            #expect(Set(names) == ["status", "progress", "log", "retrying", "complete", "failed", "cancelled"])
            for kind in kinds {
                #expect(kind["properties"]?["data"]?["contentMediaType"] == "application/json")
                #expect(kind["properties"]?["data"]?["contentSchema"] != nil)
            }
        }
    }

    /// Sign-in is documented where there is something to sign in to (tokens),
    /// with its refusals; an open daemon answers every sign-in with 400 and
    /// leaves it out.
    @Test func signInIsOfferedWithTokensOnly() async throws {
        try await offPool {
            let open = try OpenAPITests.document()
            #expect(open["paths"]?["/api/session"]?["post"] == nil)
            #expect(open["paths"]?["/api/session"]?["get"] != nil && open["paths"]?["/api/session"]?["delete"] != nil)
            let d = try TestDaemon()
            let (status, _, _) = try d.call("POST", "/api/session", #"{"token":"x"}"#)
            #expect(status == 400)

            let tokens = try OpenAPITests.documentWithTokens()
            let signIn = try #require(tokens["paths"]?["/api/session"]?["post"])
            #expect(signIn["responses"]?["429"] != nil && signIn["responses"]?["401"] != nil)
            let body = signIn["requestBody"]?["content"]?["application/json"]?["schema"]
            #expect(body?["additionalProperties"] == false && body?["properties"]?["token"]?["maxLength"] == 1024)
        }
    }

    /// The WebSocket is no HTTP operation: it is described beside the paths.
    @Test func theQueueSocketIsDescribedBesideThePaths() async throws {
        try await offPool {
            let doc = try OpenAPITests.document()
            #expect(doc["paths"]?["/ws/queue"] == nil)
            let socket = try #require(doc["x-websockets"]?["/ws/queue"])
            #expect(socket["x-scope"] == "read")
            let headers = socket["parameters"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(headers == ["Upgrade", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Key"])
        }
    }

    /// `backoff` as the document allows it (initial and max on either side of a
    /// meeting point, either left out) is taken by the options parser.
    @Test func backoffsTheDocumentAllowsAreTaken() async throws {
        try await offPool {
            let branches = try #require(try Self.schemas()["Option.backoff"]?["anyOf"]?.arrayValue)
            #expect(branches.count == 5)
            let d = try TestDaemon()
            for branch in branches {
                func number(_ v: JSONValue?) -> Double? {
                    switch v {
                    case .int(let n)?: Double(n)
                    case .double(let d)?: d
                    default: nil
                    }
                }
                let b = try #require(number(branch["properties"]?["initial"]?["maximum"]))
                #expect(number(branch["properties"]?["max"]?["minimum"]) == b)
                let maxRequired = branch["required"] == ["max"]
                var bodies = [#"{"initial":\#(b),"max":\#(b)}"#, #"{"initial":\#(b / 2),"max":\#(b)}"#, #"{"max":\#(b)}"#]
                if !maxRequired { bodies += [#"{"initial":\#(b)}"#, "{}"] }
                for backoff in bodies {
                    let (status, body, _) = try d.call("POST", "/api/jobs", #"{"job_type":"echo","delay":60,"backoff":\#(backoff)}"#)
                    #expect(status == 201, "\(backoff): \(body)")
                }
            }
        }
    }

    /// String params never hold U+0000; the rest of their schema stays.
    @Test func stringParamsRefuseNUL() async throws {
        try await offPool {
            let schemas = try Self.schemas()
            let message = try #require(schemas["Params.echo"]?["properties"]?["message"])
            #expect(message["not"] == ["pattern": "\u{0}"] && message["maxLength"] == 200)
            #expect(schemas["Params.countdown"]?["properties"]?["seconds"]?["not"] == nil)
        }
    }

    /// A bulk action's body: the filters of GET /api/jobs and no others, and a
    /// count unless it is a dry run.
    @Test func bulkBodiesNeedACountOrADryRun() async throws {
        try await offPool {
            let doc = try OpenAPITests.document()
            let body = try #require(doc["paths"]?["/api/jobs/bulk/cancel"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"])
            #expect(body["anyOf"] == [["required": ["expected_count"]], ["required": ["dry_run"], "properties": ["dry_run": ["const": true]]]])
            let filter = try #require(body["properties"]?["filter"])
            #expect(filter["additionalProperties"] == false)
            let status = try Self.regex(filter["properties"]?["status"]?["anyOf"]?.arrayValue?.first?["pattern"])
            for good in ["", "failed", "failed,cancelled", ",pending,,running,"] { #expect(good.wholeMatch(of: status) != nil, "\(good)") }
            for bad in ["failedcancelled", "done", "failed;cancelled", "Failed"] { #expect(bad.wholeMatch(of: status) == nil, "\(bad)") }
            let d = try TestDaemon()
            for good in ["failed,cancelled", ",pending,,running,"] {
                let (code, _, _) = try d.call("POST", "/api/jobs/bulk/cancel", #"{"filter":{"status":"\#(good)"},"dry_run":true}"#)
                #expect(code == 200, "\(good)")
            }
        }
    }
}
