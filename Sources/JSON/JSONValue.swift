/// A JSON document as a Swift value. Integers stay exact to 64 bits; objects keep
/// the order their keys were inserted in (parsing keeps the document's order).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }

    public var intValue: Int64? { if case .int(let i) = self { return i } else { return nil } }

    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }

    /// Object member access; `nil` for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

// Deliberately not ExpressibleByNilLiteral: `nil` must never turn into `.null`
// silently where an Optional<JSONValue> is meant.
extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}

/// An insertion-ordered JSON object. Small objects (the daemon's usual handful of
/// keys) are looked up by a scan; larger ones through a hash index (`KeyIndex`),
/// so no object costs more than linear time to build or compare.
public struct JSONObject: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
    }

    public private(set) var members: [Member]
    private var index: KeyIndex<String>

    public init() {
        members = []
        index = KeyIndex()
    }

    public init(_ pairs: some Sequence<(String, JSONValue)>) {
        self.init()
        for (k, v) in pairs { self[k] = v }
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    /// Empty, with room for `count` members appended without regrowing.
    init(expecting count: Int) {
        members = []
        members.reserveCapacity(count)
        index = KeyIndex(expecting: count)
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    /// Whether lookups go through the hash index rather than a scan.
    var isHashed: Bool { index.isHashed }

    private func position(of key: String) -> Int? {
        members.withUnsafeBufferPointer { m in index.position(of: key, count: m.count) { m[$0].key } }
    }

    private mutating func append(_ key: String, _ value: JSONValue) {
        members.append(Member(key: key, value: value))
        members.withUnsafeBufferPointer { m in index.didAppend(key, at: m.count - 1) { m[$0].key } }
    }

    /// Appends a member unless the key is already present (then returns false and
    /// changes nothing): how the parser refuses duplicates in one lookup.
    mutating func appendIfAbsent(_ key: String, _ value: JSONValue) -> Bool {
        guard position(of: key) == nil else { return false }
        append(key, value)
        return true
    }

    public subscript(key: String) -> JSONValue? {
        get {
            position(of: key).map { members[$0].value }
        }
        set {
            if let i = position(of: key) {
                if let newValue {
                    members[i].value = newValue
                } else {
                    members.remove(at: i)
                    members.withUnsafeBufferPointer { m in index.rebuild(count: m.count) { m[$0].key } }
                }
            } else if let newValue {
                append(key, newValue)
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }

    /// Objects are equal when they hold the same keys with equal values, in any order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.members.count == b.members.count else { return false }
        for m in a.members where b[m.key] != m.value { return false }
        return true
    }
}
