import Essentials
import Glibc
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import JobStorePostgres
import Webhooks

/// A setting that cannot be used; the message names the key and where it came from.
struct ConfigError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
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

/// Every setting of the daemon, resolved: flag, then `JOBRUNNER_*`, then the
/// config file, then the default.
struct Settings {
    static let keys = [
        "host", "port", "concurrency", "www", "threads", "max-body", "max-connections", "max-connections-per-ip",
        "idle-timeout", "sse-heartbeat", "ws-max-message", "ws-max-queue", "ws-ping-interval", "allowed-origins",
        "db", "sync", "retain-finished", "shutdown-grace", "log-level", "log-file", "access-log",
        "job-types-dir", "kill-grace", "max-log-bytes",
        "auth", "session-lifetime", "tls-cert", "tls-key", "rate-limit",
        "metrics", "node-id", "node-timeout",
    ]
    /// Structured sections of the config file, beside the flag-named keys.
    static let sections = ["job_types", "queues", "schedules", "tokens", "webhooks"]
    /// What SIGHUP re-reads (the rest needs a restart).
    static let reloadable: Set<String> = ["log-level", "log-file", "access-log", "retain-finished", "job_types", "job-types-dir", "tokens", "tls-cert", "tls-key", "webhooks"]

    var host = "127.0.0.1"
    var port = 8080
    var concurrency = 3
    var www: String?
    var threads: Int?
    var maxBody = 1 << 20
    var maxConnections = 4096
    var maxConnectionsPerIP = 0
    var idleTimeout = 60
    var sseHeartbeat = 15.0
    var wsMaxMessage = 64 * 1024
    var wsMaxQueue = 1 << 20
    var wsPingInterval = 25.0
    var allowedOrigins: [String] = []
    var db = "/var/lib/jobrunner/jobs.db"
    /// This daemon's name among those sharing a PostgreSQL database (nil: HOST:PORT).
    var nodeID: String?
    /// Seconds without a heartbeat before a node's running jobs are rescued.
    var nodeTimeout = 30.0
    var sync = "full"
    var retainFinished: Retention?
    var shutdownGrace = 10.0
    var logLevel = Logger.Level.info
    var logFile: String?
    var accessLog = false
    var jobTypesDir = "/etc/jobrunner/jobs.d"
    var killGrace = 5.0
    var maxLogBytes = 1 << 20
    /// The config file's `job_types` section, checked by the command job loader.
    var jobTypes: JSONValue?
    /// The config file's `schedules` section (checked by the engine at start).
    var schedules: JSONValue?
    /// The config file's `queues` section: initial settings of named queues.
    var queues: [String: (concurrency: Int?, paused: Bool)] = [:]
    /// The config file's `tokens` section (docs/security.md), checked when read.
    var tokens: [TokenEntry] = []
    /// The config file's `webhooks` section (docs/webhooks.md), checked when read.
    var webhooks: [WebhookEndpoint] = []
    /// `--auth`: nil means tokens if any are configured, else none (loopback only).
    var auth: Authenticator.Mode?
    var sessionLifetime = 12 * 3600.0
    var tlsCert: String?
    var tlsKey: String?
    /// `--rate-limit N/s`: submissions per second per caller.
    var rateLimit: Double?
    /// `--metrics on|off`: `GET /metrics` and its counters (docs/metrics.md).
    var metrics = true

