import Dispatch
import Essentials
import Glibc
import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
import JobQueue
import JobRunnerAPI
import Synchronization
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

/// `queue_state` over the WebSocket: bounded, at most one per client at a time,
/// and counted towards the client's outbound limit.
@Suite(.timeLimit(.minutes(10))) struct QueueStateLimitTests {
    /// The server's side of each `/ws/queue` connection, once open.
    final class Opened: Sendable {
        let sockets = Mutex<[WebSocket]>([])
    }

    final class Daemon {
        let engine: JobEngine
        let server: HTTPServer
        let opened: Opened
        var port: Int { server.port }

        /// One worker slot, held by a `block` job, and `pending` echo jobs behind it.
        init(pending: Int, maxQueuedBytes: Int = 1 << 20) throws {
            var registry = JobRegistry.builtIn
            registry.register(BlockingJob())
            engine = JobEngine(registry: registry, capacity: 1)
            let api = JobRunnerAPI(engine: engine, webRoot: nil)
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.webSocket.maxQueuedBytes = maxQueuedBytes
            // The API's own `/ws/queue`, with each connection's server side noted
            // (the route added last for a pattern is the one that answers).
            var router = api.makeRouter()
            guard case .handler(let queueSocket, _) = router.resolve(method: "GET", path: "/ws/queue") else {
                throw TestClientError("no /ws/queue route")
            }
            let opened = Opened()
            self.opened = opened
            router.get("/ws/queue") { request in
                var response = try queueSocket(request)
                if case .upgrade(var handler) = response.body {
                    let open = handler.onOpen
                    handler.onOpen = { ws in
                        opened.sockets.withLock { $0.append(ws) }
                        open(ws)
                    }
                    response.body = .upgrade(handler)
                }
                return response
            }
            server = HTTPServer(configuration: configuration, router: router)
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
            // Each socket's handler holds `opened` (its onOpen notes it there):
            // let them go, or the sockets, their loop and its buffer leak.
            opened.sockets.withLock { $0.removeAll() }
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
        try await offPool {
            let d = try Daemon(pending: 3000)
            let ws = try TestWebSocket(port: d.port, path: "/ws/queue")
            let state = try JSONValue.parse(try ws.receiveText() ?? "")
            let jobs = try #require(state["jobs"]?.arrayValue)
            #expect(jobs.count == 1001)
            #expect(jobs.first?["type"] == "block" && jobs.first?["status"] == "running")
            #expect(jobs.dropFirst().map { $0["id"]?.intValue ?? 0 } == Array(Int64(2)...1001))
            #expect(state["truncated"] == true)
            #expect(state["stats"]?["pending"] == 3000)
            #expect(state["stats"]?["running"] == 1)
            #expect(state["stats"]?["total"] == 3001)
        }
    }

    @Test func getStateWhileOneIsUnsentIsAnsweredByThatOne() async throws {
        try await offPool {
            let d = try Daemon(pending: 3000)
            let ws = try TestWebSocket(port: d.port, path: "/ws/queue")
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
            #expect(types == ["queue_state", "pong"])
        }
    }

    @Test func aClientThatNeverReadsIsClosedWith1013() async throws {
        try await offPool {
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
            let serverSide = try #require(d.opened.sockets.withLock { $0.first })
            // Asks for the state 300 times and reads nothing while jobs keep arriving,
            // until the server gives up on it. Once it has, it allows 5 s for the rest
            // of a partly written frame and the close frame to go out, so the reading
            // below begins at once (jobs submitted until a fixed byte count could take
            // longer than that under load).
            var burst: [UInt8] = []
            for _ in 0..<300 { burst += clientFrame(0x1, Array(#"{"type":"get_state"}"#.utf8)) }
            try ws.send(burst)
            let givingUp = monotonicNow() + 60
            while serverSide.isOpen && monotonicNow() < givingUp {
                for _ in 0..<100 { _ = try d.engine.submit(type: "echo", params: ["message": "more", "delay": 1]) }
            }
            #expect(!serverSide.isOpen, "the server never gave up on a client that reads nothing")
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
