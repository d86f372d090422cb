/// The current row of a statement, read by column index.
public protocol SQLRow {
    func int(_ column: Int32) -> Int64
    func double(_ column: Int32) -> Double
    func text(_ column: Int32) -> String
    func isNull(_ column: Int32) -> Bool
    func bool(_ column: Int32) -> Bool
    /// A column written from `SQLValue.bytes`, as text.
    func bytes(_ column: Int32) -> String
}

extension SQLRow {
    @inlinable public func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
    @inlinable public func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }
    @inlinable public func optionalInt(_ column: Int32) -> Int64? { isNull(column) ? nil : int(column) }
}

/// What differs between the SQL of two databases, as far as the shared code
/// writes SQL: placeholders, a read snapshot, and "no limit".
public struct SQLDialect: Sendable {
    /// `$1, $2, ...` (PostgreSQL) instead of `?` (SQLite).
    public let numberedPlaceholders: Bool
    /// Starts a read-only transaction that several reads must agree in (nil:
    /// each statement alone).
    public let snapshot: String?
    /// The LIMIT value that means none.
    public let noLimit: SQLValue

    public init(numberedPlaceholders: Bool, snapshot: String?, noLimit: SQLValue) {
        self.numberedPlaceholders = numberedPlaceholders
        self.snapshot = snapshot
        self.noLimit = noLimit
    }

    /// `sql`, written with `?`, in this dialect (no `?` may stand in a string literal).
    public func sql(_ sql: String) -> String {
        guard numberedPlaceholders else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        for c in sql.unicodeScalars {
            if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// One database connection, used by one thread at a time (the writer's own, or
/// a reader checked out of the pool): what the shared store code needs of a driver.
public protocol SQLConnection: AnyObject {
    associatedtype Row: SQLRow
    static var dialect: SQLDialect { get }
    /// Runs SQL without parameters; several statements allowed. For DDL and
    /// transaction control only, never values.
    func exec(_ sql: String) throws(SQLError)
    /// Runs one statement (in this dialect's placeholders) with `params`,
    /// calling `row` for each result row.
    func run(_ sql: String, _ params: [SQLValue], row: (Row) throws(SQLError) -> Void) throws(SQLError)
}

extension SQLConnection {
    /// A single integer (`SELECT COUNT(*) ...`), 0 for no row.
    @inlinable
    public func scalar(_ sql: String, _ params: [SQLValue] = []) throws(SQLError) -> Int64 {
        var value: Int64 = 0
        try run(sql, params) { row in value = row.int(0) }
        return value
    }

    /// Every row, decoded.
    @inlinable
    public func rows<T>(_ sql: String, _ params: [SQLValue] = [], _ decode: (Row) throws(SQLError) -> T) throws(SQLError) -> [T] {
        var out: [T] = []
        try run(sql, params) { (row: Row) throws(SQLError) in out.append(try decode(row)) }
        return out
    }

    /// Runs `body` in one snapshot (`SQLDialect.snapshot`), or as it is.
    public func snapshot<R>(_ body: (Self) throws(SQLError) -> R) throws(SQLError) -> R {
        guard let begin = Self.dialect.snapshot else { return try body(self) }
        try exec(begin)
        do throws(SQLError) {
            let value = try body(self)
            try exec("COMMIT")
            return value
        } catch {
            if !error.connectionLost { _ = try? exec("ROLLBACK") }
            throw error
        }
    }
}
