import Glibc
import JSON

/// `jobrunner-bench json KEYS [ROUNDS]`: parses one object of KEYS members (about
/// 9 bytes each, as a hostile request body would be) ROUNDS times and prints one
/// JSON line with the median time per key. Linear parsing shows as the same time
/// per key at any size.
func runJSONBench(_ arguments: [String]) {
    let keys = arguments.first.flatMap { Int($0) } ?? 80_000
    let rounds = arguments.count > 1 ? Int(arguments[1]) ?? 5 : 5
    var text: [UInt8] = [UInt8(ascii: "{")]
    for i in 0..<keys {
        if i > 0 { text.append(UInt8(ascii: ",")) }
        text += Array("\"\(String(i, radix: 16))\":1".utf8)
    }
    text.append(UInt8(ascii: "}"))
    let limits = JSONLimits(maxBytes: text.count, maxMembers: keys)
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = now()
        guard case .object(let object)? = try? JSONValue.parse(text, limits: limits), object.count == keys else {
            print("{\"error\":\"the document did not parse\"}")
            exit(1)
        }
        times.append(now() - start)
    }
    let median = times.sorted()[times.count / 2]
    print("{\"keys\":\(keys),\"bytes\":\(text.count),\"rounds\":\(rounds),\"seconds\":\(median),\"ns_per_key\":\(median / Double(keys) * 1e9)}")
}
