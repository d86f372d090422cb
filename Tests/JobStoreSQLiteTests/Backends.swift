import Essentials
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

/// Runs a long blocking test body (many synchronous store calls) on a thread of
/// its own. Swift Testing calls synchronous tests on the cooperative pool, which
/// has one thread per core: a body that blocks it for many seconds keeps async
/// tests elsewhere in the process from resuming (on 2 cores, two such bodies
/// stall them all).
func offPool(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
        do {
            try ThreadLauncher.detached(name: "test body") {
                do { try body(); done.resume() } catch { done.resume(throwing: error) }
            }
        } catch {
            done.resume(throwing: error)
        }
    }
}
