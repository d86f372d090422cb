import Dispatch
import Essentials
import Glibc
import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import Testing

/// Runs until cancelled, keeping the one worker slot busy.
struct BlockingJob: JobType {
    let name = "block"
    let description = "runs until cancelled"
    let parameters: [ParameterSpec] = []
    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        try await Task.sleep(for: .seconds(3600))
        return .null
    }
}

/// Does nothing; its `payload` parameter makes each of its events large (every
/// `job_created` frame carries the job's params).
struct PayloadJob: JobType {
    let name = "payload"
    let description = "carries a large parameter"
    let parameters: [ParameterSpec] = [.string("payload", default: "", maxLength: 1 << 16, "filler")]
    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue { .null }
}

/// `queue_state` over the WebSocket: bounded, at most one per client at a time,
/// and counted towards the client's outbound limit.
@Suite struct QueueStateLimitTests {
    final class Daemon {
        let engine: JobEngine
        let server: HTTPServer
        var port: Int { server.port }

        /// One worker slot, held by a `block` job, and `pending` echo jobs behind it.
        init(pending: Int, maxQueuedBytes: Int = 1 << 20) throws {
            var registry = JobRegistry.builtIn
            registry.register(BlockingJob())
            registry.register(PayloadJob())
            engine = JobEngine(registry: registry, capacity: 1)
            let api = JobRunnerAPI(engine: engine, webRoot: nil)
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.webSocket.maxQueuedBytes = maxQueuedBytes
            server = HTTPServer(configuration: configuration, router: api.makeRouter())
            try server.start()
            let started = DispatchSemaphore(value: 0)
            let token = engine.subscribe { e in if case .started = e.kind { started.signal() } }
            _ = try engine.submit(type: "block", params: nil)
            #expect(started.wait(timeout: .now() + 10) == .success)
            engine.unsubscribe(token)
            for _ in 0..<pending { _ = try engine.submit(type: "echo", params: ["message": "queued", "delay": 1]) }
        }

        deinit {
            engine.stop()
            server.stop()
        }

        var webSocketClients: Int64? {
            guard let response = try? httpRequest(port: port, "GET", "/api/stats"),
                  let stats = try? JSONValue.parse(response.body) else { return nil }
            let clients: JSONValue? = stats["clients"]
            let count: JSONValue? = clients?["websocket"]
            return count?.intValue
        }
    }

    @Test func queueStateHoldsTheRunningJobTheFirstThousandPendingAndExactCounts() async throws {
        let d = try Daemon(pending: 3000)
        let port = d.port
        let state = try await blocking { () throws -> JSONValue in
            let ws = try TestWebSocket(port: port, path: "/ws/queue")
            return try JSONValue.parse(try ws.receiveText() ?? "")
        }
        let jobs = try #require(state["jobs"]?.arrayValue)
        #expect(jobs.count == 1001)
        #expect(jobs.first?["type"] == "block" && jobs.first?["status"] == "running")
        #expect(jobs.dropFirst().map { $0["id"]?.intValue ?? 0 } == Array(Int64(2)...1001))
        #expect(state["truncated"] == true)
        #expect(state["stats"]?["pending"] == 3000)
        #expect(state["stats"]?["running"] == 1)
        #expect(state["stats"]?["total"] == 3001)
    }

    @Test func getStateWhileOneIsUnsentIsAnsweredByThatOne() async throws {
        let d = try Daemon(pending: 3000)
        let port = d.port
        let types = try await blocking { () throws -> [String] in
            let ws = try TestWebSocket(port: port, path: "/ws/queue")
            _ = try ws.receiveText()
            // Ten requests in one write: the first takes the snapshot's place,
            // the other nine find it unsent.
            var burst: [UInt8] = []
            for _ in 0..<10 { burst += clientFrame(0x1, Array(#"{"type":"get_state"}"#.utf8)) }
            burst += clientFrame(0x1, Array(#"{"type":"ping","ts":1}"#.utf8))
            try ws.send(burst)
            var types: [String] = []
            while types.last != "pong", let text = try ws.receiveText() {
                types.append(try JSONValue.parse(text)["type"]?.stringValue ?? "?")
            }
            return types
        }
        #expect(types == ["queue_state", "pong"])
    }

    @Test func aClientThatNeverReadsIsClosedWith1013() async throws {
        // On a thread of its own: it blocks on its socket while the daemon's
        // jobs need the Swift pool.
        try await blocking {
            let d = try Daemon(pending: 3000, maxQueuedBytes: 64 * 1024)
            let ws = try TestWebSocket(port: d.port, path: "/ws/queue")
            // Without reading: wait until its queue_state has started to arrive.
            var available: Int32 = 0
            let deadline = monotonicNow() + 10
            while available == 0 && monotonicNow() < deadline {
                _ = ioctl(ws.connection.fd, UInt(FIONREAD), &available)
                if available == 0 { sched_yield() }
            }
            #expect(available > 0)
            // Asks for the state 300 times and reads nothing while jobs keep arriving.
            var burst: [UInt8] = []
            for _ in 0..<300 { burst += clientFrame(0x1, Array(#"{"type":"get_state"}"#.utf8)) }
            try ws.send(burst)
            // Enough events to fill both kernel buffers (the server's send buffer grows
            // to tcp_wmem's maximum at most; the client's receive buffer does not grow
            // while nothing is read) and then the 64 KiB queue. Each job's job_created
            // frame is over 16 KiB (its params), so a few hundred jobs do it: the
            // flood ends soon after the daemon gives up on the client, well inside the
            // 5 s it then allows the close frame to drain, however slow the build.
            var rcvbuf: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(ws.connection.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len)
            let wmem = maxSendBuffer()
            let needed = wmem + 2 * Int(rcvbuf) + 64 * 1024 + (1 << 20)
            let payload = JSONValue.string(String(repeating: "x", count: 16 * 1024))
            for _ in 0...(needed / (16 * 1024)) { _ = try d.engine.submit(type: "payload", params: ["payload": payload]) }
            var states = 0
            var code: UInt16?
            while code == nil, let (op, payload) = try ws.receive() {
                if op == 0x8 { code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005 }
                if op == 0x1, String(decoding: payload.prefix(40), as: UTF8.self).contains("queue_state") { states += 1 }
            }
            #expect(code == 1013)
            // The one on connect, and at most one more: never one per request.
            #expect(states >= 1 && states <= 2)
        }
    }
}

/// The largest a TCP send buffer grows to (the last field of tcp_wmem).
func maxSendBuffer() -> Int {
    guard let f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r") else { return 4 << 20 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, 128, f) != nil else { return 4 << 20 }
    let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
    return fields.last.flatMap { Int($0) } ?? 4 << 20
}
