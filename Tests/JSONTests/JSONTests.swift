import JSON
import Testing

@Suite(.timeLimit(.minutes(10))) struct JSONParsingTests {
    @Test func roundTripsEveryKind() throws {
        let text = #"{"a":null,"b":true,"c":false,"d":-42,"e":2.5,"f":"x","g":[1,[2]],"h":{"i":{}}}"#
        let value = try JSONValue.parse(text)
        #expect(value.jsonString == text)
    }

    @Test func integersStayExactTo64Bits() throws {
        let value = try JSONValue.parse("[9223372036854775807,-9223372036854775808,7778742049]")
        #expect(value == [.int(Int64.max), .int(Int64.min), .int(7_778_742_049)])
        #expect(value.jsonString == "[9223372036854775807,-9223372036854775808,7778742049]")
    }

    @Test func integerBeyond64BitsIsAnError() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[92233720368547758070]") }
    }

    @Test func keyOrderIsKept() throws {
        let value = try JSONValue.parse(#"{"z":1,"a":2,"m":3}"#)
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(value.jsonString == #"{"z":1,"a":2,"m":3}"#)
    }

    @Test func utf8RoundTrips() throws {
        let text = #"["héllo wörld ✓ 😀","日本語"]"#
        let value = try JSONValue.parse(text)
        #expect(value == ["héllo wörld ✓ 😀", "日本語"])
        #expect(value.jsonString == text)
        #expect(try JSONValue.parse(#""\u00e9\ud83d\ude00""#) == "é😀")
    }

    @Test func controlCharactersAndQuotesAreEscaped() throws {
        let value: JSONValue = .string("a\"b\\c\nd\te\u{01}</script>\u{0}")
        let text = value.jsonString
        #expect(text == #""a\"b\\c\nd\te\u0001</script>\u0000""#)
        #expect(try JSONValue.parse(text) == value)
    }

    @Test func nonFiniteDoublesBecomeNull() {
        #expect(JSONValue.array([.double(.nan), .double(.infinity)]).jsonString == "[null,null]")
    }

    @Test func doublesRoundTrip() throws {
        let v = JSONValue.double(1_764_371_234.5123)
        #expect(try JSONValue.parse(v.jsonString) == v)
    }

    @Test(arguments: ["", "{", "nope", "{\"a\":1,}", "[1 2]", "{\"a\":1,\"a\":2}", "\"\\x\""])
    func malformedInputIsRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func depthLimit() throws {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(throws: JSONParseError(kind: .tooDeep, message: "nesting deeper than 32 levels")) {
            try JSONValue.parse(deep, limits: JSONLimits(maxDepth: 32))
        }
        #expect(try JSONValue.parse(deep, limits: JSONLimits(maxDepth: 40)) != .null)
        // Deeper than jansson's own limit: refused, not a crash.
        let tooDeep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(tooDeep) }
    }

    @Test func sizeLimit() {
        #expect(throws: JSONParseError.self) {
            try JSONValue.parse("[" + String(repeating: "1,", count: 100) + "1]", limits: JSONLimits(maxBytes: 50))
        }
    }

    @Test func nulInsideStringsIsKept() throws {
        #expect(try JSONValue.parse(#""a\u0000b""#) == .string("a\u{0}b"))
    }

    @Test func objectEqualityIgnoresOrder() throws {
        #expect(try JSONValue.parse(#"{"a":1,"b":2}"#) == JSONValue.parse(#"{"b":2,"a":1}"#))
    }
}
