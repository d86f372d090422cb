import ArgumentParser

/// Command-line flags of the daemon.
struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobrunnerd",
        abstract: "JobRunner: an async job-runner daemon with a REST API, live progress and a web dashboard.",
        version: jobRunnerVersion
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one and logs it).")
    var port = 8080

    @Option(help: "Jobs running at once.")
    var concurrency = 3

    @Option(help: "Directory of the dashboard's static files (default: the installed share directory if present, else ./www).")
    var www: String?

    @Option(help: "libmicrohttpd worker threads (default: the core count).")
    var threads: Int?

    @Option(name: .customLong("max-body"), help: "Largest request body in bytes.")
    var maxBody = 1 << 20

    @Option(name: .customLong("max-connections"), help: "Connections open at once.")
    var maxConnections = 4096

    @Option(name: .customLong("max-connections-per-ip"), help: "Connections from one address (0: no limit).")
    var maxConnectionsPerIP = 0

    @Option(name: .customLong("idle-timeout"), help: "Seconds before an idle HTTP connection is closed.")
    var idleTimeout = 60

    @Option(name: .customLong("sse-heartbeat"), help: "Seconds between keep-alive comments on SSE streams.")
    var sseHeartbeat = 15.0

    @Option(name: .customLong("ws-max-message"), help: "Largest WebSocket frame or message from a client, bytes (close 1009 above).")
    var wsMaxMessage = 64 * 1024

    @Option(name: .customLong("ws-max-queue"), help: "Bytes queued for one WebSocket client before it is closed with 1013.")
    var wsMaxQueue = 1 << 20

    @Option(name: .customLong("ws-ping-interval"), help: "Seconds between WebSocket pings; a client silent for two intervals is dropped.")
    var wsPingInterval = 25.0

    @Option(name: .customLong("allowed-origins"),
            help: "Comma-separated Origins allowed to open the WebSocket (default: any). Others get 403.")
    var allowedOrigins: String?

    @Option(help: "SQLite database file (':memory:' keeps jobs in memory only).")
    var db = "/var/lib/jobrunner/jobs.db"

    @Option(help: "full: every commit is fsynced before anyone is answered; normal: a power cut may lose the last commits.")
    var sync = "full"

    @Option(name: .customLong("retain-finished"),
            help: "Prune finished jobs older than a duration (30m, 12h, 7d) or beyond a count (10000). Default: keep all.")
    var retainFinished: String?

    @Option(name: .customLong("log-level"), help: "debug, info, warning or error.")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 1024") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256") }
        guard maxBody >= 1024 else { throw ValidationError("--max-body must be at least 1024") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard maxConnectionsPerIP >= 0 else { throw ValidationError("--max-connections-per-ip must not be negative") }
        guard idleTimeout >= 1 else { throw ValidationError("--idle-timeout must be at least 1") }
        guard sseHeartbeat >= 0.01 else { throw ValidationError("--sse-heartbeat must be positive") }
        guard wsMaxMessage >= 125 else { throw ValidationError("--ws-max-message must be at least 125") }
        guard wsMaxQueue >= 4096 else { throw ValidationError("--ws-max-queue must be at least 4096") }
        guard wsPingInterval >= 0.01 else { throw ValidationError("--ws-ping-interval must be positive") }
        guard sync == "full" || sync == "normal" else { throw ValidationError("--sync must be full or normal") }
        if let retainFinished, Retention(retainFinished) == nil {
            throw ValidationError("--retain-finished must be a duration like 30m, 12h or 7d, or a count like 10000")
        }
        guard !db.isEmpty else { throw ValidationError("--db must not be empty") }
        guard Logger.level(named: logLevel) != nil else {
            throw ValidationError("--log-level must be one of debug, info, warning, error")
        }
    }
}

let jobRunnerVersion = "0.1.0"

extension Options {
    var origins: [String] {
        (allowedOrigins ?? "").split(separator: ",").map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// `--retain-finished`: by age or by count.
enum Retention: Equatable {
    case olderThan(seconds: Double)
    case keepNewest(Int)

    init?(_ text: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        if let unit = text.last, let factor = units[unit], let n = Double(text.dropLast()), n > 0 {
            self = .olderThan(seconds: n * factor)
        } else if let n = Int(text), n >= 0 {
            self = .keepNewest(n)
        } else {
            return nil
        }
    }
}
