import Glibc
import JSON
import JobQueue
import JobStorePostgres
@testable import JobStoreSQLite
import PostgresTestSupport
import Testing

/// What only SQLite does: its file (a schema version, a file that is no
/// database), its migrations, and the tokenizer every store copies.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SQLiteStoreTests {
    func ids(_ page: JobPage) -> [Int64] { page.jobs.map(\.id) }

    @Test func newSchemaVersionIsSetAndNewerIsRefused() async throws {
        try await offPool {
            let path = tempDB()
            try SQLiteJobStore(path: path).close()
            let rc = system("sqlite3 \(path) 'PRAGMA user_version = 99'")
            #expect(rc == 0)
            #expect {
                try SQLiteJobStore(path: path)
            } throws: { error in
                (error as? StoreError)?.message.contains("schema version 99 is newer") == true
            }
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefused() async throws {
        try await offPool {
            let path = tempDB()
            let f = fopen(path, "w")
            fputs(String(repeating: "this is not a database\n", count: 200), f)
            fclose(f)
            #expect {
                try SQLiteJobStore(path: path)
            } throws: { error in
                let message = (error as? StoreError)?.message ?? ""
                return message.contains(path) && message.contains("not a database")
            }
        }
    }

    @Test func aVersion4DatabaseMigratesAndItsJobsAreSearchable() async throws {
        try await offPool {
            let path = tempDB()
            // The same rows in the layout of version 4: no search index, no time
            // index, no webhook outbox (version 6).
            let seed = try SQLiteJobStore(path: tempDB())
            try commit(seed, searchJobs().map { .upsert($0) })
            seed.close()
            let rc = system("""
                sqlite3 \(seed.path) "DROP TRIGGER jobs_fts_insert; DROP TRIGGER jobs_fts_delete; DROP TRIGGER jobs_fts_update; \
                DROP TABLE jobs_fts; DROP INDEX jobs_created; DROP TABLE webhook_deliveries; PRAGMA user_version = 4;" && cp \(seed.path) \(path)
                """)
            #expect(rc == 0)
            let migrated = try SQLiteJobStore(path: path)
            defer { migrated.close() }
            var q = JobQuery()
            q.search = try JobSearch("disk")
            q.createdAfter = 1_764_000_500
            let page = try migrated.query(q)
            #expect(!page.jobs.isEmpty)
            #expect(ids(page) == ids(q.run(over: searchJobs())))
            let probe = system("test \"$(sqlite3 \(path) 'PRAGMA user_version')\" = \(SQLiteJobStore.schemaVersion)")
            #expect(probe == 0)
        }
    }

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
}
