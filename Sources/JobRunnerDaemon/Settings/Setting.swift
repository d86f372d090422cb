/// One setting of the daemon, declared once (in `SettingTable`): its key, which
/// names the flag (`--max-body`), the environment variable (`JOBRUNNER_MAX_BODY`)
/// and the config file's key (`"max-body"`); its default; how a value is read and
/// checked; what it means (for `--help` and the README's table); and whether
/// SIGHUP applies a new value.
public struct Setting<Value: Sendable & Equatable>: Sendable {
    public let key: String
    public let defaultValue: Value
    let parser: SettingParser<Value>
    /// One line, lower case, no full stop; backticks and `[text](link)` are
    /// markdown in the README and plain text in `--help`.
    public let meaning: String
    /// What the default is, when not the default value itself ("core count").
    let describedDefault: String?
    /// The value's placeholder after the flag (`--db PATH`); nil: none shown in the README.
    public let placeholder: String?
    public let reload: Reload

    init(_ key: String, _ defaultValue: Value, _ parser: SettingParser<Value>, _ meaning: String,
         default describedDefault: String? = nil, placeholder: String? = nil, reload: Reload = .restart) {
        self.key = key
        self.defaultValue = defaultValue
        self.parser = parser
        self.meaning = meaning
        self.describedDefault = describedDefault
        self.placeholder = placeholder
        self.reload = reload
    }
}

/// What SIGHUP does with a changed value.
public enum Reload: Sendable, Equatable {
    /// Applied while running.
    case live
    /// The file it names is read again; a different path takes a restart.
    case rereadsFile
    /// Takes effect at the next start (a change is reported on SIGHUP).
    case restart
}

/// A setting with its value type erased: what the table, the flag parser, the
/// help, the docs and the SIGHUP diff need.
public protocol AnySetting: Sendable {
    var key: String { get }
    var meaning: String { get }
    var reload: Reload { get }
    /// The default as `--help` and the README show it; `literal` when it is a value.
    var shownDefault: (text: String, literal: Bool) { get }
    var placeholder: String? { get }
    /// Reads the value from the first source that has one into `settings`.
    func resolve(_ sources: SettingSources, into settings: inout Settings) throws(ConfigError)
    func same(_ a: Settings, _ b: Settings) -> Bool
}

extension AnySetting {
    public var flag: String { "--" + key }
    public var environmentVariable: String { "JOBRUNNER_" + String(key.uppercased().map { $0 == "-" ? "_" : $0 }) }
}

extension Setting: AnySetting {
    public var shownDefault: (text: String, literal: Bool) {
        if let describedDefault { return (describedDefault, false) }
        return parser.show(defaultValue).map { ($0, true) } ?? ("none", false)
    }

    public func resolve(_ sources: SettingSources, into settings: inout Settings) throws(ConfigError) {
        guard let (text, source) = sources.value(key, environmentVariable) else { return }
        settings.values[key] = try parser.parse(text, source)
    }

    public func same(_ a: Settings, _ b: Settings) -> Bool { a.value(self) == b.value(self) }
}

/// Where values come from, strongest first: the flags given, `JOBRUNNER_*`, the config file.
public struct SettingSources: Sendable {
    let flags: [String: String]
    let environment: [String: String]
    let file: [String: String]
    let configFile: String?

    /// The text of a value and where it came from, as an error message names it.
    func value(_ key: String, _ variable: String) -> (text: String, source: String)? {
        if let v = flags[key] { return (v, "--\(key)") }
        if let v = environment[variable] { return (v, variable) }
        if let v = file[key], let configFile { return (v, "'\(key)' in \(configFile)") }
        return nil
    }
}
