import CPostgres
import Essentials
import Glibc
import SQLStore

/// A failed libpq call. `message` is safe to show to clients: the server's
/// primary message and SQLSTATE, or a fixed sentence for a lost connection
/// (never the connection string, which may hold a password).
typealias PostgresError = SQLError
/// A value bound to a `$n` placeholder (`.bytes` in binary format into a `bytea` column).
typealias PostgresValue = SQLValue

extension SQLError {
    static let unreachable = "the PostgreSQL server cannot be reached"
}

/// One libpq connection; every raw libpq call of the store is in this file.
///
/// Not `Sendable`: a connection is used by one thread at a time (the writer's
/// own, or a reader checked out of the pool).
final class PostgresConnection: SQLConnection {
    static let dialect = SQLDialect(numberedPlaceholders: true, snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", noLimit: .null)
    private let conn: OpaquePointer

    /// Connects to `url` (a `postgresql://` URI or a `key=value` string); what the
    /// URL sets wins over the defaults given here (a 10 s connect timeout).
    init(url: String) throws(PostgresError) {
        // Keywords are processed in order and the last one wins, so `dbname`
        // (expanded as the URL) comes last and may override the defaults.
        // This end of a TCP connection: keepalives on an idle one, and unsent
        // or unacknowledged data for 15 s at most, so a server gone without a
        // word (the network cut) is noticed within about 15 s, not hours.
        let keys = ["connect_timeout", "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
                    "keepalives_count", "tcp_user_timeout", "dbname"]
        // Names this daemon in pg_stat_activity.
        let name = "jobrunnerd pid \(getpid()) on \(hostName())"
        let values = ["10", name, "1", "5", "2", "3", "15000", url]
        let handle: OpaquePointer? = withCStrings(keys) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let handle else { throw PostgresError(message: "out of memory", state: nil, connectionLost: true) }
        guard PQstatus(handle) == CONNECTION_OK else {
            let detail = Self.connectionDetail(String(cString: PQerrorMessage(handle)))
            PQfinish(handle)
            throw PostgresError(message: PostgresError.unreachable, state: nil, connectionLost: true, detail: detail)
        }
        conn = handle
        // Notices (e.g. "relation already exists, skipping") are not ours to print.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // The server's end of a TCP connection: a peer gone without a word (its
        // machine lost, the network cut) is noticed within about 15 s, and its
        // session (its locks, an open transaction) ends (ignored on a Unix socket).
        try execute("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"
                    + (serverVersion >= 12 ? "; SET tcp_user_timeout = 15000" : ""))
    }

    deinit { PQfinish(conn) }

    var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }

    /// The socket, for waiting on notifications with `poll`.
    var socket: Int32 { PQsocket(conn) }

    /// Reads what the server sent (after `poll` says the socket is readable) and
    /// returns the notifications (`LISTEN`) that arrived, oldest first.
    func notifications() throws(PostgresError) -> [(channel: String, payload: String)] {
        guard PQconsumeInput(conn) == 1 else { throw lost() }
        var out: [(channel: String, payload: String)] = []
        while let n = PQnotifies(conn) {
            out.append((String(cString: n.pointee.relname), String(cString: n.pointee.extra)))
            PQfreemem(n)
        }
        return out
    }

    /// The server's major version number (e.g. 15).
    var serverVersion: Int { Int(PQserverVersion(conn)) / 10000 }

    /// Runs SQL without parameters; several statements allowed (the last one's
    /// rows are returned). For DDL and transaction control only, never values.
    @discardableResult
    func execute(_ sql: String) throws(PostgresError) -> PostgresResult {
        try check(PQexec(conn, sql))
    }

    func exec(_ sql: String) throws(PostgresError) { try execute(sql) }

    func run(_ sql: String, _ params: [PostgresValue], row: (PostgresRow) throws(PostgresError) -> Void) throws(PostgresError) {
        let result = try run(sql, params)
        for i in 0..<result.rows { try row(PostgresRow(result: result, index: i)) }
    }

    /// Runs one statement with `$1...$n` bound to `params` (always `PQexecParams`).
    @discardableResult
    func run(_ sql: String, _ params: [PostgresValue] = []) throws(PostgresError) -> PostgresResult {
        let result = Self.withEncoded(params) { n, values, lengths, formats in
            PQexecParams(conn, sql, n, nil, values, lengths, formats, 0)
        }
        return try check(result)
    }

