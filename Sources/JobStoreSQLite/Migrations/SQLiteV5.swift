import SQLStore

extension SQLiteSchema {
    /// The FTS5 tokenizer of the search index; `JobSearch.tokens` cuts text as
    /// it does (scripts/search-tables.py), so every store answers alike.
    static let searchTokenizer = "unicode61 remove_diacritics 0"

    /// History at scale: text search over params and error (an FTS5 index over
    /// the jobs table's own text, kept by triggers in the transaction that
    /// writes the job; params never change, so an update touches it only when
    /// the error does), and the creation time for time ranges.
    static let v5 = Migration<SQLiteConnection>(5, """
        -- columnsize=0: no per-row sizes (nothing ranks by them), one write less per job.
        CREATE VIRTUAL TABLE jobs_fts USING fts5(params, error, content='jobs', content_rowid='id',
                                                 tokenize='\(searchTokenizer)', columnsize=0);
        INSERT INTO jobs_fts(jobs_fts) VALUES ('rebuild');
        CREATE TRIGGER jobs_fts_insert AFTER INSERT ON jobs BEGIN
            INSERT INTO jobs_fts(rowid, params, error) VALUES (new.id, new.params, new.error);
        END;
        CREATE TRIGGER jobs_fts_delete AFTER DELETE ON jobs BEGIN
            INSERT INTO jobs_fts(jobs_fts, rowid, params, error) VALUES ('delete', old.id, old.params, old.error);
        END;
        CREATE TRIGGER jobs_fts_update AFTER UPDATE OF error ON jobs WHEN old.error IS NOT new.error BEGIN
            INSERT INTO jobs_fts(jobs_fts, rowid, params, error) VALUES ('delete', old.id, old.params, old.error);
            INSERT INTO jobs_fts(rowid, params, error) VALUES (new.id, new.params, new.error);
        END;
        CREATE INDEX jobs_created ON jobs(created_at);
        -- Whether creation times never go down as ids go up (the writer
        -- clears it when a new job breaks that): time ranges then become
        -- id ranges.
        INSERT OR REPLACE INTO meta(key, value) VALUES ('created_in_order', NOT EXISTS (
            SELECT 1 FROM (SELECT created_at < MAX(created_at) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                           AS back FROM jobs) WHERE back));
        """)
}