    /// Resolves every key from the three sources; the first bad value or unknown
    /// file key is an error.
    init(flags: [String: String], environment: [String: String], configFile: String?) throws(ConfigError) {
        var file: [String: String] = [:]
        var queuesSection: JSONValue?
        var tokenSection: JSONValue?
        var webhookSection: JSONValue?
        if let configFile { (file, jobTypes, queuesSection, schedules, tokenSection, webhookSection) = try Self.readFile(configFile) }
        if let queuesSection { queues = try Self.queues(queuesSection, configFile ?? "") }
        if let configFile {
            do { tokens = try TokenEntry.parseSection(tokenSection) } catch {
                throw ConfigError(message: "invalid 'tokens' in \(configFile): \(error.message)")
            }
            do { webhooks = try WebhookEndpoint.parseSection(webhookSection) } catch {
                throw ConfigError(message: "invalid 'webhooks' in \(configFile): \(error.message)")
            }
        }
        func value(_ key: String) -> (String, String)? {
            if let v = flags[key] { return (v, "--\(key)") }
            let env = "JOBRUNNER_" + key.uppercased().replacingDashes()
            if let v = environment[env] { return (v, env) }
            if let v = file[key], let configFile { return (v, "'\(key)' in \(configFile)") }
            return nil
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let (text, source) = value(key) else { return nil }
            guard let n = Int(text), range.contains(n) else {
                throw ConfigError(message: "invalid \(source) '\(text)': must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        func seconds(_ key: String, min: Double) throws(ConfigError) -> Double? {
            guard let (text, source) = value(key) else { return nil }
            guard let n = Double(text), n.isFinite, n >= min else {
                throw ConfigError(message: "invalid \(source) '\(text)': must be a number of seconds, at least \(min)")
            }
            return n
        }
        func string(_ key: String) throws(ConfigError) -> String? {
            guard let (text, source) = value(key) else { return nil }
            guard !text.isEmpty else { throw ConfigError(message: "invalid \(source): must not be empty") }
            return text
        }
        func choice(_ key: String, _ options: [String]) throws(ConfigError) -> String? {
            guard let (text, source) = value(key) else { return nil }
            guard options.contains(text) else {
                throw ConfigError(message: "invalid \(source) '\(text)': must be one of \(options.joined(separator: ", "))")
            }
            return text
        }

        if let v = try string("host") { host = v }
        if let v = try int("port", 0...65535) { port = v }
        if let v = try int("concurrency", 1...1024) { concurrency = v }
        www = try string("www")
        threads = try int("threads", 1...256)
        if let v = try int("max-body", 1024...(1 << 30)) { maxBody = v }
        if let v = try int("max-connections", 1...1_000_000) { maxConnections = v }
        if let v = try int("max-connections-per-ip", 0...1_000_000) { maxConnectionsPerIP = v }
        if let v = try int("idle-timeout", 1...86400) { idleTimeout = v }
        if let v = try seconds("sse-heartbeat", min: 0.01) { sseHeartbeat = v }
        if let v = try int("ws-max-message", 125...(64 << 20)) { wsMaxMessage = v }
        if let v = try int("ws-max-queue", 4096...(1 << 30)) { wsMaxQueue = v }
        if let v = try seconds("ws-ping-interval", min: 0.01) { wsPingInterval = v }
        if let (text, _) = value("allowed-origins") {
            allowedOrigins = text.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        }
        if let v = try string("db") { db = v }
        if let v = try choice("sync", ["full", "normal"]) { sync = v }
        if let (text, source) = value("retain-finished") {
            guard let rule = Retention(text) else {
                throw ConfigError(message: "invalid \(source) '\(text)': must be a duration like 30m, 12h or 7d, or a count like 10000")
            }
            retainFinished = rule
        }
        if let v = try seconds("shutdown-grace", min: 0) { shutdownGrace = v }
        if let v = try choice("log-level", ["debug", "info", "warning", "error"]) { logLevel = Logger.Level(name: v) ?? .info }
        logFile = try string("log-file")
        if let v = try choice("access-log", ["true", "false"]) { accessLog = v == "true" }
        if let v = try string("job-types-dir") { jobTypesDir = v }
        if let v = try seconds("kill-grace", min: 0) { killGrace = v }
        if let v = try int("max-log-bytes", 1024...(1 << 30)) { maxLogBytes = v }
        if let v = try choice("auth", ["tokens", "none"]) { auth = Authenticator.Mode(rawValue: v) }
        if let (text, source) = value("session-lifetime") {
            guard case .olderThan(let seconds)? = Retention(text), seconds >= 60 else {
                throw ConfigError(message: "invalid \(source) '\(text)': must be a duration like 30m, 12h or 7d (at least 1m)")
            }
            sessionLifetime = seconds
        }
        tlsCert = try string("tls-cert")
        tlsKey = try string("tls-key")
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ConfigError(message: "--tls-cert and --tls-key go together: give both PEM files, or neither")
        }
        if let (text, source) = value("rate-limit") {
            guard let n = RateLimiter.parse(text) else {
                throw ConfigError(message: "invalid \(source) '\(text)': must be submissions per second like 10/s")
            }
            rateLimit = n
        }
        if let v = try choice("metrics", ["on", "off"]) { metrics = v == "on" }
        if let (text, source) = value("node-id") {
            if let problem = PostgresCluster.invalidNodeID(text) {
                throw ConfigError(message: "invalid \(source) '\(text)': \(problem)")
            }
            nodeID = text
        }
        if let v = try seconds("node-timeout", min: 1) { nodeTimeout = v }
    }

    /// The file's keys as text, and its `job_types`, `queues`, `schedules`,
    /// `tokens` and `webhooks` sections; unknown keys and values of the wrong kind are errors.
    static func readFile(_ path: String) throws(ConfigError) -> ([String: String], JSONValue?, JSONValue?, JSONValue?, JSONValue?, JSONValue?) {
        let bytes: [UInt8]
        do { bytes = try readSmallFile(path) } catch { throw ConfigError(message: "config file \(path): \(error.message)") }
        let root: JSONValue
        do { root = try JSONValue.parse(bytes) } catch {
            throw ConfigError(message: "config file \(path) is not valid JSON: \(error.message)")
        }
        guard case .object(let object) = root else { throw ConfigError(message: "config file \(path) must hold a JSON object") }
        var out: [String: String] = [:]
        var jobTypes: JSONValue?
        var queues: JSONValue?
        var schedules: JSONValue?
        var tokens: JSONValue?
        var webhooks: JSONValue?
        for member in object {
            if member.key == "webhooks" {
                webhooks = member.value
                continue
            }
            if member.key == "job_types" {
                jobTypes = member.value
                continue
            }
            if member.key == "queues" {
                queues = member.value
                continue
            }
            if member.key == "schedules" {
                schedules = member.value
                continue
            }
            if member.key == "tokens" {
                tokens = member.value
                continue
            }
            guard keys.contains(member.key) else {
                throw ConfigError(message: "unknown key '\(member.key)' in \(path) (known: \((keys + sections).joined(separator: ", ")))")
            }
            switch member.value {
            case .string(let s): out[member.key] = s
            case .int(let i): out[member.key] = String(i)
            case .double(let d): out[member.key] = String(d)
            case .bool(let b): out[member.key] = b ? "true" : "false"
            case .array(let items) where items.allSatisfy({ $0.stringValue != nil }):
                out[member.key] = items.compactMap(\.stringValue).joined(separator: ",")
            case .null: continue
            default: throw ConfigError(message: "invalid '\(member.key)' in \(path): must be a string, number or boolean")
            }
        }
        return (out, jobTypes, queues, schedules, tokens, webhooks)
    }

    /// `"queues": {"email": {"concurrency": 2, "paused": false}}`.
    static func queues(_ value: JSONValue, _ path: String) throws(ConfigError) -> [String: (concurrency: Int?, paused: Bool)] {
        guard case .object(let o) = value else { throw ConfigError(message: "invalid 'queues' in \(path): must be an object of queue settings") }
        var out: [String: (concurrency: Int?, paused: Bool)] = [:]
        for member in o {
            let name = member.key
            guard JobOptions.isQueueName(name) else { throw ConfigError(message: "invalid queue name '\(name.prefix(64))' in \(path): must match ^[a-z0-9_-]{1,64}$") }
            guard case .object(let q) = member.value else { throw ConfigError(message: "invalid 'queues.\(name)' in \(path): must be an object") }
            var entry: (concurrency: Int?, paused: Bool) = (nil, false)
            for field in q {
                switch (field.key, field.value) {
                case ("concurrency", .int(let n)) where (1...10_000).contains(n): entry.concurrency = Int(n)
                case ("concurrency", .null): entry.concurrency = nil
                case ("paused", .bool(let b)): entry.paused = b
                default: throw ConfigError(message: "invalid 'queues.\(name).\(field.key)' in \(path): known are concurrency (1-10000) and paused (true/false)")
                }
            }
            out[name] = entry
        }
        return out
    }

    static func environment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if text.hasPrefix("JOBRUNNER_"), let eq = text.firstIndex(of: "=") {
                out[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            p += 1
        }
        return out
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