    /// Statements per pipeline sync: their answers (a few dozen bytes each) stay
    /// far below a socket buffer, so neither side waits on the other while sending.
    static let pipelineDepth = 256

    /// Runs statements whose rows are not needed in libpq's pipeline mode: sent
    /// together, answered together, one round trip per `pipelineDepth` instead of
    /// one each. The first failure is thrown (the statements after it did not run).
    /// Returns the rows each statement touched (for guarded updates).
    @discardableResult
    func runAll(_ statements: [(sql: String, params: [PostgresValue])]) throws(PostgresError) -> [Int] {
        var affected: [Int] = []
        affected.reserveCapacity(statements.count)
        var start = 0
        while start < statements.count {
            let end = min(start + Self.pipelineDepth, statements.count)
            if end - start == 1 {
                affected.append(try run(statements[start].sql, statements[start].params).affected)
            } else {
                try pipeline(statements[start..<end], &affected)
            }
            start = end
        }
        return affected
    }

    private func pipeline(_ statements: ArraySlice<(sql: String, params: [PostgresValue])>, _ affected: inout [Int]) throws(PostgresError) {
        guard PQenterPipelineMode(conn) == 1 else { throw lost() }
        defer { _ = PQexitPipelineMode(conn) }
        for statement in statements {
            let sent = Self.withEncoded(statement.params) { n, values, lengths, formats in
                PQsendQueryParams(conn, statement.sql, n, nil, values, lengths, formats, 0)
            }
            guard sent == 1 else { throw lost() }
        }
        guard PQpipelineSync(conn) == 1 else { throw lost() }
        // Every answer is read (up to the sync) before the connection is used again.
        var failure: PostgresError?
        for _ in statements {
            guard let result = PQgetResult(conn) else { throw lost() }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_ABORTED {
                PQclear(result)
            } else if failure == nil {
                do throws(PostgresError) { affected.append(try check(result).affected) } catch { failure = error }
            } else {
                PQclear(result)
            }
            // The NULL that ends each statement's results.
            while let extra = PQgetResult(conn) { PQclear(extra) }
        }
        guard let sync = PQgetResult(conn) else { throw lost() }
        let synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC
        PQclear(sync)
        if let failure { throw failure }
        guard synced else { throw lost() }
    }

    private func lost() -> PostgresError {
        PostgresError(message: PostgresError.unreachable, state: nil, connectionLost: true)
    }

    /// Every value in one buffer (text NUL-terminated, bytes by length), then a
    /// pointer per value into it: one allocation however many parameters.
    private static func withEncoded<R>(_ params: [PostgresValue],
                                       _ body: (Int32, [UnsafePointer<CChar>?], [Int32], [Int32]) -> R) -> R {
        var buffer: [CChar] = []
        var offsets: [Int?] = []
        offsets.reserveCapacity(params.count)
        var lengths: [Int32] = []
        var formats: [Int32] = []
        lengths.reserveCapacity(params.count)
        formats.reserveCapacity(params.count)
        func append(_ s: String, binary: Bool) {
            offsets.append(buffer.count)
            buffer.append(contentsOf: s.utf8.lazy.map { CChar(bitPattern: $0) })
            lengths.append(binary ? Int32(s.utf8.count) : 0)
            formats.append(binary ? 1 : 0)
            if !binary { buffer.append(0) }
        }
        for p in params {
            switch p {
            case .null:
                offsets.append(nil)
                lengths.append(0)
                formats.append(0)
            case .int(let v): append(String(v), binary: false)
            case .double(let v): append(text(v), binary: false)
            case .bool(let v): append(v ? "t" : "f", binary: false)
            case .text(let v): append(withoutNUL(v), binary: false)
            case .bytes(let v): append(v, binary: true)
            }
        }
        buffer.append(0) // never empty, so the base address exists
        return buffer.withUnsafeBufferPointer { b in
            let values: [UnsafePointer<CChar>?] = offsets.map { o in o.map { b.baseAddress! + $0 } }
            return body(Int32(params.count), values, lengths, formats)
        }
    }

