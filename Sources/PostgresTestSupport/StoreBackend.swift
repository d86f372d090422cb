import Glibc
// The suites that use a store block on it: `offPool` comes with this module.
@_exported import func HTTPTestSupport.offPool
import JobQueue
import JobStorePostgres
import JobStoreSQLite

/// A store a parameterised suite runs against: the same tests, the same answers.
public struct StoreBackend: Sendable, Equatable {
    /// Its name in test output.
    public let rawValue: String
    private let place: @Sendable () throws -> String
    private let opener: @Sendable (String) throws -> any WebhookOutboxStore

    public init(_ name: String, place: @escaping @Sendable () throws -> String,
                open: @escaping @Sendable (String) throws -> any WebhookOutboxStore) {
        rawValue = name
        self.place = place
        opener = open
    }

    public static let sqlite = StoreBackend("sqlite", place: newSQLitePath) { try SQLiteJobStore(path: $0) }
    /// A database of its own in this process's throwaway cluster (scripts/pg-throwaway).
    public static let postgres = StoreBackend("postgres", place: { try TestPostgres.cluster().newDatabase() }) { try PostgresJobStore(url: $0) }

    /// Every store the conformance suite (Tests/StoreConformanceTests) runs
    /// against, with `arguments: Backend.allCases`: a store is added by one entry.
    public static let allCases: [StoreBackend] = [.sqlite, .postgres]

    public static func == (a: StoreBackend, b: StoreBackend) -> Bool { a.rawValue == b.rawValue }

    /// A new, empty place for a store: a file path or a database URL.
    public func newPlace() throws -> String { try place() }

    /// Opens (creating and migrating) the store at `place`.
    public func open(_ place: String) throws -> any WebhookOutboxStore { try opener(place) }

    /// A store in a new, empty place.
    public func fresh() throws -> any WebhookOutboxStore { try open(newPlace()) }
}

/// A database path in a new temporary directory.
public func newSQLitePath() -> String {
    var template = Array("/tmp/jobrunner-db-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    return dir + "/jobs.db"
}
