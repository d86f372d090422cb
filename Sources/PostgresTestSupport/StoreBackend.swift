import Glibc
// The suites that use a store block on it: `offPool` comes with this module.
@_exported import func HTTPTestSupport.offPool
import JobQueue
import JobStorePostgres
import JobStoreSQLite

/// The stores a parameterised suite runs against: the same tests, the same answers.
public enum StoreBackend: String, CaseIterable, Sendable {
    case sqlite
    /// A database of its own in this process's throwaway cluster (scripts/pg-throwaway).
    case postgres

    /// A new, empty place for a store: a file path or a database URL.
    public func newPlace() throws -> String {
        switch self {
        case .sqlite: newSQLitePath()
        case .postgres: try TestPostgres.cluster().newDatabase()
        }
    }

    /// Opens (creating and migrating) the store at `place`.
    public func open(_ place: String) throws -> any WebhookOutboxStore {
        switch self {
        case .sqlite: try SQLiteJobStore(path: place)
        case .postgres: try PostgresJobStore(url: place)
        }
    }

    /// A store in a new, empty place.
    public func fresh() throws -> any WebhookOutboxStore { try open(newPlace()) }
}

/// A database path in a new temporary directory.
public func newSQLitePath() -> String {
    var template = Array("/tmp/jobrunner-db-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    return dir + "/jobs.db"
}
