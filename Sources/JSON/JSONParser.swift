import CJansson

/// Limits applied to every parse: untrusted input never gets to choose how much
/// memory or stack the conversion uses.
public struct JSONLimits: Sendable {
    public var maxBytes: Int
    public var maxDepth: Int
    /// Members one object may have (arrays are bounded by `maxBytes` alone).
    public var maxMembers: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 64, maxMembers: Int = 10_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxMembers = maxMembers
    }
}

/// Why a document was refused: malformed, too large, nested too deeply or with
/// an object of too many members.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case malformed, tooLarge, tooDeep, tooManyMembers }
    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
}

extension JSONValue {
    /// Parses one JSON document (any top-level value) with jansson. Duplicate object
    /// keys are refused (also keys that differ only in Unicode normalisation, which
    /// Swift compares as equal), `\u0000` inside strings is kept, integers beyond 64 bits are
    /// an error rather than a silent rounding.
    public static func parse(_ bytes: some Collection<UInt8>, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        guard bytes.count <= limits.maxBytes else {
            throw JSONParseError(kind: .tooLarge, message: "document exceeds \(limits.maxBytes) bytes")
        }
        var error = json_error_t()
        let flags = Int(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
        let root: UnsafeMutablePointer<json_t>? =
            bytes.withContiguousStorageIfAvailable { buf in
                buf.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, flags, &error) }
            } ?? Array(bytes).withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, flags, &error) }
            }
        guard let root else {
            let text = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw JSONParseError(kind: .malformed, message: "\(text) at line \(error.line), column \(error.column)")
        }
        defer { CJansson_decref(root) }
        return try convert(root, depth: 1, limits: limits)
    }

    /// Convenience for text.
    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }

    private static func convert(_ node: UnsafeMutablePointer<json_t>, depth: Int, limits: JSONLimits) throws(JSONParseError) -> JSONValue {
        switch json_type(rawValue: UInt32(CJansson_typeof(node))) {
        case JSON_NULL: return .null
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        case JSON_INTEGER: return .int(Int64(json_integer_value(node)))
        case JSON_REAL: return .double(json_real_value(node))
        case JSON_STRING:
            let length = json_string_length(node)
            guard let p = json_string_value(node) else { return .string("") }
            return .string(p.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            })
        case JSON_ARRAY:
            guard depth <= limits.maxDepth else { throw tooDeep(limits) }
            let n = json_array_size(node)
            var items: [JSONValue] = []
            items.reserveCapacity(n)
            for i in 0..<n {
                guard let child = json_array_get(node, i) else { continue }
                items.append(try convert(child, depth: depth + 1, limits: limits))
            }
            return .array(items)
        case JSON_OBJECT:
            guard depth <= limits.maxDepth else { throw tooDeep(limits) }
            let count = json_object_size(node)
            guard count <= limits.maxMembers else {
                throw JSONParseError(kind: .tooManyMembers, message: "object has more than \(limits.maxMembers) members")
            }
            var object = JSONObject(expecting: count)
            var iter = json_object_iter(node)
            while let it = iter {
                let keyLength = json_object_iter_key_len(it)
                let key = json_object_iter_key(it).map { k in
                    k.withMemoryRebound(to: UInt8.self, capacity: keyLength) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: keyLength), as: UTF8.self)
                    }
                } ?? ""
                if let child = json_object_iter_value(it) {
                    // jansson refuses byte-identical duplicates; this catches the rest.
                    guard object.appendIfAbsent(key, try convert(child, depth: depth + 1, limits: limits)) else {
                        throw JSONParseError(kind: .malformed, message: "duplicate object key '\(key.prefix(100))'")
                    }
                }
                iter = json_object_iter_next(node, it)
            }
            return .object(object)
        default:
            return .null
        }
    }

    private static func tooDeep(_ limits: JSONLimits) -> JSONParseError {
        JSONParseError(kind: .tooDeep, message: "nesting deeper than \(limits.maxDepth) levels")
    }
}
