import ArgumentParser

/// Command-line flags. Every setting is optional here: a value not given on the
/// command line comes from `JOBRUNNER_*`, then the config file, then the default
/// (see `Settings`), which also checks every value.
struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobrunnerd",
        abstract: "JobRunner: an async job-runner daemon with a REST API, live progress and a web dashboard.",
        discussion: """
            Each setting can also come from the environment (JOBRUNNER_PORT, JOBRUNNER_MAX_BODY, ...) \
            or from the --config file (JSON, one key per flag: {"port": 8080, "max-body": 1048576}). \
            Flags win over the environment, the environment over the file, the file over defaults.

            API tokens: `jobrunnerd token new NAME --scopes read,submit,admin` prints a new token \
            and the entry to add to the config file's "tokens" (docs/security.md).
            """,
        version: jobRunnerVersion
    )

    @Option(help: "JSON config file, one key per flag.") var config: String?
    @Flag(name: .customLong("check-config"), help: "Validate the settings and exit.") var checkConfig = false

    @Option(help: "Address to listen on. (default: 127.0.0.1)") var host: String?
    @Option(help: "Port to listen on; 0 picks a free one and logs it. (default: 8080)") var port: String?
    @Option(help: "Jobs running at once. (default: 3)") var concurrency: String?
    @Option(help: "Directory of the dashboard (default: the installed share directory if present, else ./www).") var www: String?
    @Option(help: "libmicrohttpd worker threads. (default: the core count)") var threads: String?
    @Option(name: .customLong("max-body"), help: "Largest request body in bytes. (default: 1048576)") var maxBody: String?
    @Option(name: .customLong("max-connections"), help: "Connections open at once. (default: 4096)") var maxConnections: String?
    @Option(name: .customLong("max-connections-per-ip"), help: "Connections from one address; 0: no limit. (default: 0)")
    var maxConnectionsPerIP: String?
    @Option(name: .customLong("idle-timeout"), help: "Seconds before an idle HTTP connection is closed; also the most a request's head may take. (default: 60)")
    var idleTimeout: String?
    @Option(name: .customLong("sse-heartbeat"), help: "Seconds between keep-alive comments on SSE streams. (default: 15)")
    var sseHeartbeat: String?
    @Option(name: .customLong("ws-max-message"), help: "Largest WebSocket message from a client, bytes. (default: 65536)")
    var wsMaxMessage: String?
    @Option(name: .customLong("ws-max-queue"), help: "Bytes queued for one WebSocket client before close 1013. (default: 1048576)")
    var wsMaxQueue: String?
    @Option(name: .customLong("ws-ping-interval"), help: "Seconds between WebSocket pings. (default: 25)") var wsPingInterval: String?
    @Option(name: .customLong("allowed-origins"), help: "Comma-separated Origins, besides the daemon's own, allowed to send state-changing requests and open the WebSocket. (default: none)")
    var allowedOrigins: String?
    @Option(help: "SQLite database file, or a PostgreSQL URL (postgresql://user@host/db); ':memory:' keeps jobs in memory. (default: /var/lib/jobrunner/jobs.db)") var db: String?
    @Option(help: "full or normal (see README). (default: full)") var sync: String?
    @Option(name: .customLong("retain-finished"), help: "Prune finished jobs older than 30m/12h/7d, or beyond a count. (default: keep all)")
    var retainFinished: String?
    @Option(name: .customLong("shutdown-grace"), help: "Seconds running jobs may finish after SIGTERM. (default: 10)")
    var shutdownGrace: String?
    @Option(name: .customLong("log-level"), help: "debug, info, warning or error. (default: info)") var logLevel: String?
    @Option(name: .customLong("log-file"), help: "Append logs to this file (reopened on SIGHUP) instead of stderr.") var logFile: String?
    @Option(name: .customLong("access-log"), help: "Log every request: true or false. (default: false)") var accessLog: String?
    @Option(name: .customLong("job-types-dir"), help: "Directory of command job type definitions, one *.json each. (default: /etc/jobrunner/jobs.d)")
    var jobTypesDir: String?
    @Option(name: .customLong("kill-grace"), help: "Seconds between SIGTERM and SIGKILL when a job's process is stopped. (default: 5)")
    var killGrace: String?
    @Option(name: .customLong("max-log-bytes"), help: "Log kept per job; past it the oldest lines go. (default: 1048576)")
    var maxLogBytes: String?

    @Option(help: "tokens or none (default: tokens if the config file lists any, else none, which only a loopback --host allows).")
    var auth: String?
    @Option(name: .customLong("session-lifetime"), help: "How long a dashboard sign-in lasts, e.g. 12h. (default: 12h)")
    var sessionLifetime: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS and wss (reloaded on SIGHUP).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("rate-limit"), help: "Submissions per second per token (or client address when open), e.g. 10/s. (default: none)")
    var rateLimit: String?

    @Option(help: "on or off: serve GET /metrics (Prometheus) and keep its counters. (default: on)") var metrics: String?
    @Option(name: .customLong("node-id"), help: "This daemon's name among the nodes sharing a PostgreSQL database. (default: HOST:PORT)")
    var nodeID: String?
    @Option(name: .customLong("node-timeout"), help: "Seconds without a heartbeat before the leader rescues a node's running jobs. (default: 30)")
    var nodeTimeout: String?

    /// The settings given as flags, by key.
    var given: [String: String] {
        let pairs: [(String, String?)] = [
            ("host", host), ("port", port), ("concurrency", concurrency), ("www", www), ("threads", threads),
            ("max-body", maxBody), ("max-connections", maxConnections), ("max-connections-per-ip", maxConnectionsPerIP),
            ("idle-timeout", idleTimeout), ("sse-heartbeat", sseHeartbeat), ("ws-max-message", wsMaxMessage),
            ("ws-max-queue", wsMaxQueue), ("ws-ping-interval", wsPingInterval), ("allowed-origins", allowedOrigins),
            ("db", db), ("sync", sync), ("retain-finished", retainFinished), ("shutdown-grace", shutdownGrace),
            ("log-level", logLevel), ("log-file", logFile), ("access-log", accessLog),
            ("job-types-dir", jobTypesDir), ("kill-grace", killGrace), ("max-log-bytes", maxLogBytes),
            ("auth", auth), ("session-lifetime", sessionLifetime), ("tls-cert", tlsCert), ("tls-key", tlsKey),
            ("rate-limit", rateLimit), ("metrics", metrics), ("node-id", nodeID), ("node-timeout", nodeTimeout),
        ]
        var out: [String: String] = [:]
        for (k, v) in pairs { if let v { out[k] = v } }
        return out
    }
}

let jobRunnerVersion = "0.1.0"
