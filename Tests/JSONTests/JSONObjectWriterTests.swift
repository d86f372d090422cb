import JSON
import Testing

/// `JSONWriter.object`: members in order, commas and quotes placed by the
/// writer, values escaped once; the bytes are what serialising the same
/// `JSONValue` gives.
@Suite(.timeLimit(.minutes(10))) struct JSONObjectWriterTests {
    @Test func membersOfEveryKindMatchTheValueSerialisation() {
        var w = JSONWriter()
        w.object { o in
            o.int("id", Int64(-42))
            o.int("n", 7)
            o.int("none", nil as Int64?)
            o.string("text", "a \"quoted\"\nline\\ \u{1}é")
            o.string("missing", nil as String?)
            o.double("x", 1.5)
            o.double("inf", Double.infinity)
            o.double("absent", nil as Double?)
            o.bool("yes", true)
            o.null("nothing")
            o.write("value", ["k": [1, "two"]])
            o.write("custom") { $0.int(3) }
            o.object("nested") { $0.bool("deep", false) }
            o.object("empty") { _ in }
            o.array("list", [1.0, 2.25]) { $0.double($1) }
            o.array("none_yet", [Int]()) { $0.int(Int64($1)) }
        }
        let expected: JSONValue = [
            "id": -42, "n": 7, "none": .null, "text": .string("a \"quoted\"\nline\\ \u{1}é"), "missing": .null,
            "x": 1.5, "inf": .null, "absent": .null, "yes": true, "nothing": .null, "value": ["k": [1, "two"]],
            "custom": 3, "nested": ["deep": false], "empty": .object(JSONObject()), "list": [1.0, 2.25],
            "none_yet": .array([]),
        ]
        #expect(String(decoding: w.bytes, as: UTF8.self) == expected.jsonString)
        #expect(String(decoding: w.bytes, as: UTF8.self).hasPrefix(#"{"id":-42,"n":7,"none":null,"text":"a \"quoted\"\nline\\ \u0001é","#))
        #expect((try? JSONValue.parse(w.bytes)) == expected)
    }

    /// Writing appends to what the buffer holds (an SSE `data:` line), and
    /// arrays of objects separate their items.
    @Test func appendsToTheBufferInPlace() {
        var w = JSONWriter(capacity: 8)
        w.raw("data: ")
        w.array([1, 2]) { w, i in w.object { $0.int("i", i) } }
        w.object { _ in }
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"data: [{"i":1},{"i":2}]{}"#)
    }
}
