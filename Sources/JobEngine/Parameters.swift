import JSON

/// One declared parameter of a job type.
public struct ParameterSpec: Sendable {
    public enum Kind: Sendable {
        case integer(default: Int64?, min: Int64?, max: Int64?)
        case string(default: String?, maxLength: Int?)
        case number(default: Double?, min: Double?, max: Double?)
        case boolean(default: Bool?)
    }

    public let name: String
    public let kind: Kind
    public let description: String
    /// Rules of parameters an operator declares (command job types); nil for the
    /// built-ins, whose wording and integer rules stay as they always were.
    public let declared: Declared?

    /// What an operator's declaration adds: `required`, `pattern`, `enum`, and
    /// signed integers.
    public struct Declared: Sendable {
        public var required: Bool
        public var pattern: ParameterPattern?
        public var choices: [JSONValue]?

        public init(required: Bool = false, pattern: ParameterPattern? = nil, choices: [JSONValue]? = nil) {
            self.required = required
            self.pattern = pattern
            self.choices = choices
        }
    }

    public init(name: String, kind: Kind, description: String, declared: Declared? = nil) {
        self.name = name
        self.kind = kind
        self.description = description
        self.declared = declared
    }

    public static func integer(_ name: String, default d: Int64?, min: Int64? = nil, max: Int64? = nil, _ description: String) -> ParameterSpec {
        ParameterSpec(name: name, kind: .integer(default: d, min: min, max: max), description: description)
    }

    public static func string(_ name: String, default d: String?, maxLength: Int? = nil, _ description: String) -> ParameterSpec {
        ParameterSpec(name: name, kind: .string(default: d, maxLength: maxLength), description: description)
    }

    /// The schema entry `/api/job-types` shows: name, type, default, bounds, description.
    public var schema: JSONValue {
        var o = JSONObject()
        o["name"] = .string(name)
        switch kind {
        case .integer(let d, let lo, let hi):
            o["type"] = "integer"
            o["default"] = d.map(JSONValue.int) ?? .null
            if let lo { o["min"] = .int(lo) }
            if let hi { o["max"] = .int(hi) }
        case .string(let d, let maxLength):
            o["type"] = "string"
            o["default"] = d.map(JSONValue.string) ?? .null
            if let maxLength { o["max_length"] = .int(Int64(maxLength)) }
        case .number(let d, let lo, let hi):
            o["type"] = "number"
            o["default"] = d.map(Self.exactNumber) ?? .null
            if let lo { o["min"] = Self.exactNumber(lo) }
            if let hi { o["max"] = Self.exactNumber(hi) }
        case .boolean(let d):
            o["type"] = "boolean"
            o["default"] = d.map(JSONValue.bool) ?? .null
        }
        if let declared {
            o["required"] = .bool(declared.required)
            if let pattern = declared.pattern { o["pattern"] = .string(pattern.source) }
            if let choices = declared.choices { o["enum"] = .array(choices) }
        }
        o["description"] = .string(description)
        return .object(o)
    }
}

/// A validation failure; `message` is the API's documented wording.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension JobType {
    /// Validates and normalises params: declared params in order (the first failure
    /// wins), then any undeclared one. `nil`/`null` params mean `{}`.
    public func validate(_ raw: JSONValue?) throws(ValidationError) -> JSONObject {
        let given: JSONObject
        switch raw {
        case nil, .null?: given = JSONObject()
        case .object(let o)?: given = o
        default: throw ValidationError("Invalid 'params' field: must be an object")
        }
        var out = JSONObject()
        for spec in parameters {
            var value = given[spec.name]
            if value?.isNull == true { value = nil }
            if let normalised = try spec.normalise(value) { out[spec.name] = normalised }
        }
        for member in given where !parameters.contains(where: { $0.name == member.key }) {
            throw ValidationError("Unknown parameter: \(member.key.prefix(100))")
        }
        return out
    }

    /// The `/api/job-types` entry for this type.
    public var schema: JSONValue {
        ["name": .string(name), "description": .string(description), "params": .array(parameters.map(\.schema))]
    }
}

extension ParameterSpec {
    /// The normalised value, or nil for an optional declared parameter left out.
    func normalise(_ value: JSONValue?) throws(ValidationError) -> JSONValue? {
        if let declared { return try normaliseDeclared(value, declared) }
        switch kind {
        case .integer(let d, let lo, let hi):
            guard let value else {
                guard let d else { throw ValidationError("Missing required parameter: \(name)") }
                return .int(d)
            }
            guard let n = Self.integer(from: value) else {
                throw ValidationError("Parameter '\(name)' must be an integer")
            }
            if let lo, n.isBelow(lo) { throw ValidationError("Parameter '\(name)' must be at least \(lo)") }
            if let hi, n.isAbove(hi) { throw ValidationError("Parameter '\(name)' must be at most \(hi)") }
            guard case .exact(let i) = n else { throw ValidationError("Parameter '\(name)' must be an integer") }
            return .int(i)
        case .string(let d, let maxLength):
            guard let value else {
                guard let d else { throw ValidationError("Missing required parameter: \(name)") }
                return .string(d)
            }
            guard case .string(let s) = value else { throw ValidationError("Parameter '\(name)' must be a string") }
            if s.isEmpty { throw ValidationError("Parameter '\(name)' cannot be empty") }
            try refuseNUL(s)
            if let maxLength, s.unicodeScalars.count > maxLength {
                throw ValidationError("Parameter '\(name)' is too long (max \(maxLength))")
            }
            return .string(s)
        case .number, .boolean:
            return try normaliseDeclared(value, Declared(required: true))
        }
    }

    /// A string parameter never holds U+0000: a program's argument ends at the
    /// first NUL, so what was validated would not be what it received.
    func refuseNUL(_ s: String) throws(ValidationError) {
        if s.utf8.contains(0) { throw ValidationError("Parameter '\(name)' must not contain U+0000 (NUL)") }
    }

    /// A non-negative whole number, or one too large for 64 bits.
    enum Whole { case exact(Int64), huge }

    /// The API accepts a JSON number or a string of decimal digits only. Negative numbers,
    /// fractions, signs, spaces and empty strings are not integers.
    static func integer(from value: JSONValue) -> Whole? {
        switch value {
        case .int(let i): return i >= 0 ? .exact(i) : nil
        case .double(let d):
            guard d >= 0, d.isFinite, d.rounded() == d else { return nil }
            return d < 9.2e18 ? .exact(Int64(d)) : .huge
        case .string(let s):
            guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            return Int64(s).map(Whole.exact) ?? .huge
        default: return nil
        }
    }
}

extension ParameterSpec.Whole {
    func isBelow(_ bound: Int64) -> Bool {
        if case .exact(let i) = self { return i < bound }
        return false
    }

    func isAbove(_ bound: Int64) -> Bool {
        if case .exact(let i) = self { return i > bound }
        return true
    }
}
