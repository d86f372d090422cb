// libFuzzer targets (`make fuzz`): built with `-sanitize=fuzzer,address`, one
// binary for three targets picked by JOBRUNNER_FUZZ_TARGET: websocket, router, json.
//
// SwiftPM renames an executable's entry point (`jobrunner_fuzz_main`) and points
// `main` at it, so libFuzzer's own `main` cannot be used (and `-parse-as-library`
// leaves that symbol undefined): this file's top-level code hands the command
// line to libFuzzer's driver instead.
//
// Each target feeds untrusted bytes to code that takes them from the network
// and checks what must always hold, beyond "does not crash".
import Glibc
@testable import HTTPServer
import JSON
import JobEngine
import JobQueue
@testable import JobRunnerAPI

let fuzzTarget = getenv("JOBRUNNER_FUZZ_TARGET").map { String(cString: $0) } ?? "json"

/// libFuzzer's entry for programs with their own `main` (from libclang_rt.fuzzer).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch fuzzTarget {
    case "websocket": FuzzWebSocket.run(bytes)
    case "router": FuzzRouter.run(bytes)
    case "json": FuzzJSON.run(bytes)
    default:
        _ = write(2, "JOBRUNNER_FUZZ_TARGET must be websocket, router or json\n", 55)
        exit(2)
    }
    return 0
}

/// The client-to-server frame parser, fed in pieces (the first byte picks the
/// piece size): whatever the split, the same events or the same error.
enum FuzzWebSocket {
    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let input = Array(bytes.dropFirst())
        let whole = parse(input, chunk: max(1, input.count))
        let pieces = parse(input, chunk: Int(first % 17) + 1)
        precondition(whole == pieces, "frame parsing depends on how the bytes arrive")
    }

    static func parse(_ input: [UInt8], chunk: Int) -> [String] {
        var parser = WebSocketParser(maxFrameSize: 4096, maxMessageSize: 8192)
        var out: [String] = []
        var i = 0
        while i < input.count {
            let end = min(input.count, i + chunk)
            do {
                for event in try parser.feed(input[i..<end]) {
                    switch event {
                    case .text(let text):
                        precondition(text.utf8.count <= 8192)
                        out.append("text \(text)")
                    case .binary(let b): out.append("binary \(b.count)")
                    case .ping(let p): out.append("ping \(p)")
                    case .pong(let p): out.append("pong \(p)")
                    case .close(let code, let reason): out.append("close \(code?.rawValue ?? 0) \(reason)")
                    }
                }
            } catch {
                out.append("error \(error.code.rawValue)")
                return out
            }
            if let failure = parser.failure {
                out.append("error \(failure.code.rawValue)")
                return out
            }
            i = end
        }
        return out
    }
}

/// A request as the network can shape it: method, path, query and headers
/// through framing, cross-site, authentication and scope decisions, route
/// resolution and the job-list query parser. Line 1 method, line 2 path,
/// line 3 query (`a=b&c=d`), then `name: value` header lines.
enum FuzzRouter {
    static let engine = JobEngine(queue: JobQueue(), registry: .builtIn, capacity: 1)
    static let entry = TokenEntry(name: "ci", hash: sha256(Array("secret-token".utf8)), scopes: [.read, .submit])
    static let api: JobRunnerAPI = {
        var configuration = APIConfiguration(webRoot: nil)
        configuration.authenticator = Authenticator(mode: .tokens, tokens: [entry])
        configuration.rateLimiter = RateLimiter(perSecond: 1000)
        return JobRunnerAPI(engine: engine, configuration: configuration)
    }()
    static let router = api.makeRouter()

    static func run(_ bytes: [UInt8]) {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 2 else { return }
        let method = lines[0], path = lines[1]
        let query: [(name: String, value: String)] = lines.count > 2
            ? lines[2].split(separator: "&").map { pair in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            } : []
        let headers: [(name: String, value: String)] = lines.dropFirst(3).compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop { $0 == " " }))
        }
        _ = RequestFraming.refusal(version: "HTTP/1.1", headers: headers, nulInTarget: false)
        var request = HTTPRequest(method: method, path: path, query: query, headers: headers)
        request.listening = ListeningAddress(port: 8080, host: "127.0.0.1", isLoopback: true)
        request.remoteAddress = "127.0.0.1"
        let refusal = router.refusal(of: &request)
        if refusal == nil {
            // Passing the gate means: open by the table, or a principal with the scope.
            let rule = AuthPolicy.rule(method: method, path: path)
            if case .scope(let scope) = rule.access {
                let principal = request.attachment as? Principal
                precondition(principal?.has(scope) == true, "\(method) \(path) passed without the '\(scope)' scope")
            }
        } else if let refusal, refusal.status == 401 {
            precondition(refusal.headers.contains { $0.name == "WWW-Authenticate" })
        }
        switch router.resolve(method: method, path: path) {
        case .handler(_, let parameters):
            if let id = parameters["id"] { precondition(!id.isEmpty && !id.contains("/")) }
        case .methodNotAllowed(let allow): precondition(!allow.isEmpty)
        case .notFound: break
        }
        _ = try? JobsQueryParser.parse(request, registry: engine.registry)
        _ = Authenticator.bearerToken(headers.first?.value ?? "")
        _ = Authenticator.sessionID(headers)
        _ = AuthAudit.line(AuditRecord(identity: nil, address: "::1", method: method, path: path, status: 200))
            .utf8.allSatisfy { $0 != UInt8(ascii: "\n") } || { preconditionFailure("an audit line holds a newline") }()
    }
}

/// The JSON parser wrapper (jansson plus conversion, with limits): what it
/// accepts must write back to text that parses to the same value.
enum FuzzJSON {
    static let limits = JSONLimits(maxBytes: 1 << 16, maxDepth: 32, maxMembers: 1000)

    static func run(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes, limits: limits) else { return }
        let text = value.serialized()
        guard let again = try? JSONValue.parse(text, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 32, maxMembers: 1000)) else {
            preconditionFailure("written JSON does not parse: \(String(decoding: text, as: UTF8.self))")
        }
        precondition(again == value, "JSON does not survive a write and a read: \(String(decoding: text, as: UTF8.self))")
    }
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv) { data, size in fuzzOne(data, size) })
