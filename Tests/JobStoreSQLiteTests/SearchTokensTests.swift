import HTTPTestSupport
import JSON
import JobQueue
import JobStorePostgres
@testable import JobStoreSQLite
import PostgresTestSupport
import Testing

/// Every store cuts and folds search text as the SQLite index does, down to
/// letters whose case rules differ between Unicode versions and languages.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SearchTokensTests {
    /// Each code point above ASCII, between two `q`s: `JobSearch.tokens` gives
    /// what SQLite's tokenizer puts in its index, one token or two.
    @Test func everyCodePointIsCutAndFoldedAsSQLiteDoes() async throws {
        try await offPool {
            let db = try SQLiteConnection(path: ":memory:")
            try db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='\(SQLiteJobStore.searchTokenizer)');"
                           + "CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');")
            let points = (UInt32(0x80)...0x10FFFF).compactMap(Unicode.Scalar.init)
            var mismatches: [String] = []
            for start in stride(from: 0, to: points.count, by: 20_000) {
                let batch = points[start..<min(start + 20_000, points.count)]
                var text = ""
                var expected: [String] = []
                for p in batch {
                    let word = "q" + String(p) + "q"
                    text += word + " "
                    expected += JobSearch.tokens(word)
                }
                try db.execute("DELETE FROM t")
                try db.run("INSERT INTO t(rowid, x) VALUES (1, ?)", [.text(text)])
                var indexed: [String] = []
                try db.run("SELECT term FROM v WHERE doc = 1 ORDER BY offset") { row in indexed.append(row.text(0)) }
                if indexed != expected {
                    let at = (0..<min(indexed.count, expected.count)).first { indexed[$0] != expected[$0] } ?? min(indexed.count, expected.count)
                    mismatches.append("batch from U+\(String(batch.first!.value, radix: 16)): index \(indexed[at...].prefix(2)) vs \(expected[at...].prefix(2))")
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        }
    }

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

    /// A PostgreSQL database whose words an older tokenizer wrote gets them
    /// written anew when opened; ASCII-only jobs are left as they are.
    @Test func postgreSQLWordsFromAnOlderTokenizerAreWrittenAnew() async throws {
        try await offPool {
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let seed = try PostgresJobStore(url: url)
            let jobs = [Job(id: 1, type: "echo", params: ["message": "ΣΊΣΥΦΟΣ İstanbul"], createdAt: 1),
                        Job(id: 2, type: "echo", params: ["message": "plain ascii"], createdAt: 2)]
            try commit(seed, jobs.map { .upsert($0) })
            seed.close()
            // What the version 1 rules (Swift's lower-casing) had stored.
            try cluster.execute(url, """
                UPDATE jobs SET words = $$'message' 'σίσυφος' 'i̇stanbul'$$::tsvector WHERE id = 1;
                DELETE FROM meta WHERE key = 'words_tokenizer'
                """)
            let reopened = try PostgresJobStore(url: url)
            defer { reopened.close() }
            for text in ["σίσυφοσ", "İstanbul", "plain"] {
                var q = JobQuery()
                q.search = try JobSearch(text)
                #expect(try reopened.query(q).jobs.map(\.id) == q.run(over: jobs).jobs.map(\.id), "\(text)")
                #expect(!q.run(over: jobs).jobs.isEmpty)
            }
        }
    }
}
