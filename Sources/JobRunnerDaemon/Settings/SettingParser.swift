import Essentials
import JobRunnerAPI
import JobStorePostgres

/// How a setting's text becomes its value (the error names the value's source:
/// `--port`, `JOBRUNNER_PORT` or `'port' in FILE`), and how a value is shown as
/// a default (nil: it is none).
struct SettingParser<Value: Sendable & Equatable>: Sendable {
    let parse: @Sendable (_ text: String, _ source: String) throws(ConfigError) -> Value
    let show: @Sendable (Value) -> String?

    /// A value the text must pass `read` to be; otherwise `invalid SOURCE 'TEXT': PROBLEM`.
    static func checked(_ problem: String, show: @escaping @Sendable (Value) -> String?,
                        _ read: @escaping @Sendable (String) -> Value?) -> Self {
        Self(parse: { text, source throws(ConfigError) in
            guard let value = read(text) else { throw ConfigError(message: "invalid \(source) '\(text)': \(problem)") }
            return value
        }, show: show)
    }

    /// The same reading, for a setting whose default is none.
    var optional: SettingParser<Value?> {
        let parse = self.parse, show = self.show
        return SettingParser<Value?>(parse: { text, source throws(ConfigError) in try parse(text, source) },
                                     show: { $0.flatMap(show) })
    }
}

extension SettingParser where Value == Int {
    static func integer(_ range: ClosedRange<Int>) -> Self {
        .checked("must be an integer from \(range.lowerBound) to \(range.upperBound)", show: { String($0) }) { text in
            Int(text).flatMap { range.contains($0) ? $0 : nil }
        }
    }
}

extension SettingParser where Value == Double {
    static func seconds(atLeast min: Double) -> Self {
        .checked("must be a number of seconds, at least \(min)", show: showNumber) { text in
            Double(text).flatMap { $0.isFinite && $0 >= min ? $0 : nil }
        }
    }

    /// A duration of at least `min` seconds written like 30m, 12h or 7d.
    static func duration(atLeast min: Double, _ problem: String) -> Self {
        .checked(problem, show: Retention.durationText) { text in
            guard case .olderThan(let seconds)? = Retention(text), seconds >= min else { return nil }
            return seconds
        }
    }

    /// Submissions per second like 10/s.
    static let perSecond = Self.checked("must be submissions per second like 10/s", show: { showNumber($0) + "/s" }) {
        RateLimiter.parse($0)
    }

    @Sendable static func showNumber(_ n: Double) -> String {
        n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
    }
}

extension SettingParser where Value == String {
    /// Any text but the empty one.
    static let text = Self(parse: { text, source throws(ConfigError) in
        guard !text.isEmpty else { throw ConfigError(message: "invalid \(source): must not be empty") }
        return text
    }, show: { $0 })

    /// A name for this node among those sharing a PostgreSQL database.
    static let nodeID = Self(parse: { text, source throws(ConfigError) in
        if let problem = PostgresCluster.invalidNodeID(text) { throw ConfigError(message: "invalid \(source) '\(text)': \(problem)") }
        return text
    }, show: { $0 })
}

extension SettingParser {
    /// One of a few words, each standing for a value.
    static func oneOf(_ choices: KeyValuePairs<String, Value>) -> Self {
        let pairs = Array(choices)
        let names = pairs.map(\.key).joined(separator: ", ")
        return .checked("must be one of \(names)", show: { v in pairs.first { $0.value == v }?.key ?? "" }) { text in
            pairs.first { $0.key == text }?.value
        }
    }
}

extension SettingParser where Value == [String] {
    /// Comma-separated words, spaces around them dropped (never an error).
    static let list = Self(parse: { text, _ in
        text.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }, show: { $0.isEmpty ? nil : $0.joined(separator: ",") })
}

extension SettingParser where Value == Retention? {
    static let retention = SettingParser<Retention>.checked(
        "must be a duration like 30m, 12h or 7d, or a count like 10000", show: { _ in nil }, { Retention($0) }).optional
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
