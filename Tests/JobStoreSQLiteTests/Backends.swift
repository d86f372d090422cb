import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Testing

/// The stores the suite runs against: the same tests, the same answers.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    /// A database of its own in this process's throwaway cluster (scripts/pg-throwaway).
    case postgres

    var testDescription: String { rawValue }

    /// A new, empty place for a store: a file path or a database URL.
    func newPlace() throws -> String {
        switch self {
        case .sqlite: tempDB()
        case .postgres: try TestPostgres.cluster().newDatabase()
        }
    }

    /// Opens (creating and migrating) the store at `place`.
    func open(_ place: String) throws -> any JobStore {
        switch self {
        case .sqlite: try SQLiteJobStore(path: place)
        case .postgres: try PostgresJobStore(url: place)
        }
    }

    /// A store in a new, empty place.
    func fresh() throws -> any JobStore { try open(newPlace()) }
}
