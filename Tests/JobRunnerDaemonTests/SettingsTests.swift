import Essentials
import Glibc
import JobRunnerAPI
@testable import JobRunnerDaemon
import Testing

/// Resolution of the setting table: flag over environment over file over default,
/// and each bad value an error naming the value and where it came from.
@Suite(.timeLimit(.minutes(10))) struct SettingsTests {
    func file(_ json: String) -> String {
        var template = Array("/tmp/jobrunner-settings-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        _ = json.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        return path
    }

    func error(flags: [String: String] = [:], environment: [String: String] = [:], configFile: String? = nil) -> String {
        do {
            _ = try Settings(flags: flags, environment: environment, configFile: configFile)
            return "no error"
        } catch {
            return error.message
        }
    }

    @Test func defaultsAreTheTablesAndReadAsProperties() throws {
        let s = try Settings(flags: [:], environment: [:], configFile: nil)
        #expect(s.host == "127.0.0.1" && s.port == 8080 && s.concurrency == 3)
        #expect(s.www == nil && s.threads == nil && s.maxBody == 1 << 20 && s.allowedOrigins.isEmpty)
        #expect(s.db == "/var/lib/jobrunner/jobs.db" && s.sync == "full" && s.retainFinished == nil)
        #expect(s.logLevel == .info && s.accessLog == false && s.metrics == true && s.auth == nil)
        #expect(s.sessionLifetime == 43200 && s.nodeTimeout == 30 && s.sseHeartbeat == 15)
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFile() throws {
        let path = file(#"{"concurrency": 2, "port": 9000, "host": "::1", "allowed-origins": ["https://a.example", "https://b.example"]}"#)
        defer { unlink(path) }
        let fromFile = try Settings(flags: [:], environment: [:], configFile: path)
        #expect(fromFile.concurrency == 2 && fromFile.port == 9000 && fromFile.host == "::1")
        #expect(fromFile.allowedOrigins == ["https://a.example", "https://b.example"])
        let env = try Settings(flags: [:], environment: ["JOBRUNNER_CONCURRENCY": "4"], configFile: path)
        #expect(env.concurrency == 4 && env.port == 9000)
        let flag = try Settings(flags: ["concurrency": "5"], environment: ["JOBRUNNER_CONCURRENCY": "4"], configFile: path)
        #expect(flag.concurrency == 5)
    }

    @Test func everyKindOfValueIsRead() throws {
        let s = try Settings(flags: [
            "retain-finished": "7d", "log-level": "debug", "access-log": "true", "metrics": "off", "auth": "none",
            "session-lifetime": "30m", "rate-limit": "10/s", "sse-heartbeat": "0.5", "allowed-origins": " https://x.example , ,https://y.example",
            "tls-cert": "c.pem", "tls-key": "k.pem", "max-connections-per-ip": "7",
        ], environment: ["JOBRUNNER_MAX_BODY": "2048", "JOBRUNNER_NODE_ID": "n1", "JOBRUNNER_SYNC": "normal"], configFile: nil)
        #expect(s.retainFinished == .olderThan(seconds: 7 * 86400) && s.logLevel == .debug && s.accessLog && !s.metrics)
        #expect(s.auth == .open && s.sessionLifetime == 1800 && s.rateLimit == 10 && s.sseHeartbeat == 0.5)
        #expect(s.allowedOrigins == ["https://x.example", "https://y.example"] && s.tlsCert == "c.pem" && s.tlsKey == "k.pem")
        #expect(s.maxBody == 2048 && s.nodeID == "n1" && s.sync == "normal" && s.maxConnectionsPerIP == 7)
        #expect(try Settings(flags: ["retain-finished": "100"], environment: [:], configFile: nil).retainFinished == .keepNewest(100))
    }

    @Test func badValuesNameTheirSource() {
        #expect(error(flags: ["port": "70000"]) == "invalid --port '70000': must be an integer from 0 to 65535")
        #expect(error(environment: ["JOBRUNNER_PORT": "99999"]) == "invalid JOBRUNNER_PORT '99999': must be an integer from 0 to 65535")
        #expect(error(flags: ["sse-heartbeat": "0"]) == "invalid --sse-heartbeat '0': must be a number of seconds, at least 0.01")
        #expect(error(flags: ["host": ""]) == "invalid --host: must not be empty")
        #expect(error(flags: ["sync": "sometimes"]) == "invalid --sync 'sometimes': must be one of full, normal")
        #expect(error(flags: ["log-level": "loud"]) == "invalid --log-level 'loud': must be one of debug, info, warning, error")
        #expect(error(flags: ["retain-finished": "forever"])
            == "invalid --retain-finished 'forever': must be a duration like 30m, 12h or 7d, or a count like 10000")
        #expect(error(flags: ["session-lifetime": "30s"]) == "invalid --session-lifetime '30s': must be a duration like 30m, 12h or 7d (at least 1m)")
        #expect(error(flags: ["rate-limit": "fast"]) == "invalid --rate-limit 'fast': must be submissions per second like 10/s")
        #expect(error(flags: ["node-id": "bad id"]).hasPrefix("invalid --node-id 'bad id': "))
        #expect(error(flags: ["tls-cert": "c.pem"]) == "--tls-cert and --tls-key go together: give both PEM files, or neither")
        #expect(error(flags: ["node-timeout": "0.5"]) == "invalid --node-timeout '0.5': must be a number of seconds, at least 1.0")
    }

    @Test func theConfigFileRefusesUnknownKeysAndWrongKinds() {
        let unknown = file(#"{"prot": 8080}"#)
        let object = file(#"{"allowed-origins": {"a": 1}}"#)
        let bad = file(#"{"concurrency": 0}"#)
        let queues = file(#"{"queues": {"Bad Name": {}}}"#)
        defer { for p in [unknown, object, bad, queues] { unlink(p) } }
        let known = (SettingTable.keys + ConfigFile.sections).joined(separator: ", ")
        #expect(error(configFile: unknown) == "unknown key 'prot' in \(unknown) (known: \(known))")
        #expect(error(configFile: object) == "invalid 'allowed-origins' in \(object): must be a string, number or boolean")
        #expect(error(configFile: bad) == "invalid 'concurrency' in \(bad) '0': must be an integer from 1 to 1024")
        #expect(error(configFile: queues) == "invalid queue name 'Bad Name' in \(queues): must match ^[a-z0-9_-]{1,64}$")
        #expect(error(configFile: "/nonexistent.json").hasPrefix("config file /nonexistent.json: "))
    }

    @Test func theConfigFileSectionsAreRead() throws {
        let path = file(#"{"queues": {"email": {"concurrency": 2, "paused": true}}, "schedules": [], "job_types": {}, "tokens": [], "webhooks": []}"#)
        defer { unlink(path) }
        let s = try Settings(flags: [:], environment: [:], configFile: path)
        #expect(s.queues == ["email": QueueConfig(concurrency: 2, paused: true)])
        #expect(s.schedules == .array([]) && s.jobTypes?.objectValue != nil && s.tokens.isEmpty && s.webhooks.isEmpty)
    }

    @Test func theTableHasOneEntryPerKeyNamingAVariable() {
        // Every stored property of the table is a setting, and every setting is listed.
        #expect(SettingTable.all.count == Mirror(reflecting: SettingTable.shared).children.count && SettingTable.all.count >= 32)
        #expect(Set(SettingTable.keys).count == SettingTable.keys.count)
        #expect(SettingTable.shared.maxConnectionsPerIP.environmentVariable == "JOBRUNNER_MAX_CONNECTIONS_PER_IP")
        #expect(SettingTable.shared.maxBody.flag == "--max-body")
        for setting in SettingTable.all {
            #expect(setting.key.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" }, "\(setting.key)")
            #expect(!setting.meaning.isEmpty && !setting.meaning.hasSuffix("."), "\(setting.key)")
        }
    }
}
