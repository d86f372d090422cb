import Essentials
import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Testing

/// The stores the suite runs against (PostgresTestSupport).
typealias Backend = StoreBackend

extension StoreBackend: CustomTestStringConvertible {
    public var testDescription: String { rawValue }
}

