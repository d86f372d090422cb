import Dispatch
import Glibc
import HTTPServer
import HTTPTestSupport
import Synchronization
import Testing

/// Starts a real server on port 0 for the body and always stops it.
func withServer<R>(_ configure: (inout Router) -> Void, config: (inout ServerConfiguration) -> Void = { _ in },
                   _ body: (HTTPServer) throws -> R) throws -> R {
    var router = Router()
    configure(&router)
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.threads = 2
    config(&configuration)
    let server = HTTPServer(configuration: configuration, router: router)
    try server.start()
    defer { server.stop() }
    #expect(server.port > 0)
    return try body(server)
}

struct Boom: Error {}

@Suite(.timeLimit(.minutes(10))) struct ServerTests {
    @Test func routesWithParametersQueryAndHeaders() async throws {
        try await offPool {
            try withServer({ r in
                r.get("/items/:id") { req in
                    let text = "\(req.parameter("id")!)|\(req.queryValue("q") ?? "-")|\(req.header("X-Thing") ?? "-")"
                    return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: .bytes(Array(text.utf8)))
                }
            }) { server in
                let r = try httpRequest(port: server.port, "GET", "/items/a%20b?q=x%26y&z", headers: [("X-Thing", "42")])
                #expect(r.status == 200)
                #expect(r.text == "a b|x&y|42")
            }
        }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await offPool {
            try withServer({ r in
                r.post("/echo") { req in HTTPResponse(status: 200, body: .bytes(req.body)) }
            }) { server in
                let c = try TestHTTPConnection(port: server.port)
                for i in 0..<5 {
                    let r = try c.request("POST", "/echo", body: Array("body \(i)".utf8))
                    #expect(r.status == 200)
                    #expect(r.text == "body \(i)")
                    #expect(r.header("Connection")?.lowercased() != "close")
                }
            }
        }
    }

    @Test func unknownPathAndWrongMethodGetJSONErrors() async throws {
        try await offPool {
            try withServer({ r in
                r.get("/a") { _ in HTTPResponse(status: 204) }
                r.delete("/a") { _ in HTTPResponse(status: 204) }
            }) { server in
                let missing = try httpRequest(port: server.port, "GET", "/nothing")
                #expect(missing.status == 404)
                #expect(missing.text == #"{"error":"Not found: /nothing"}"#)
                #expect(missing.header("Content-Type") == "application/json")
                let wrong = try httpRequest(port: server.port, "PUT", "/a")
                #expect(wrong.status == 405)
                #expect(wrong.header("Allow") == "GET, DELETE, HEAD")
                #expect(wrong.text.hasPrefix(#"{"error":"#))
            }
        }
    }

    @Test func literalSegmentsBeatParameters() async throws {
        try await offPool {
            try withServer({ r in
                r.get("/jobs/:id") { _ in HTTPResponse(status: 200, body: .bytes(Array("param".utf8))) }
                r.get("/jobs/special") { _ in HTTPResponse(status: 200, body: .bytes(Array("literal".utf8))) }
            }) { server in
                let literal = try httpRequest(port: server.port, "GET", "/jobs/special")
                let param = try httpRequest(port: server.port, "GET", "/jobs/7")
                #expect(literal.text == "literal")
                #expect(param.text == "param")
            }
        }
    }

    @Test func aLiteralPathUnderAnotherMethodIs405NotTheParameterRoute() async throws {
        try await offPool {
            try withServer({ r in
                r.get("/jobs/:id") { _ in HTTPResponse(status: 200, body: .bytes(Array("param".utf8))) }
                r.delete("/jobs/:id") { _ in HTTPResponse(status: 200) }
                r.post("/jobs/clear") { _ in HTTPResponse(status: 200) }
            }) { server in
                let get = try httpRequest(port: server.port, "GET", "/jobs/clear")
                #expect(get.status == 405)
                #expect(get.header("Allow") == "POST")
                #expect(try httpRequest(port: server.port, "DELETE", "/jobs/clear").status == 405)
                #expect(try httpRequest(port: server.port, "GET", "/jobs/7").text == "param")
            }
        }
    }

    @Test func declaredOversizeBodyGets413() async throws {
        try await offPool {
            try withServer({ r in
                r.post("/x") { _ in HTTPResponse(status: 200) }
            }, config: { $0.maxBodyBytes = 1024 }) { server in
                let c = try TestHTTPConnection(port: server.port)
                try c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.status == 413)
                #expect(r.text.contains("too large"))
                let ok = try httpRequest(port: server.port, "POST", "/x", body: String(repeating: "a", count: 1024))
                #expect(ok.status == 200)
            }
        }
    }

    @Test func chunkedOversizeBodyGets413() async throws {
        try await offPool {
            try withServer({ r in
                r.post("/x") { _ in HTTPResponse(status: 200) }
            }, config: { $0.maxBodyBytes = 1024 }) { server in
                let c = try TestHTTPConnection(port: server.port)
                let chunk = String(repeating: "b", count: 800)
                try c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                try c.send("320\r\n\(chunk)\r\n320\r\n\(chunk)\r\n0\r\n\r\n")
                #expect(try c.readResponse().status == 413)
            }
        }
    }

    @Test func handlerFaultIs500WithoutInternalsAndServingGoesOn() async throws {
        try await offPool {
            let logged = Mutex<[String]>([])
            try withServer({ r in
                r.get("/boom") { _ in throw Boom() }
                r.get("/fine") { _ in HTTPResponse(status: 200, body: .bytes(Array("ok".utf8))) }
            }, config: { $0.log = { _, m in logged.withLock { $0.append(m) } } }) { server in
                let r = try httpRequest(port: server.port, "GET", "/boom")
                #expect(r.status == 500)
                #expect(r.text == #"{"error":"Internal server error"}"#)
                #expect(try httpRequest(port: server.port, "GET", "/fine").text == "ok")
            }
            #expect(logged.withLock { $0.contains { $0.contains("/boom") && $0.contains("Boom") } })
        }
    }

    @Test func deferredResponseIsAnsweredFromAnotherThread() async throws {
        try await offPool {
            try withServer({ r in
                r.get("/later") { _ in
                    .deferred { responder in
                        // Another thread, outside the Swift pool this blocking test may occupy.
                        DispatchQueue.global().async {
                            responder.respond(HTTPResponse(status: 202, body: .bytes(Array("done".utf8))))
                        }
                    }
                }
                r.get("/now") { _ in
                    .deferred { responder in responder.respond(HTTPResponse(status: 200, body: .bytes(Array("sync".utf8)))) }
                }
            }) { server in
                let c = try TestHTTPConnection(port: server.port)
                for _ in 0..<3 {
                    let r = try c.request("GET", "/later")
                    #expect(r.status == 202)
                    #expect(r.text == "done")
                    #expect(try c.request("GET", "/now").text == "sync")
                }
            }
        }
    }

    @Test func stopAnswersSuspendedRequestsWith503() async throws {
        try await offPool {
            let reached = DispatchSemaphore(value: 0)
            var router = Router()
            router.get("/never") { _ in .deferred { _ in reached.signal() } }
            var configuration = ServerConfiguration()
            configuration.port = 0
            let server = HTTPServer(configuration: configuration, router: router)
            try server.start()
            let c = try TestHTTPConnection(port: server.port)
            try c.send("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(reached.wait(timeout: .now() + 10) == .success)
            server.stop()
            let r = try c.readResponse()
            #expect(r.status == 503)
            #expect(r.text == #"{"error":"Shutting down"}"#)
        }
    }

    @Test func streamSendsWhatIsWrittenAndEnds() async throws {
        try await offPool {
            let streams = Mutex<[ByteStream]>([])
            try withServer({ r in
                r.get("/stream") { _ in
                    let s = ByteStream()
                    s.write(Array("first\n".utf8))
                    streams.withLock { $0.append(s) }
                    return HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")], body: .stream(s))
                }
            }) { server in
                let c = try TestHTTPConnection(port: server.port)
                try c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                let head = try #require(try c.readUntil(Array("\r\n\r\n".utf8)))
                #expect(String(decoding: head, as: UTF8.self).contains("chunked"))
                #expect(String(decoding: try #require(try c.readUntil(Array("first\n".utf8))), as: UTF8.self).hasSuffix("first\n"))
                let stream = try #require(streams.withLock { $0.first })
                // Written while the connection is suspended: it resumes and sends.
                stream.write(Array("second\n".utf8))
                #expect(try c.readUntil(Array("second\n".utf8)) != nil)
                stream.finish()
                #expect(try c.readUntil(Array("0\r\n\r\n".utf8)) != nil)
            }
        }
    }

    @Test func streamNoticesAClientThatLeft() async throws {
        try await offPool {
            let closed = AsyncStream<Void>.makeStream()
            let stream = ByteStream()
            stream.onClose { closed.continuation.yield() }
            var router = Router()
            router.get("/stream") { _ in HTTPResponse(status: 200, body: .stream(stream)) }
            var configuration = ServerConfiguration()
            configuration.port = 0
            let server = HTTPServer(configuration: configuration, router: router)
            try server.start()
            defer { server.stop() }
            do {
                let c = try TestHTTPConnection(port: server.port)
                try c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try c.readUntil(Array("\r\n\r\n".utf8))
            }
            // The client has closed; the next write (a heartbeat, an event) finds out.
            // Written every 10 ms until it does, for at most 10 s (a count of writes
            // was too short a deadline on a loaded machine).
            var iterator = closed.stream.makeAsyncIterator()
            var gone = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !gone && ContinuousClock.now < deadline {
                stream.write(Array(": ping\n\n".utf8))
                gone = stream.isClosed
                if !gone { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(gone)
            // Its close handler ran (not awaited when it never closed: that would hang the suite).
            if gone { _ = await iterator.next() }
            #expect(stream.write([1]) == .closed)
        }
    }

    @Test func everyResponseSaysNosniffOnce() async throws {
        try await offPool {
            try withServer({ r in
                r.get("/text") { _ in HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: .bytes([0x1B, 0])) }
                r.get("/own") { _ in HTTPResponse(status: 200, headers: [("x-content-type-options", "nosniff")], body: .empty) }
            }) { server in
                for path in ["/text", "/missing"] {
                    let r = try httpRequest(port: server.port, "GET", path)
                    #expect(r.headers.filter { $0.name.lowercased() == "x-content-type-options" }.map(\.value) == ["nosniff"])
                }
                let own = try httpRequest(port: server.port, "GET", "/own")
                #expect(own.headers.filter { $0.name.lowercased() == "x-content-type-options" }.count == 1)
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func anIdleStreamIsLetGoWhenItsClientHangsUpWithoutAWrite() async throws {
        try await offPool {
            let closed = DispatchSemaphore(value: 0)
            let streams = Mutex<[ByteStream]>([])
            var router = Router()
            router.get("/stream") { _ in
                let s = ByteStream()
                s.write(Array("hello\n".utf8))
                s.onClose { closed.signal() }
                streams.withLock { $0.append(s) }
                return HTTPResponse(status: 200, body: .stream(s))
            }
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.streamHeartbeatSeconds = 0
            let server = HTTPServer(configuration: configuration, router: router)
            try server.start()
            defer { server.stop() }
            // Several rounds: descriptor numbers are reused, and a stream still
            // open must never be taken for one that left.
            let kept = try TestHTTPConnection(port: server.port)
            try kept.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try kept.readUntil(Array("hello\n".utf8)) != nil)
            for _ in 0..<5 {
                do {
                    let c = try TestHTTPConnection(port: server.port)
                    try c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                    // Read to its end for now: the stream is idle, its connection suspended.
                    #expect(try c.readUntil(Array("hello\n".utf8)) != nil)
                }
                // No write, no heartbeat: the hang-up alone ends it.
                try #require(closed.wait(timeout: .now() + 10) == .success)
            }
            let first = try #require(streams.withLock { $0.first })
            #expect(!first.isClosed)
            first.write(Array("still here\n".utf8))
            #expect(try kept.readUntil(Array("still here\n".utf8)) != nil)
        }
    }
}
