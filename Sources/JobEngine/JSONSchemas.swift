import JSON
import JobQueue

// JSON Schema (2020-12, as OpenAPI 3.1 uses it) for what submissions carry,
// written next to the rules that check them: a value valid per these schemas is
// accepted by `JobType.validate` and `JobOptions.parse`. Where the daemon is
// more lenient than a schema can say (digit strings for integers, "true" for
// booleans), the schema shows the canonical form and its description says so.

extension ParameterSpec {
    /// The JSON Schema of this parameter's value.
    public var jsonSchema: JSONValue {
        var o = JSONObject()
        var notes: [String] = []
        if !description.isEmpty { notes.append(description.hasSuffix(".") ? description : description + ".") }
        switch kind {
        case .integer(let d, let lo, let hi):
            o["type"] = "integer"
            if declared == nil {
                // Built-ins take non-negative whole numbers only.
                o["minimum"] = .int(max(lo ?? 0, 0))
            } else if let lo {
                o["minimum"] = .int(lo)
            }
            if let hi { o["maximum"] = .int(hi) }
            if let d { o["default"] = .int(d) }
            notes.append(declared == nil ? "A string of decimal digits is accepted too." : "A string of an integer (digits, an optional minus) is accepted too.")
        case .number(let d, let lo, let hi):
            o["type"] = "number"
            if let lo { o["minimum"] = Self.exactNumber(lo) }
            if let hi { o["maximum"] = Self.exactNumber(hi) }
            if let d { o["default"] = Self.exactNumber(d) }
            notes.append("A string holding a number is accepted too.")
        case .boolean(let d):
            o["type"] = "boolean"
            if let d { o["default"] = .bool(d) }
            notes.append("The strings \"true\" and \"false\" are accepted too.")
        case .string(let d, let maxLength):
            o["type"] = "string"
            if declared == nil { o["minLength"] = 1 }
            if let maxLength { o["maxLength"] = .int(Int64(maxLength)) }
            if let pattern = declared?.pattern { o["pattern"] = .string(pattern.source) }
            if let d { o["default"] = .string(d) }
        }
        if let choices = declared?.choices { o["enum"] = .array(choices) }
        if !notes.isEmpty { o["description"] = .string(notes.joined(separator: " ")) }
        return .object(o)
    }

    /// Whether a submission must give this parameter: no default, and (for a
    /// declared one) marked `required`.
    public var isRequired: Bool {
        guard defaultValue == nil else { return false }
        return declared?.required ?? true
    }
}

extension JobType {
    /// The JSON Schema of this type's `params` object: its declared params, no others.
    public var paramsSchema: JSONValue {
        var properties = JSONObject()
        for spec in parameters { properties[spec.name] = spec.jsonSchema }
        var o = JSONObject([
            ("type", "object"),
            ("description", .string("Params of '\(name)': \(description)")),
            ("properties", .object(properties)),
        ])
        let required = parameters.filter(\.isRequired).map { JSONValue.string($0.name) }
        if !required.isEmpty { o["required"] = .array(required) }
        o["additionalProperties"] = false
        return .object(o)
    }

    /// Whether a submission must carry `params` (some param has neither default nor is optional).
    public var needsParams: Bool { parameters.contains(where: \.isRequired) }
}

extension JobOptions {
    public static let priorityRange: ClosedRange<Int64> = -100...100
    public static let maxAttemptsRange: ClosedRange<Int64> = 1...100
    /// A year: the longest `delay`, `timeout` and backoff.
    public static let longestSeconds = 31_536_000.0
    /// `run_at` is below this (epoch seconds, the year 5138).
    public static let latestRunAt = 1e11
    public static let idempotencyKeyLength: ClosedRange<Int> = 1...200

    /// The JSON Schema of each option field of a submission (REST body, WebSocket
    /// `create_job`, a schedule's `options`), in `parse`'s order. `scheduled`
    /// leaves out what does not apply to scheduled jobs.
    public static func fieldSchemas(scheduled: Bool = false) -> JSONObject {
        var o = JSONObject()
        o["queue"] = ["type": "string", "pattern": "^[a-z0-9_-]{1,64}$", "default": "default",
                      "description": "The named queue the job waits in."]
        o["priority"] = ["type": "integer", "minimum": .int(priorityRange.lowerBound), "maximum": .int(priorityRange.upperBound),
                         "default": 0, "description": "Higher starts first; FIFO within a priority."]
        if !scheduled {
            o["run_at"] = ["type": "number", "minimum": 0, "exclusiveMaximum": .double(latestRunAt),
                           "description": "Epoch seconds before which the job does not start (not with 'delay')."]
            o["delay"] = ["type": "number", "minimum": 0, "maximum": .double(longestSeconds),
                          "description": "Seconds from now before the job starts (not with 'run_at')."]
        }
        o["timeout"] = ["type": "number", "exclusiveMinimum": 0, "maximum": .double(longestSeconds),
                        "description": "Seconds an attempt may run; default the type's, else none."]
        o["max_attempts"] = ["type": "integer", "minimum": .int(maxAttemptsRange.lowerBound), "maximum": .int(maxAttemptsRange.upperBound),
                             "description": "Attempts a failing job may take; default the type's, else 1."]
        o["backoff"] = ["type": "object", "additionalProperties": false,
                        "properties": ["initial": ["type": "number", "exclusiveMinimum": 0, "maximum": .double(longestSeconds)],
                                       "max": ["type": "number", "exclusiveMinimum": 0, "maximum": .double(longestSeconds)]],
                        "description": "Retry delays in seconds, doubling from 'initial' up to 'max' (initial <= max), with jitter; default {\"initial\": 1, \"max\": 3600}."]
        if !scheduled {
            o["idempotency_key"] = ["type": "string", "minLength": .int(Int64(idempotencyKeyLength.lowerBound)),
                                    "maxLength": .int(Int64(idempotencyKeyLength.upperBound)),
                                    "description": "While a job with this key exists, a submission with it answers 200 with that job instead of creating one (or header Idempotency-Key)."]
        }
        return o
    }
}
