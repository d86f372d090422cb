import Dispatch
import Glibc
import HTTPServer
import HTTPTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct WebSocketServerTests {
    /// An echo server; `opened` counts handlers that ran.
    func withEchoServer(limits: (inout WebSocketLimits) -> Void = { _ in }, _ body: (HTTPServer) throws -> Void) throws {
        try withServer({ r in
            r.get("/ws") { req in
                try HTTPResponse.webSocket(req, handler: WebSocketHandler(
                    onOpen: { ws in ws.send(text: "welcome") },
                    onText: { ws, text in ws.send(text: "echo: " + text) }
                ))
            }
        }, config: { limits(&$0.webSocket) }) { server in try body(server) }
    }

    @Test func echoesTextAndAnswersPings() async throws {
        try await offPool {
            try withEchoServer { server in
                let ws = try TestWebSocket(port: server.port)
                #expect(try ws.receive()?.1 == Array("welcome".utf8))
                try ws.send(clientFrame(0x1, Array("hi".utf8)))
                #expect(try ws.receive()?.1 == Array("echo: hi".utf8))
                try ws.send(clientFrame(0x9, Array("are you there".utf8)))
                let pong = try #require(try ws.receive())
                #expect(pong.0 == 0xA && pong.1 == Array("are you there".utf8))
                try ws.send(clientFrame(0x1, Array("frag".utf8), fin: false) + clientFrame(0x0, Array("ment".utf8)))
                #expect(try ws.receive()?.1 == Array("echo: fragment".utf8))
            }
        }
    }

    @Test func closeIsEchoedAndTheConnectionEnds() async throws {
        try await offPool {
            try withEchoServer { server in
                let ws = try TestWebSocket(port: server.port)
                _ = try ws.receive()
                try ws.send(clientFrame(0x8, [0x0F, 0xA0] + Array("done".utf8)))
                #expect(try ws.closeCode() == 4000)
                #expect(try ws.receive() == nil)
            }
        }
    }

    @Test func unmaskedFrameIsAProtocolError() async throws {
        try await offPool {
            try withEchoServer { server in
                let ws = try TestWebSocket(port: server.port)
                try ws.send(clientFrame(0x1, Array("hi".utf8), masked: false))
                #expect(try ws.closeCode() == 1002)
            }
        }
    }

    @Test func invalidUTF8Is1007AndOversizeIs1009() async throws {
        try await offPool {
            try withEchoServer(limits: { $0.maxMessageBytes = 1000 }) { server in
                let a = try TestWebSocket(port: server.port)
                try a.send(clientFrame(0x1, [0xFF, 0xFE]))
                #expect(try a.closeCode() == 1007)
                let b = try TestWebSocket(port: server.port)
                try b.send(clientFrame(0x1, [UInt8](repeating: 65, count: 1001)))
                #expect(try b.closeCode() == 1009)
                // The server is unaffected.
                let c = try TestWebSocket(port: server.port)
                #expect(try c.receive()?.1 == Array("welcome".utf8))
            }
        }
    }

    @Test func badHandshakeIs400() async throws {
        try await offPool {
            try withEchoServer { server in
                let r = try httpRequest(port: server.port, "GET", "/ws", headers: [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                                                  ("Sec-WebSocket-Version", "13")])
                #expect(r.status == 400)
                #expect(r.text.contains("Sec-WebSocket-Key"))
            }
        }
    }

    @Test func slowReaderIsClosedWith1013AndMemoryStaysBounded() async throws {
        try await offPool {
            try withServerSideSocket { client, ws in
                let frame = WebSocketFrame.text([UInt8](repeating: 66, count: 4096))
                var refused = false
                var sent = 0
                // The client reads nothing: kernel buffers fill, then our queue, then 1013.
                while !refused && sent < 100_000 {
                    refused = !ws.send(frame: frame)
                    #expect(ws.queuedBytes <= 64 * 1024 + 4200)
                    sent += 1
                }
                let code = try client.closeCode()
                #expect(refused)
                #expect(code == 1013)
            }
        }
    }

    @Test func coalescedFramesReplaceEachOther() async throws {
        try await offPool {
            try withServerSideSocket { client, ws in
                // Thousands of progress frames for one key never overflow the queue.
                for i in 0..<5000 {
                    #expect(ws.send(frame: WebSocketFrame.text(Array("progress \(i) ".utf8) + [UInt8](repeating: 67, count: 1000)),
                                    coalescingKey: 7))
                }
                ws.send(text: "last")
                var seen: [String] = []
                while let (_, payload) = try client.receive() {
                    let text = String(decoding: payload.prefix(20), as: UTF8.self)
                    seen.append(text)
                    if text == "last" { break }
                }
                #expect(seen.last == "last")
                #expect(seen.dropLast().last?.hasPrefix("progress 4999") == true)
                #expect(ws.isOpen)
            }
        }
    }

    /// A server with a 64 KiB outbound limit; the body gets the test client and the
    /// server's side of its connection, once it is open.
    func withServerSideSocket(_ body: (TestWebSocket, WebSocket) throws -> Void) throws {
        let sockets = Mutex<[WebSocket]>([])
        // Each socket's handler holds `sockets`: emptied, or socket and box keep each other.
        defer { sockets.withLock { $0 = [] } }
        let opened = DispatchSemaphore(value: 0)
        try withServer({ r in
            r.get("/ws") { req in
                try HTTPResponse.webSocket(req, handler: WebSocketHandler(
                    onOpen: { ws in
                        sockets.withLock { $0.append(ws) }
                        opened.signal()
                    },
                    onText: { _, _ in }
                ))
            }
        }, config: { $0.webSocket.maxQueuedBytes = 64 * 1024 }) { server in
            let client = try TestWebSocket(port: server.port)
            #expect(opened.wait(timeout: .now() + 10) == .success)
            try body(client, try #require(sockets.withLock { $0.first }))
        }
    }

    @Test func stopClosesWebSocketsWith1001() async throws {
        try await offPool {
            var router = Router()
            router.get("/ws") { req in try HTTPResponse.webSocket(req, handler: WebSocketHandler(onText: { _, _ in })) }
            var configuration = ServerConfiguration()
            configuration.port = 0
            let server = HTTPServer(configuration: configuration, router: router)
            try server.start()
            let ws = try TestWebSocket(port: server.port)
            try ws.send(clientFrame(0x9, []))
            #expect(try ws.receive()?.0 == 0xA) // the connection is registered and live
            server.stop()
            #expect(try ws.closeCode() == 1001)
        }
    }

    /// An embedding that stops its server gets the memory of its connections back.
    @Test func aStoppedServerLetsGoOfItsWebSockets() async throws {
        try await offPool {
            struct Weak { weak var socket: WebSocket? }
            let seen = Mutex(Weak())
            var router = Router()
            router.get("/ws") { req in
                try HTTPResponse.webSocket(req, handler: WebSocketHandler(
                    onOpen: { ws in seen.withLock { $0.socket = ws } }, onText: { _, _ in }))
            }
            var configuration = ServerConfiguration()
            configuration.port = 0
            let server = HTTPServer(configuration: configuration, router: router)
            try server.start()
            let ws = try TestWebSocket(port: server.port)
            try ws.send(clientFrame(0x9, []))
            #expect(try ws.receive()?.0 == 0xA)
            #expect(seen.withLock { $0.socket != nil })
            server.stop()
            #expect(try ws.closeCode() == 1001)
            let deadline = DispatchTime.now() + 10
            while seen.withLock({ $0.socket != nil }) && DispatchTime.now() < deadline { sched_yield() }
            #expect(seen.withLock { $0.socket == nil })
        }
    }
}
