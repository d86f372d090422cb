import Glibc
import JSON

/// `jobrunner-bench json KEYS [ROUNDS]`: parses one object of KEYS members (about
/// 9 bytes each, as a hostile request body would be) ROUNDS times and prints one
/// JSON line with median times per key: the whole parse, jansson's part (timed
/// by a parse that the member cap refuses after jansson, before conversion) and
/// the difference, the conversion to `JSONValue`. Linear parsing shows as about
/// the same time per key at any size.
func runJSONBench(_ arguments: [String]) {
    let keys = arguments.first.flatMap { Int($0) } ?? 80_000
    let rounds = arguments.count > 1 ? Int(arguments[1]) ?? 5 : 5
    var text: [UInt8] = [UInt8(ascii: "{")]
    for i in 0..<keys {
        if i > 0 { text.append(UInt8(ascii: ",")) }
        text += Array("\"\(String(i, radix: 16))\":1".utf8)
    }
    text.append(UInt8(ascii: "}"))
    let accept = JSONLimits(maxBytes: text.count, maxMembers: keys)
    let refuse = JSONLimits(maxBytes: text.count, maxMembers: keys - 1)
    var whole: [Double] = []
    var jansson: [Double] = []
    for _ in 0..<rounds {
        var start = EngineBench.now()
        guard case .object(let object)? = try? JSONValue.parse(text, limits: accept), object.count == keys else {
            print("{\"error\":\"the document did not parse\"}")
            exit(1)
        }
        whole.append(EngineBench.now() - start)
        start = EngineBench.now()
        _ = try? JSONValue.parse(text, limits: refuse)
        jansson.append(EngineBench.now() - start)
    }
    func perKey(_ times: [Double]) -> Double { times.sorted()[times.count / 2] / Double(keys) * 1e9 }
    let total = perKey(whole)
    let janssonPart = perKey(jansson)
    print("{\"keys\":\(keys),\"bytes\":\(text.count),\"rounds\":\(rounds),\"ns_per_key\":\(total),"
        + "\"jansson_ns_per_key\":\(janssonPart),\"convert_ns_per_key\":\(total - janssonPart)}")
}
