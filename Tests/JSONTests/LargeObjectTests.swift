@testable import JSON
import Testing

/// Objects with many members: a cap on their size, and linear-time building.
@Suite(.timeLimit(.minutes(10))) struct LargeObjectTests {
    static func objectText(keys: Int, prefix: String = "k") -> String {
        "{" + (0..<keys).map { "\"\(prefix)\($0)\":\($0)" }.joined(separator: ",") + "}"
    }

    @Test func membersPerObjectAreCapped() throws {
        #expect(JSONLimits().maxMembers == 10_000)
        #expect(try JSONValue.parse(Self.objectText(keys: 10_000)).objectValue?.count == 10_000)
        #expect(throws: JSONParseError(kind: .tooManyMembers, message: "object has more than 10000 members")) {
            try JSONValue.parse(Self.objectText(keys: 10_001))
        }
        // The cap is per object, at any depth.
        let nested = #"{"a":{"x":1,"y":2,"z":3},"b":[{"p":1,"q":2}]}"#
        #expect(throws: JSONParseError(kind: .tooManyMembers, message: "object has more than 2 members")) {
            try JSONValue.parse(nested, limits: JSONLimits(maxMembers: 2))
        }
        #expect(try JSONValue.parse(nested, limits: JSONLimits(maxMembers: 3))["a"]?["z"] == 3)
    }

    @Test func aLargeObjectParsesInOrderAndIsHashed() throws {
        let n = 80_000
        let text = Self.objectText(keys: n)
        let value = try JSONValue.parse(text, limits: JSONLimits(maxBytes: 4 << 20, maxMembers: n))
        let object = try #require(value.objectValue)
        #expect(object.count == n)
        #expect(object.isHashed)
        #expect(object.keys.first == "k0" && object.keys.last == "k79999")
        #expect(object["k0"] == 0 && object["k40000"] == 40_000 && object["k79999"] == 79_999 && object["k80000"] == nil)
        #expect(value.jsonString == text)
    }

    @Test func duplicateKeysAreRefusedInLargeObjectsToo() {
        let text = String(Self.objectText(keys: 5_000).dropLast()) + #","k17":1}"#
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func keysEqualOnceNormalisedAreDuplicates() {
        // "é" precomposed and as e + combining acute: different bytes (jansson lets
        // both through), one Swift string; never silently merged into one member.
        #expect(throws: JSONParseError(kind: .malformed, message: "duplicate object key 'e\u{301}'")) {
            try JSONValue.parse("{\"\u{e9}\":1,\"e\u{301}\":2}")
        }
    }

    @Test func smallObjectsScanAndLargeOnesHash() throws {
        let limit = KeyIndex<String>.scanLimit
        #expect(try JSONValue.parse(Self.objectText(keys: limit)).objectValue?.isHashed == false)
        #expect(try JSONValue.parse(Self.objectText(keys: limit + 1)).objectValue?.isHashed == true)
        var built = JSONObject()
        for i in 0...limit { built["k\(i)"] = .int(Int64(i)) }
        #expect(built.isHashed)
        built["k3"] = nil
        #expect(!built.isHashed)
        #expect(built.keys == (0...limit).filter { $0 != 3 }.map { "k\($0)" })
        #expect(built["k16"] == 16 && built["k3"] == nil)
    }

    @Test func editingAHashedObjectKeepsOrderAndLookups() {
        var object = JSONObject((0..<100).map { ("k\($0)", JSONValue.int(Int64($0))) })
        object["k10"] = "ten"
        object["k50"] = nil
        object["new"] = true
        #expect(object.count == 100)
        #expect(object.keys.prefix(3) == ["k0", "k1", "k2"] && object.keys.last == "new")
        #expect(object["k10"] == "ten" && object["k50"] == nil && object["k51"] == 51 && object["new"] == true)
        #expect(object.keys.firstIndex(of: "k51") == 50)
        let reordered = JSONObject(object.members.reversed().map { ($0.key, $0.value) })
        #expect(reordered == object)
    }

    /// Structural, not timed: counts every key comparison and hash while building
    /// objects of 10k and 80k distinct keys with a duplicate check per key (as the
    /// parser does). Per key the work stays a small constant at both sizes; a scan
    /// per insertion would cost thousands of comparisons per key.
    @Test func buildingIsLinearInTheNumberOfKeys() {
        func workPerKey(_ n: Int) -> Double {
            let counter = CountingKey.Counter()
            var keys: [CountingKey] = []
            var index = KeyIndex<CountingKey>()
            for i in 0..<n {
                let key = CountingKey(id: i, counter: counter)
                let found = keys.withUnsafeBufferPointer { k in index.position(of: key, count: k.count) { k[$0] } }
                #expect(found == nil)
                keys.append(key)
                keys.withUnsafeBufferPointer { k in index.didAppend(key, at: i) { k[$0] } }
            }
            // Every key is found again at its own position.
            for key in keys.prefix(100) + keys.suffix(100) {
                let found = keys.withUnsafeBufferPointer { k in index.position(of: key, count: k.count) { k[$0] } }
                #expect(found == key.id)
            }
            return Double(counter.comparisons + counter.hashes) / Double(n)
        }
        let small = workPerKey(10_000)
        let large = workPerKey(80_000)
        #expect(small < 20, "key operations per key at 10k keys: \(small)")
        #expect(large < 20, "key operations per key at 80k keys: \(large)")
        #expect(large < small * 1.5, "per-key work grew from \(small) to \(large)")
    }
}

/// A key that counts how often it is compared and hashed.
struct CountingKey: Hashable {
    final class Counter {
        var comparisons = 0
        var hashes = 0
    }

    let id: Int
    let counter: Counter

    static func == (a: CountingKey, b: CountingKey) -> Bool {
        a.counter.comparisons += 1
        return a.id == b.id
    }

    func hash(into hasher: inout Hasher) {
        counter.hashes += 1
        hasher.combine(id)
    }
}
