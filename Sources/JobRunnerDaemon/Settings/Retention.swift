/// `--retain-finished`: by age or by count.
public enum Retention: Equatable, Sendable {
    case olderThan(seconds: Double)
    case keepNewest(Int)

    static let units: [(Character, Double)] = [("w", 604_800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]

    public init?(_ text: String) {
        if let unit = text.last, let factor = Self.units.first(where: { $0.0 == unit })?.1, let n = Double(text.dropLast()), n > 0 {
            self = .olderThan(seconds: n * factor)
        } else if let n = Int(text), n >= 0 {
            self = .keepNewest(n)
        } else {
            return nil
        }
    }

    /// Seconds in the largest unit that divides them: 43200 is "12h".
    @Sendable static func durationText(_ seconds: Double) -> String {
        for (unit, factor) in units where seconds >= factor && (seconds / factor).rounded() == seconds / factor {
            return "\(Int(seconds / factor))\(unit)"
        }
        return "\(seconds)s"
    }
}

/// A setting that cannot be used; the message names the key and where it came from.
public struct ConfigError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }

    public init(message: String) { self.message = message }
}
