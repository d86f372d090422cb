import Glibc
import Essentials
import Synchronization

/// One line per event, to stderr or `--log-file`. Under systemd (stderr going to
/// the journal) each line starts with a `<N>` syslog priority, which journald
/// turns into the entry's level.
///
/// SIGHUP reopens the file while other threads are logging. A writer takes a
/// reference to the current `LogFile` under the lock and writes outside it; the
/// descriptor closes only when the last reference goes, so a reopen never closes
/// a descriptor a write is about to use (whose number the next `accept` or
/// `open` would otherwise reuse, sending the line into a client's socket).
final class Logger: Sendable {
    typealias Level = LogLevel

    private struct State {
        var minimum: Level
        var path: String?
        var file = LogFile.stderr
        var accessLog: Bool
    }

    private let state: Mutex<State>
    private let journal: Bool

    init(minimum: Level, path: String?, accessLog: Bool, journal: Bool) {
        state = Mutex(State(minimum: minimum, path: path, accessLog: accessLog))
        self.journal = journal
        reopen()
    }

    /// Applies reloaded settings and reopens the file (after log rotation).
    func reconfigure(minimum: Level, path: String?, accessLog: Bool) {
        state.withLock { s in
            s.minimum = minimum
            s.path = path
            s.accessLog = accessLog
        }
        reopen()
    }

    /// Opens the log file anew (SIGHUP after rotation); stderr when there is none.
    /// The file is opened outside the lock and only the swap happens under it;
    /// the old file is released after the lock, and closes once no write uses it.
    func reopen() {
        let path = state.withLock { $0.path }
        var file = LogFile.stderr
        if let path {
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if opened >= 0 { file = LogFile(fd: opened) }
        }
        // The old file is handed out of the lock and released there.
        _ = state.withLock { s -> LogFile in
            defer { s.file = file }
            return s.file
        }
    }

    var accessLogEnabled: Bool { state.withLock { $0.accessLog } }

    func log(_ level: Level, _ message: String) {
        guard let file = state.withLock({ s in level >= s.minimum ? s.file : nil }) else { return }
        let line: String
        if journal && file.fd == 2 {
            let priority = switch level {
            case .debug: 7
            case .info: 6
            case .warning: 4
            case .error: 3
            }
            line = "<\(priority)>\(message)\n"
        } else {
            line = "jobrunnerd \(Self.name(level)): \(message)\n"
        }
        // The reference must outlive the write, not just the read of `fd`.
        withExtendedLifetime(file) { write(line, to: file.fd) }
    }

    static func name(_ level: Level) -> String {
        switch level {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }
}

/// A descriptor the logger writes to, closed when the last reference goes
/// (stderr is never closed).
private final class LogFile: Sendable {
    static let stderr = LogFile(fd: 2)

    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { if fd != 2 { close(fd) } }
}

/// Writes a whole line in one `write(2)`, so lines from different threads never interleave.
func write(_ text: String, to fd: Int32 = 2) {
    var text = text
    text.withUTF8 { buf in
        var offset = 0
        while offset < buf.count {
            let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

public func writeStderr(_ text: String) { write(text, to: 2) }
