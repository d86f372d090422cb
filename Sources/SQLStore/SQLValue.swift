/// A value bound to a placeholder (`?` or `$n`): values never go into SQL text.
public enum SQLValue: Sendable {
    case null
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case text(String)
    /// Text that may hold NUL bytes (a job's log line): PostgreSQL takes it in
    /// binary format into a `bytea` column, SQLite as text by length.
    case bytes(String)

    public static func optional(_ d: Double?) -> SQLValue { d.map(SQLValue.double) ?? .null }
    public static func optional(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }
    public static func optional(_ i: Int?) -> SQLValue { i.map { .int(Int64($0)) } ?? .null }
}

/// A failed database call. `message` is safe to show to clients (never a
/// connection string, which may hold a password).
public struct SQLError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// SQLite's result code (0 for the other drivers).
    public let code: Int32
    /// The SQLSTATE PostgreSQL sent, if any.
    public let state: String?
    /// True when the connection is gone (the server stopped, the network broke):
    /// the caller reconnects before its next attempt.
    public let connectionLost: Bool
    /// For the operator only (the start-up error): the driver's reason for a
    /// failed connection, which names the host or socket.
    public var detail: String?

    public init(code: Int32, message: String) {
        self.message = message
        self.code = code
        state = nil
        connectionLost = false
        detail = nil
    }

    public init(message: String, state: String?, connectionLost: Bool, detail: String? = nil) {
        self.message = message
        code = 0
        self.state = state
        self.connectionLost = connectionLost
        self.detail = detail
    }

    public var description: String { message }
    /// The message with the detail, for the daemon's own output.
    public var operatorMessage: String { detail.map { message + ": " + $0 } ?? message }
}
