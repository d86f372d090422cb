import Glibc
import HTTPServer

/// One line per event on stderr: `LEVEL message`.
struct Logger: Sendable {
    typealias Level = ServerConfiguration.LogLevel
    let minimum: Level

    static func level(named name: String) -> Level? {
        switch name.lowercased() {
        case "debug": .debug
        case "info": .info
        case "warning", "warn": .warning
        case "error": .error
        default: nil
        }
    }

    func log(_ level: Level, _ message: String) {
        guard level >= minimum else { return }
        let tag = switch level {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
        let line = "jobrunnerd \(tag): \(message)\n"
        writeStderr(line)
    }
}

/// Writes a whole line to standard error in one `write(2)`, so lines from
/// different threads never interleave.
func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { buf in
        var offset = 0
        while offset < buf.count {
            let n = write(2, buf.baseAddress! + offset, buf.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
