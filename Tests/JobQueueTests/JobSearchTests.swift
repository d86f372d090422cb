import JobQueue
import Testing

/// The search rules both stores share: tokens, whole words, `*` prefixes, phrases.
@Suite(.timeLimit(.minutes(10))) struct JobSearchTests {
    @Test func tokensAreRunsOfLettersAndDigitsWithoutCase() {
        #expect(JobSearch.tokens(#"{"path":"/var/Disk-Usage","n":42}"#) == ["path", "var", "disk", "usage", "n", "42"])
        #expect(JobSearch.tokens("Héllo WÖRLD volume3 日本語") == ["héllo", "wörld", "volume3", "日本語"])
        #expect(JobSearch.tokens("--- ...") == [])
    }

    @Test func wordsPrefixesAndPhrases() throws {
        let q = try JobSearch(#"backup* "disk full" main-db "x y"* z"#)
        #expect(q.phrases.map(\.tokens) == [["backup"], ["disk", "full"], ["main", "db"], ["x", "y"], ["z"]])
        #expect(q.phrases.map(\.prefix) == [true, false, false, true, false])
        #expect(q.ftsQuery == #""backup"* AND "disk full" AND "main db" AND "x y"* AND "z""#)
    }

    @Test func matchingFollowsTheRules() throws {
        let params = #"{"message":"nightly backups of main-db"}"#
        func hit(_ text: String, error: String? = nil) throws -> Bool { try JobSearch(text).matches(params: params, error: error) }
        #expect(try hit("backups") && !hit("backup") && hit("back*"))
        #expect(try hit("main-db") && hit("\"main db\"") && !hit("\"db main\""))
        #expect(try hit("NIGHTLY message"))                         // keys are text too
        #expect(try !hit("nightly quota"))                          // every word must match
        #expect(try hit("nightly quota", error: "Quota exceeded"))  // in the params or the error
        #expect(try !hit("\"backups quota\"", error: "quota"))      // a phrase stays within one of them
    }

    @Test func limits() {
        #expect(throws: JobSearch.Invalid.self) { try JobSearch("") }
        #expect(throws: JobSearch.Invalid.self) { try JobSearch(" \"\" - * ") }
        #expect(throws: JobSearch.Invalid.self) { try JobSearch(String(repeating: "a", count: 201)) }
        #expect(throws: JobSearch.Invalid.self) { try JobSearch((1...17).map(String.init).joined(separator: " ")) }
        #expect((try? JobSearch((1...16).map(String.init).joined(separator: " "))) != nil)
        // One character with any number of combining marks is still bounded.
        let heavy = "a" + String(repeating: "\u{301}", count: 100_000)
        #expect(heavy.count == 1)
        #expect(throws: JobSearch.Invalid.self) { try JobSearch(heavy) }
        // 200 characters of up to four bytes each are within the limits.
        #expect((try? JobSearch(String(repeating: "a\u{301}", count: 200))) != nil)
        #expect((try? JobSearch(String(repeating: "\u{20000}", count: 200))) != nil)
    }
}
