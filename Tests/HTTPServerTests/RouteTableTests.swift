import HTTPServer
import Testing

/// The one path matcher: the router asks which route answers (or 405), a
/// policy asks which entry of a method a path is, before routing.
@Suite(.timeLimit(.minutes(10))) struct RouteTableTests {
    static let table: RouteTable<String> = {
        var t = RouteTable<String>()
        t.add("GET", "/jobs/:id", "get")
        t.add("DELETE", "/jobs/:id", "cancel")
        t.add("POST", "/jobs/clear", "clear")
        t.add("GET", "//jobs//:id/log", "log")
        return t
    }()

    @Test func literalsBeatParametersAndOtherMethodsAre405() {
        guard case .found(let i, let params) = Self.table.match(method: "HEAD", path: "/jobs/7") else { Issue.record("no match"); return }
        #expect(Self.table.entries[i].value == "get" && params == ["id": "7"])
        guard case .found(let j, _) = Self.table.match(method: "POST", path: "/jobs/clear") else { Issue.record("no match"); return }
        #expect(Self.table.entries[j].value == "clear")
        guard case .methodNotAllowed(let allow) = Self.table.match(method: "GET", path: "/jobs/clear") else {
            Issue.record("GET /jobs/clear is not a 405")
            return
        }
        #expect(allow == ["POST"])
        guard case .methodNotAllowed(let allow2) = Self.table.match(method: "PUT", path: "/jobs/7") else { Issue.record("no 405"); return }
        #expect(allow2 == ["GET", "DELETE", "HEAD"])
        guard case .notFound = Self.table.match(method: "GET", path: "/jobs") else { Issue.record("matched /jobs"); return }
        guard case .found(let k, let p) = Self.table.match(method: "GET", path: "/jobs/7/log/") else { Issue.record("no log"); return }
        #expect(Self.table.entries[k].pattern == "/jobs/:id/log" && p == ["id": "7"])
    }

    @Test func anEntryOfOneMethodIgnoresTheOthers() {
        // The router answers 405 here; a policy still finds GET's own entry.
        #expect(Self.table.entry(method: "GET", path: "/jobs/clear")?.value == "get")
        #expect(Self.table.entry(method: "HEAD", path: "/jobs/7")?.value == "get")
        #expect(Self.table.entry(method: "DELETE", path: "/jobs/clear")?.value == "cancel")
        #expect(Self.table.entry(method: "POST", path: "/jobs/7") == nil)
        #expect(Self.table.entry(method: "GET", path: "/elsewhere") == nil)
    }
}
