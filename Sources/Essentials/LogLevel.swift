/// How much a log line matters; a logger drops lines below its minimum.
public enum LogLevel: Int, Sendable, Comparable {
    case debug, info, warning, error

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}
