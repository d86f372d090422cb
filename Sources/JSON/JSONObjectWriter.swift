/// Objects and arrays member by member, straight into the writer's one buffer:
///
///     w.object { o in
///         o.int("id", job.id)
///         o.string("type", job.type)
///         o.write("progress") { $0.progress(job.progress) }
///     }
///
/// Keys are static ASCII names written as they are (no escaping to do, checked
/// in debug builds); values are escaped once as they are appended. Commas,
/// quotes and colons are the writer's business, so no hand-typed fragment can
/// drop one. No `JSONValue` tree is built.
extension JSONWriter {
    /// `{...}` with the members `body` writes, in its order.
    @inlinable
    public mutating func object(_ body: (inout Members) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        // The buffer moves into the members' writer and back: still one buffer,
        // never copied.
        var members = Members()
        swap(&bytes, &members.writer.bytes)
        body(&members)
        swap(&bytes, &members.writer.bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    /// `[...]` with each item written by `item`.
    @inlinable
    public mutating func array<S: Sequence>(_ items: S, _ item: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for element in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            item(&self, element)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// The members of an object being written (`JSONWriter.object`).
    public struct Members {
        @usableFromInline var writer = JSONWriter(bytes: [])
        @usableFromInline var empty = true

        @inlinable init() {}

        /// `,"key":` (no comma before the first member).
        @inlinable
        mutating func key(_ key: StaticString) {
            assert(key.utf8CodeUnitCount > 0 && key.withUTF8Buffer { $0.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C } },
                   "a key is written as it is: printable ASCII without quotes or backslashes")
            if !empty { writer.bytes.append(UInt8(ascii: ",")) }
            empty = false
            writer.bytes.append(UInt8(ascii: "\""))
            key.withUTF8Buffer { writer.bytes.append(contentsOf: $0) }
            writer.bytes.append(UInt8(ascii: "\""))
            writer.bytes.append(UInt8(ascii: ":"))
        }

        /// A member whose value `value` writes (any of the writer's shapes).
        @inlinable
        public mutating func write(_ key: StaticString, _ value: (inout JSONWriter) -> Void) {
            self.key(key)
            value(&writer)
        }

        /// A member holding a `JSONValue` already at hand (params, results).
        @inlinable
        public mutating func write(_ key: StaticString, _ value: JSONValue) {
            self.key(key)
            writer.write(value)
        }

        @inlinable
        public mutating func string(_ key: StaticString, _ value: String) {
            self.key(key)
            writer.string(value)
        }

        /// The string, or `null`.
        @inlinable
        public mutating func string(_ key: StaticString, _ value: String?) {
            self.key(key)
            if let value { writer.string(value) } else { writer.raw("null") }
        }

        @inlinable
        public mutating func int(_ key: StaticString, _ value: Int64) {
            self.key(key)
            writer.int(value)
        }

        @inlinable
        public mutating func int(_ key: StaticString, _ value: Int) {
            self.key(key)
            writer.int(Int64(value))
        }

        /// The number, or `null`.
        @inlinable
        public mutating func int(_ key: StaticString, _ value: Int64?) {
            self.key(key)
            if let value { writer.int(value) } else { writer.raw("null") }
        }

        @inlinable
        public mutating func double(_ key: StaticString, _ value: Double) {
            self.key(key)
            writer.double(value)
        }

        /// The number, or `null`.
        @inlinable
        public mutating func double(_ key: StaticString, _ value: Double?) {
            self.key(key)
            if let value { writer.double(value) } else { writer.raw("null") }
        }

        @inlinable
        public mutating func bool(_ key: StaticString, _ value: Bool) {
            self.key(key)
            writer.raw(value ? "true" : "false")
        }

        @inlinable
        public mutating func null(_ key: StaticString) {
            self.key(key)
            writer.raw("null")
        }

        /// A member that is an object of its own.
        @inlinable
        public mutating func object(_ key: StaticString, _ body: (inout Members) -> Void) {
            self.key(key)
            writer.object(body)
        }

        /// A member that is an array, each item written by `item`.
        @inlinable
        public mutating func array<S: Sequence>(_ key: StaticString, _ items: S, _ item: (inout JSONWriter, S.Element) -> Void) {
            self.key(key)
            writer.array(items, item)
        }
    }
}
