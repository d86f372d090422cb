import HTTPTestSupport
import JSON
import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Testing

/// Every store cuts and folds search text as the SQLite index does, down to
/// letters whose case rules differ between Unicode versions and languages.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SearchTokensTests {

    static let words = ["İstanbul", "ISTANBUL", "istanbul", "Straße", "STRASSE", "GROẞ", "ΣΊΣΥΦΟΣ", "σίσυφος",
                        "e\u{301}te", "\u{e9}te", "ǅemal", "\u{212A}elvin", "ﬁsh", "Ⅻ", "ﬀ", "µ", "ſ"]
    static let queries = ["İstanbul", "istanbul", "ISTANBUL", "i\u{307}stanbul", "straße", "STRASSE", "groß", "GROẞ*",
                          "σίσυφοσ", "ΣΊΣΥΦΟς", "σίσυφος", "e\u{301}te", "éte", "ǆemal", "kelvin", "ﬁsh", "fish",
                          "ⅻ", "μ", "s", "st*"]

    /// Memory, SQLite and PostgreSQL find the same jobs for letters whose case
    /// is folded differently by different rules (dotted I, sharp s, final sigma,
    /// combining marks, compatibility letters).
    @Test(arguments: Backend.allCases) func lettersWithSpecialCaseRulesAgreeInEveryStore(_ backend: Backend) async throws {
        try await offPool {
            var jobs: [Job] = []
            for (i, word) in Self.words.enumerated() {
                jobs.append(Job(id: Int64(i + 1), type: "echo", params: ["message": .string("from \(word) today")],
                                createdAt: Double(i + 1)))
            }
            let s = try SearchTests.store(jobs, backend)
            defer { s.close() }
            var found = 0
            for text in Self.queries {
                var q = JobQuery()
                q.search = try JobSearch(text)
                q.limit = 100
                let sql = try s.query(q).jobs.map(\.id)
                let memory = q.run(over: jobs).jobs.map(\.id)
                #expect(sql == memory, "\(text)")
                found += memory.count
            }
            #expect(found > Self.queries.count / 2)
            // İstanbul is found by itself, not by a plain i (SQLite leaves U+0130 as it is).
            var q = JobQuery()
            q.search = try JobSearch("İstanbul")
            #expect(q.run(over: jobs).jobs.map(\.id) == [1])
            q.search = try JobSearch("σίσυφος")
            #expect(Set(q.run(over: jobs).jobs.map(\.id)) == [7, 8])
        }
    }

}
