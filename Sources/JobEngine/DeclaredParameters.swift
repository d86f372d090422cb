import JSON
import Synchronization

/// A `pattern` from an operator's parameter declaration, compiled once.
/// A value matches when the pattern is found in it (anchor with `^...$` to
/// match the whole value).
public final class ParameterPattern: Sendable {
    public let source: String
    /// `Regex` is not `Sendable`; matching happens under this lock (it is quick).
    private let regex: Mutex<Regex<AnyRegexOutput>>

    /// Throws a message naming what is wrong with the expression.
    public init(_ source: String) throws(ValidationError) {
        self.source = source
        do {
            regex = Mutex(try Regex(source))
        } catch {
            throw ValidationError("invalid regular expression '\(source)': \(error)")
        }
    }

    public func matches(_ text: String) -> Bool {
        regex.withLock { r in (try? r.firstMatch(in: text)) != nil }
    }
}

extension ParameterSpec {
    /// Validation of declared (command type) parameters, in the API's wording:
    /// `Parameter 'x' is required`, `Parameter 'x' must be one of: a, b`, ...
    public func normaliseDeclared(_ value: JSONValue?, _ rules: Declared) throws(ValidationError) -> JSONValue? {
        guard let value else {
            if let d = defaultValue { return d }
            if rules.required { throw ValidationError("Parameter '\(name)' is required") }
            return nil
        }
        let normalised: JSONValue
        switch kind {
        case .integer(_, let lo, let hi):
            guard let n = Self.signedInteger(value) else { throw ValidationError("Parameter '\(name)' must be an integer") }
            if let lo, n < lo { throw ValidationError("Parameter '\(name)' must be at least \(lo)") }
            if let hi, n > hi { throw ValidationError("Parameter '\(name)' must be at most \(hi)") }
            normalised = .int(n)
        case .number(_, let lo, let hi):
            guard let x = Self.number(value) else { throw ValidationError("Parameter '\(name)' must be a number") }
            if let lo, x < lo { throw ValidationError("Parameter '\(name)' must be at least \(Self.show(lo))") }
            if let hi, x > hi { throw ValidationError("Parameter '\(name)' must be at most \(Self.show(hi))") }
            normalised = x.rounded() == x && abs(x) < 9e15 ? .int(Int64(x)) : .double(x)
        case .boolean:
            switch value {
            case .bool(let b): normalised = .bool(b)
            case .string("true"): normalised = .bool(true)
            case .string("false"): normalised = .bool(false)
            default: throw ValidationError("Parameter '\(name)' must be a boolean")
            }
        case .string(_, let maxLength):
            guard case .string(let s) = value else { throw ValidationError("Parameter '\(name)' must be a string") }
            try refuseNUL(s)
            if let maxLength, s.unicodeScalars.count > maxLength {
                throw ValidationError("Parameter '\(name)' is too long (max \(maxLength))")
            }
            if let pattern = rules.pattern, !pattern.matches(s) {
                throw ValidationError("Parameter '\(name)' must match \(pattern.source)")
            }
            normalised = .string(s)
        }
        if let choices = rules.choices, !choices.contains(normalised) {
            let listed = choices.map { $0.stringValue ?? $0.jsonString }.joined(separator: ", ")
            throw ValidationError("Parameter '\(name)' must be one of: \(listed)")
        }
        return normalised
    }

    /// `1` for 1.0, `0.5` for 0.5.
    static func show(_ x: Double) -> String { exactNumber(x).jsonString }

    /// An integral double as a JSON integer (so `1` reads as `1`, not `1.0`).
    static func exactNumber(_ x: Double) -> JSONValue {
        x.rounded() == x && abs(x) < 9e15 ? .int(Int64(x)) : .double(x)
    }

    var defaultValue: JSONValue? {
        switch kind {
        case .integer(let d, _, _): d.map(JSONValue.int)
        case .string(let d, _): d.map(JSONValue.string)
        case .number(let d, _, _): d.map(JSONValue.double)
        case .boolean(let d): d.map(JSONValue.bool)
        }
    }

    /// A JSON integer (or an integral number), or a string of an optional minus
    /// and digits (what HTML forms send).
    static func signedInteger(_ value: JSONValue) -> Int64? {
        switch value {
        case .int(let i): return i
        case .double(let d): return d.isFinite && d.rounded() == d && abs(d) < 9.2e18 ? Int64(d) : nil
        case .string(let s):
            let digits = s.hasPrefix("-") ? s.dropFirst() : Substring(s)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            return Int64(s)
        default: return nil
        }
    }

    /// A finite JSON number, or a string holding one.
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d.isFinite ? d : nil
        case .string(let s):
            guard !s.isEmpty, s.count <= 64, let d = Double(s), d.isFinite else { return nil }
            return d
        default: return nil
        }
    }
}
