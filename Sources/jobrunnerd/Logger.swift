import Glibc
import HTTPServer
import Synchronization

/// One line per event, to stderr or `--log-file`. Under systemd (stderr going to
/// the journal) each line starts with a `<N>` syslog priority, which journald
/// turns into the entry's level.
final class Logger: Sendable {
    typealias Level = ServerConfiguration.LogLevel

    private struct State {
        var minimum: Level
        var path: String?
        var fd: Int32 = 2
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
    /// The file is opened outside the lock; only the swap happens under it.
    func reopen() {
        let path = state.withLock { $0.path }
        var fd: Int32 = 2
        if let path {
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if opened >= 0 { fd = opened }
        }
        let old = state.withLock { s -> Int32 in
            defer { s.fd = fd }
            return s.fd
        }
        if old != 2 && old != fd { close(old) }
    }

    var accessLogEnabled: Bool { state.withLock { $0.accessLog } }

    func log(_ level: Level, _ message: String) {
        let fd = state.withLock { s -> Int32? in level >= s.minimum ? s.fd : nil }
        guard let fd else { return }
        let line: String
        if journal && fd == 2 {
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
        write(line, to: fd)
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

extension ServerConfiguration.LogLevel {
    init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }
}

/// Writes a whole line in one `write(2)`, so lines from different threads never interleave.
func write(_ text: String, to fd: Int32 = 2) {
    var text = text
    text.withUTF8 { buf in
        var offset = 0
        while offset < buf.count {
            let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

func writeStderr(_ text: String) { write(text, to: 2) }
