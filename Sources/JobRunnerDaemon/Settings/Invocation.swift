/// The daemon's command line, read against the setting table: `--KEY VALUE` or
/// `--KEY=VALUE` for every setting, and the options of the command itself.
/// Values are only collected here; `Settings` checks them, beside the
/// environment's and the config file's.
public struct Invocation: Sendable, Equatable {
    /// The settings given as flags, by key.
    public var flags: [String: String] = [:]
    /// `--config FILE`.
    public var configFile: String?
    /// `--check-config`: check the settings, print a line and exit.
    public var checkConfig = false

    public enum Outcome: Equatable {
        case run(Invocation)
        /// `--help` or `--version`: print this on stdout and exit 0.
        case show(String)
        /// One line (without the program's name) for stderr, and exit 2.
        case refused(String)
    }

    /// Options of the command, not settings (so not in the environment or the file).
    /// The README's table lists those with `inDocs`.
    static let commandOptions: [(flag: String, placeholder: String?, meaning: String, inDocs: Bool)] = [
        ("--config", "FILE", "JSON config file, one key per setting (read again on SIGHUP)", true),
        ("--check-config", nil, "check the settings and the job types, then exit", true),
        ("--version", nil, "show the version", false),
        ("-h, --help", nil, "show this help", false),
    ]

    public init() {}

    public static func parse(_ arguments: some Collection<String>) -> Outcome {
        var out = Invocation()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("-") && argument != "-" else { return .refused("Unexpected argument '\(argument)'") }
            if argument == "--" {
                if let next = rest.first { return .refused("Unexpected argument '\(next)'") }
                break
            }
            let (name, attached) = split(argument)
            switch name {
            case "-h", "--help": return .show(HelpText.render())
            case "--version": return .show(jobRunnerVersion)
            case "--check-config":
                if let attached { return .refused("The option '--check-config' does not take any value, but '\(attached)' was specified.") }
                out.checkConfig = true
                continue
            default: break
            }
            let key = String(name.dropFirst(2))
            guard name.hasPrefix("--"), key == "config" || SettingTable.keys.contains(key) else {
                return .refused("Unknown option '\(name)'")
            }
            let value: String
            if let attached {
                value = attached
            } else if let next = rest.first, !next.hasPrefix("-") || next == "-" {
                value = next
                rest.removeFirst()
            } else {
                return .refused("Missing value for '\(name) <\(key)>'")
            }
            if key == "config" { out.configFile = value } else { out.flags[key] = value }
        }
        return .run(out)
    }

    /// `--key=value` into its two halves.
    private static func split(_ argument: String) -> (String, String?) {
        guard argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
    }

    /// The settings from the flags, this process's `JOBRUNNER_*` and the config file.
    public func settings(environment: [String: String] = Settings.environment()) throws(ConfigError) -> Settings {
        try Settings(flags: flags, environment: environment, configFile: configFile)
    }
}

public let jobRunnerVersion = "0.1.0"
