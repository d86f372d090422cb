import Glibc
import JSON
import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Testing

/// Older PostgreSQL databases migrate: their jobs are found, their words cut anew.
@Suite(.timeLimit(.minutes(10))) struct PostgresMigrationTests {
    func ids(_ page: JobPage) -> [Int64] { page.jobs.map(\.id) }

    /// A PostgreSQL database of version 1 (before the webhook outbox and the
    /// search words) migrates: its jobs are found by text and time, and
    /// deliveries are kept.
    @Test(arguments: [true, false]) func aVersion1PostgreSQLDatabaseMigratesAndItsJobsAreSearchable(inOrder: Bool) async throws {
        try await offPool {
            let jobs = searchJobs(inOrder: inOrder)
            let cluster = try TestPostgres.cluster()
            let url = try cluster.newDatabase()
            let seed = try PostgresJobStore(url: url)
            try commit(seed, jobs.map { .upsert($0) })
            seed.close()
            try cluster.execute(url, """
                DROP TABLE webhook_deliveries; DROP INDEX jobs_words; DROP INDEX jobs_created; ALTER TABLE jobs DROP COLUMN words;
                ALTER TABLE jobs DROP COLUMN node; DROP INDEX jobs_claim; DROP TABLE nodes; DROP SEQUENCE job_ids; DROP TABLE leader_lease;
                DELETE FROM meta WHERE key = 'created_in_order'; UPDATE schema_version SET version = 1
                """)
            let migrated = try PostgresJobStore(url: url)
            var q = JobQuery()
            q.search = try JobSearch("disk")
            q.createdAfter = 1_764_000_500
            let page = try migrated.query(q)
            #expect(!page.jobs.isEmpty)
            #expect(ids(page) == ids(q.run(over: jobs)) && page.total == q.run(over: jobs).total)
            var range = JobQuery()
            range.createdAfter = 1_764_000_300
            range.createdBefore = 1_764_000_900
            #expect(ids(try migrated.query(range)) == ids(range.run(over: jobs)))
            try commit(migrated, [.webhookOutbox(WebhookDelivery(id: "d1", url: "http://127.0.0.1:9/hook", event: .jobCompleted,
                                                                  createdAt: 5, subject: .job(jobs[0]), renderer: { _ in Array("{}".utf8) }))])
            #expect(try migrated.dueWebhookDeliveries(url: "http://127.0.0.1:9/hook", limit: 5).map(\.id) == ["d1"])
            migrated.close()
            // Opened again: nothing left to migrate, the rows are there.
            let again = try PostgresJobStore(url: url)
            defer { again.close() }
            #expect(ids(try again.query(q)) == ids(page))
            #expect(ids(try again.query(range)) == ids(range.run(over: jobs)))
            #expect(try again.webhookDeliveries(limit: 5, before: nil).count == 1)
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
