import CSQLite
import SQLStore

/// A failed SQLite call: the result code and SQLite's message.
typealias SQLiteError = SQLError
typealias SQLiteValue = SQLValue

/// One SQLite connection; every raw SQLite call of the project is in this file.
///
/// Not `Sendable`: a connection is used by one thread at a time (the writer's own,
/// or a reader checked out of the pool).
final class SQLiteConnection: SQLConnection {
    static let dialect = SQLDialect(numberedPlaceholders: false, snapshot: nil, noLimit: .int(-1))

    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(code: rc, message: message)
        }
        db = handle
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        for s in statements.values { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
    }

    var isReadOnly: Bool { sqlite3_db_readonly(db, "main") == 1 }

    func exec(_ sql: String) throws(SQLiteError) { try execute(sql) }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws(SQLiteError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// Runs one statement with bindings, calling `row` for each result row.
    func run(_ sql: String, _ bindings: [SQLiteValue] = [], row: (SQLiteRow) throws(SQLiteError) -> Void = { _ in }) throws(SQLiteError) {
        let stmt = try prepared(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        for (i, value) in bindings.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .int(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .double(let v): rc = sqlite3_bind_double(stmt, index, v)
            case .bool(let v): rc = sqlite3_bind_int64(stmt, index, v ? 1 : 0)
            case .text(let v), .bytes(let v):
                // By length, not up to the first NUL: text may hold NUL bytes (a job's log).
                var copy = v
                rc = copy.withUTF8 { b in
                    b.withMemoryRebound(to: CChar.self) { c in
                        // An empty string still needs a non-NULL pointer (NULL would bind SQL NULL).
                        guard let base = c.baseAddress else { return CSQLite_bind_text(stmt, index, "", 0) }
                        return CSQLite_bind_text(stmt, index, base, Int32(c.count))
                    }
                }
            }
            guard rc == SQLITE_OK else { throw failure(rc) }
        }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw failure(rc) }
            try row(SQLiteRow(stmt: stmt))
        }
    }

    private func prepared(_ sql: String) throws(SQLiteError) -> OpaquePointer {
        if let s = statements[sql] { return s }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw failure(rc) }
        statements[sql] = stmt
        return stmt
    }

    private func failure(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)))
    }
}

/// The current row of a statement, read by column index.
struct SQLiteRow: SQLRow {
    let stmt: OpaquePointer

    func int(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, i) }
    func double(_ i: Int32) -> Double { sqlite3_column_double(stmt, i) }
    func isNull(_ i: Int32) -> Bool { sqlite3_column_type(stmt, i) == SQLITE_NULL }
    func bool(_ i: Int32) -> Bool { int(i) != 0 }
    func bytes(_ i: Int32) -> String { text(i) }

    func text(_ i: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, i) else { return "" }
        let n = Int(sqlite3_column_bytes(stmt, i))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
}