    private func check(_ result: OpaquePointer?) throws(PostgresError) -> PostgresResult {
        guard let result else {
            throw PostgresError(message: isBroken ? PostgresError.unreachable : "out of memory", state: nil, connectionLost: isBroken)
        }
        let status = PQresultStatus(result)
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK { return PostgresResult(result) }
        defer { PQclear(result) }
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
        // Class 08 is a connection exception; 57P01-57P03: the server shuts down or restarts.
        let lost = isBroken || state?.hasPrefix("08") == true || state?.hasPrefix("57P") == true
        if lost { throw PostgresError(message: PostgresError.unreachable, state: state, connectionLost: true) }
        let message = primary.map { "\($0) (SQLSTATE \(state ?? "?"))" } ?? PostgresError.unreachable
        throw PostgresError(message: message, state: state, connectionLost: false)
    }

    /// libpq's connection message names the socket or host and why; it never holds
    /// the password. Only its first line.
    private static func connectionDetail(_ raw: String) -> String? {
        let first = raw.split(separator: "\n").first.map(String.init) ?? ""
        return first.isEmpty ? nil : first
    }

    /// PostgreSQL's spelling of a double (Swift's `description` is the shortest
    /// form that reads back exactly; infinities and NaN are spelled differently).
    static func text(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v < 0 ? "-Infinity" : "Infinity" }
        return v.description
    }

    /// `text` cannot hold NUL: a job's fields keep everything else (U+FFFD stands in).
    private static func withoutNUL(_ s: String) -> String {
        s.utf8.contains(0) ? String(s.unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : Character($0) }) : s
    }
}

/// One row of a result, for the code every SQL store shares.
struct PostgresRow: SQLRow {
    let result: PostgresResult
    let index: Int
    func int(_ c: Int32) -> Int64 { result.int(index, c) }
    func double(_ c: Int32) -> Double { result.double(index, c) }
    func text(_ c: Int32) -> String { result.text(index, c) }
    func isNull(_ c: Int32) -> Bool { result.isNull(index, c) }
    func bool(_ c: Int32) -> Bool { result.bool(index, c) }
    func bytes(_ c: Int32) -> String { result.bytes(index, c) }
}

/// Rows of one statement, read in text format by (row, column).
///
/// Owns the libpq result and frees it when dropped.
final class PostgresResult {
    private let result: OpaquePointer
    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    var rows: Int { Int(PQntuples(result)) }

    func row(_ i: Int) -> PostgresRow { PostgresRow(result: self, index: i) }

    func isNull(_ row: Int, _ col: Int32) -> Bool { PQgetisnull(result, Int32(row), col) == 1 }

    func text(_ row: Int, _ col: Int32) -> String {
        guard let p = PQgetvalue(result, Int32(row), col) else { return "" }
        let n = Int(PQgetlength(result, Int32(row), col))
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
    }

    func optionalText(_ row: Int, _ col: Int32) -> String? { isNull(row, col) ? nil : text(row, col) }
    func int(_ row: Int, _ col: Int32) -> Int64 { Int64(text(row, col)) ?? 0 }
    func double(_ row: Int, _ col: Int32) -> Double { Self.double(text(row, col)) }
    func optionalDouble(_ row: Int, _ col: Int32) -> Double? { isNull(row, col) ? nil : double(row, col) }
    func bool(_ row: Int, _ col: Int32) -> Bool { text(row, col) == "t" }
    /// Rows an UPDATE or DELETE touched.
    var affected: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    /// A `bytea` column (text format `\x` + hex) as UTF-8 text.
    func bytes(_ row: Int, _ col: Int32) -> String {
        guard let p = PQgetvalue(result, Int32(row), col) else { return "" }
        let n = Int(PQgetlength(result, Int32(row), col))
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { base in
            guard n >= 2, base[0] == UInt8(ascii: "\\"), base[1] == UInt8(ascii: "x") else {
                return String(decoding: UnsafeBufferPointer(start: base, count: n), as: UTF8.self)
            }
            var out: [UInt8] = []
            out.reserveCapacity((n - 2) / 2)
            var i = 2
            while i + 1 < n {
                out.append(Self.nibble(base[i]) << 4 | Self.nibble(base[i + 1]))
                i += 2
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: 0
        }
    }

    static func double(_ s: String) -> Double {
        switch s {
        case "Infinity": .infinity
        case "-Infinity": -.infinity
        case "NaN": .nan
        default: Double(s) ?? 0
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings (libpq's keyword lists).
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { for c in copies { free(c) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
