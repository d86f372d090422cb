import SQLStore

extension SQLiteSchema {
    /// Schedules, and the schedule that made a job.
    static let v4 = Migration<SQLiteConnection>(4, """
        ALTER TABLE jobs ADD COLUMN schedule TEXT;
        CREATE INDEX jobs_schedule ON jobs(schedule, id) WHERE schedule IS NOT NULL;
        CREATE TABLE schedules (name TEXT PRIMARY KEY, body TEXT NOT NULL);
        """)
}
