import Essentials
import JobRunnerAPI

/// Every setting of the daemon, one entry each, in the order `--help` and the
/// README list them (and values are checked in). An entry here is a flag, a
/// `JOBRUNNER_*` variable, a config file key, a line of `--help` and a row of
/// the README's table ("## Flags", which a test compares with `SettingsDocs`);
/// the code reads it as `settings.maxBody`.
public struct SettingTable: Sendable {
    // Listening and HTTP.
    public let host = Setting("host", "127.0.0.1", .text, "address to listen on (IPv4, IPv6 or a name)")
    public let port = Setting("port", 8080, .integer(0...65535), "port; `0` picks a free one and logs it")
    public let concurrency = Setting("concurrency", 3, .integer(1...1024), "jobs running at once")
    public let www = Setting("www", nil, SettingParser.text.optional, "directory of the dashboard's files",
                             default: "the installed `share/jobrunner/www` if present, else `./www`", placeholder: "DIR")
    public let threads = Setting("threads", nil, SettingParser.integer(1...256).optional, "worker threads serving HTTP (libmicrohttpd's)",
                                 default: "the core count")
    public let maxBody = Setting("max-body", 1 << 20, .integer(1024...(1 << 30)), "largest request body, bytes (413 above)")
    public let maxConnections = Setting("max-connections", 4096, .integer(1...1_000_000), "connections open at once")
    public let maxConnectionsPerIP = Setting("max-connections-per-ip", 0, .integer(0...1_000_000),
                                             "connections from one address; `0`: no limit")
    public let idleTimeout = Setting("idle-timeout", 60, .integer(1...86400),
                                     "seconds before an idle keep-alive connection closes; also the most a request's head (request line and headers) may take")
    public let sseHeartbeat = Setting("sse-heartbeat", 15.0, .seconds(atLeast: 0.01), "seconds between `: keep-alive` comments on SSE streams")
    public let wsMaxMessage = Setting("ws-max-message", 64 * 1024, .integer(125...(64 << 20)),
                                      "largest WebSocket frame or message from a client, bytes (1009 above)")
    public let wsMaxQueue = Setting("ws-max-queue", 1 << 20, .integer(4096...(1 << 30)),
                                    "bytes queued for one WebSocket client (besides one `queue_state`) before it is closed with 1013")
    public let wsPingInterval = Setting("ws-ping-interval", 25.0, .seconds(atLeast: 0.01),
                                        "seconds between `{\"type\":\"ping\"}` and protocol pings; a client silent for two intervals is dropped")
    public let allowedOrigins = Setting("allowed-origins", [String](), .list,
                                        "comma-separated `Origin`s, besides the daemon's own, allowed to send state-changing requests and open the WebSocket (see \"Cross-site requests\")")

    // Storage.
    public let db = Setting("db", "/var/lib/jobrunner/jobs.db", .text,
                            "SQLite file (its directory is created), or a `postgresql://user@host/db` URL ([docs/postgresql.md](docs/postgresql.md)); `:memory:` keeps jobs in memory",
                            placeholder: "PATH")
    public let sync = Setting("sync", "full", .oneOf(["full": "full", "normal": "normal"]),
                              "`full`: every commit is fsynced before anyone is answered; `normal`: a power cut may lose the last commits")
    public let retainFinished = Setting("retain-finished", nil, .retention,
                                        "prune finished jobs older than a duration (`30m`, `12h`, `7d`) or beyond a count",
                                        default: "keep all", reload: .live)
    public let shutdownGrace = Setting("shutdown-grace", 10.0, .seconds(atLeast: 0), "seconds running jobs may finish after SIGTERM")

    // Logs.
    public let logLevel = Setting("log-level", LogLevel.info,
                                  .oneOf(["debug": .debug, "info": .info, "warning": .warning, "error": .error]),
                                  "`debug`, `info`, `warning` or `error`", reload: .live)
    public let logFile = Setting("log-file", nil, SettingParser.text.optional, "append logs to this file (reopened on SIGHUP) instead of stderr",
                                 default: "stderr", placeholder: "FILE", reload: .live)
    public let accessLog = Setting("access-log", false, .oneOf(["true": true, "false": false]),
                                   "one log line per request: `true` or `false`", reload: .live)

    // Command jobs.
    public let jobTypesDir = Setting("job-types-dir", "/etc/jobrunner/jobs.d", .text,
                                     "directory of command job type definitions, one `*.json` each (missing: none)",
                                     placeholder: "DIR", reload: .live)
    public let killGrace = Setting("kill-grace", 5.0, .seconds(atLeast: 0),
                                   "seconds between SIGTERM and SIGKILL when a job's process group is stopped")
    public let maxLogBytes = Setting("max-log-bytes", 1 << 20, .integer(1024...(1 << 30)),
                                     "log kept per job; past it the oldest lines go (down to ¾) and the log says how many")

    // Access.
    public let auth = Setting("auth", nil, SettingParser.oneOf(["tokens": Authenticator.Mode.tokens, "none": .open]).optional,
                              "`tokens` or `none`; `none` serves anyone, and only on a loopback `--host` unless given explicitly (see \"Tokens and TLS\")",
                              default: "`tokens` if the config file lists any, else `none`")
    public let sessionLifetime = Setting("session-lifetime", 12 * 3600.0,
                                         .duration(atLeast: 60, "must be a duration like 30m, 12h or 7d (at least 1m)"),
                                         "how long a dashboard sign-in lasts, e.g. `12h`")
    public let tlsCert = Setting("tls-cert", nil, SettingParser.text.optional,
                                 "PEM certificate chain: serve HTTPS and `wss:` (the file is read again on SIGHUP)",
                                 default: "none", placeholder: "FILE", reload: .rereadsFile)
    public let tlsKey = Setting("tls-key", nil, SettingParser.text.optional, "PEM private key of `--tls-cert` (read again on SIGHUP)",
                                default: "none", placeholder: "FILE", reload: .rereadsFile)
    public let rateLimit = Setting("rate-limit", nil, SettingParser.perSecond.optional,
                                   "submissions per second per token (per client address when open), e.g. `10/s`; 429 past it",
                                   placeholder: "N/s")
    public let metrics = Setting("metrics", true, .oneOf(["on": true, "off": false]),
                                 "`on` or `off`: serve `GET /metrics` (Prometheus) and keep its counters; `off` stops counting and `GET /metrics` answers 404")

    // A cluster on PostgreSQL.
    public let nodeID = Setting("node-id", nil, SettingParser.nodeID.optional,
                                "this daemon's name among the nodes sharing a PostgreSQL database (1–64 of `A-Za-z0-9._:-`); a live node's id is refused",
                                default: "HOST:PORT", placeholder: "ID")
    public let nodeTimeout = Setting("node-timeout", 30.0, .seconds(atLeast: 1),
                                     "seconds without a heartbeat before the leader rescues a node's running jobs (heartbeats every tenth of it, 0.1–3 s)")

    public static let shared = SettingTable()

    /// The entries above, in their order.
    public static let all: [any AnySetting] = Mirror(reflecting: shared).children.compactMap { $0.value as? any AnySetting }

    public static let keys = all.map(\.key)
}
