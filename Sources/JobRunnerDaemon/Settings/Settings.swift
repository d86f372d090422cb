import Glibc
import JSON
import JobRunnerAPI
import Webhooks

/// Every setting of the daemon, resolved: flag, then `JOBRUNNER_*`, then the
/// config file, then the default. A setting of the table reads as a property
/// (`settings.maxBody`, through `SettingTable.maxBody`); the config file's
/// structured sections are properties of their own.
@dynamicMemberLookup
public struct Settings: Sendable {
    /// The values given, by key; a key not here has its default.
    var values: [String: any Sendable] = [:]

    /// The config file's `job_types` section, checked by the command job loader.
    public var jobTypes: JSONValue?
    /// The config file's `schedules` section (checked by the engine at start).
    public var schedules: JSONValue?
    /// The config file's `queues` section: initial settings of named queues.
    public var queues: [String: QueueConfig] = [:]
    /// The config file's `tokens` section (docs/security.md), checked when read.
    public var tokens: [TokenEntry] = []
    /// The config file's `webhooks` section (docs/webhooks.md), checked when read.
    public var webhooks: [WebhookEndpoint] = []

    /// The defaults.
    public init() {}

    /// Resolves every setting from the three sources; the first bad value or
    /// unknown file key is an error.
    public init(flags: [String: String], environment: [String: String], configFile: String?) throws(ConfigError) {
        var file = ConfigFile()
        if let configFile {
            file = try ConfigFile(path: configFile)
            queues = try file.queues()
            tokens = try file.tokens()
            webhooks = try file.webhooks()
            jobTypes = file.jobTypes
            schedules = file.schedules
        }
        let sources = SettingSources(flags: flags, environment: environment, file: file.values, configFile: configFile)
        for setting in SettingTable.all { try setting.resolve(sources, into: &self) }
        if (self.tlsCert == nil) != (self.tlsKey == nil) {
            throw ConfigError(message: "--tls-cert and --tls-key go together: give both PEM files, or neither")
        }
    }

    public subscript<Value>(dynamicMember path: KeyPath<SettingTable, Setting<Value>>) -> Value {
        get { value(SettingTable.shared[keyPath: path]) }
        set { values[SettingTable.shared[keyPath: path].key] = newValue }
    }

    func value<Value>(_ setting: Setting<Value>) -> Value {
        (values[setting.key] as? Value) ?? setting.defaultValue
    }

    /// The `JOBRUNNER_*` variables of this process.
    public static func environment() -> [String: String] {
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

/// A queue's settings in the config file's `queues` section.
public struct QueueConfig: Sendable, Equatable {
    public var concurrency: Int?
    public var paused: Bool
}
