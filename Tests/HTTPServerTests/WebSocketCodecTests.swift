import HTTPServer
import HTTPTestSupport
import Testing

func parse(_ bytes: [UInt8], max: Int = 64 * 1024) throws(WebSocketProtocolError) -> [WebSocketEvent] {
    var p = WebSocketParser(maxFrameSize: max, maxMessageSize: max)
    return try p.feed(bytes)
}

func closeCode(_ bytes: [UInt8], max: Int = 64 * 1024) -> UInt16? {
    var p = WebSocketParser(maxFrameSize: max, maxMessageSize: max)
    do {
        _ = try p.feed(bytes)
        return p.failure?.code.rawValue
    } catch {
        return error.code.rawValue
    }
}

@Suite(.timeLimit(.minutes(10))) struct WebSocketCodecTests {
    /// Found by `make fuzz`: a message before a bad frame in the same read was
    /// dropped, though it is acted on when the bytes come in two reads.
    @Test func framesBeforeAViolationInOneReadAreStillDelivered() throws {
        let bytes = clientFrame(0x1, Array("Bn".utf8)) + [0x6f, 0x73, 0xfe, 0xfc]
        var p = WebSocketParser()
        #expect(try p.feed(bytes) == [.text("Bn")])
        #expect(p.failure?.code == .protocolError)
        #expect(throws: WebSocketProtocolError.self) { try p.feed([0x81]) }
        var split = WebSocketParser()
        #expect(try split.feed(bytes.prefix(8)) == [.text("Bn")])
        #expect(throws: WebSocketProtocolError.self) { try split.feed(bytes.dropFirst(8)) }
    }

    @Test func rfcMaskedHello() throws {
        // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
        let frame: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        #expect(try parse(frame) == [.text("Hello")])
    }

    @Test func rfcServerFramesAreUnmasked() {
        #expect(WebSocketFrame.text(Array("Hello".utf8)) == [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        #expect(WebSocketFrame.encode(.pong, Array("Hello".utf8)) == [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        let medium = WebSocketFrame.encode(.binary, [UInt8](repeating: 0, count: 256))
        #expect(Array(medium.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        let large = WebSocketFrame.encode(.binary, [UInt8](repeating: 0, count: 65536))
        #expect(Array(large.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
        #expect(WebSocketFrame.encode(.text, [UInt8](repeating: 65, count: 125))[1] == 125)
        #expect(WebSocketFrame.close(.goingAway) == [0x88, 0x02, 0x03, 0xE9])
    }

    @Test func fragmentsAreReassembledAroundControlFrames() throws {
        let bytes = clientFrame(0x1, Array("Hel".utf8), fin: false)
            + clientFrame(0x9, Array("ping".utf8))
            + clientFrame(0x0, Array("lo".utf8), fin: true)
        #expect(try parse(bytes) == [.ping(Array("ping".utf8)), .text("Hello")])
    }

    @Test func byteByByteFeeding() throws {
        let bytes = clientFrame(0x1, Array(String(repeating: "é", count: 200).utf8)) + clientFrame(0xA, [1, 2])
        var p = WebSocketParser()
        var events: [WebSocketEvent] = []
        for b in bytes { events += try p.feed([b]) }
        #expect(events == [.text(String(repeating: "é", count: 200)), .pong([1, 2])])
    }

    @Test func utf8SplitAcrossFragmentsIsValid() throws {
        let euro = Array("€".utf8)
        let bytes = clientFrame(0x1, [euro[0]], fin: false) + clientFrame(0x0, Array(euro[1...]))
        #expect(try parse(bytes) == [.text("€")])
    }

    @Test func closeFrames() throws {
        #expect(try parse(clientFrame(0x8, [])) == [.close(nil, "")])
        #expect(try parse(clientFrame(0x8, [0x03, 0xE8] + Array("bye".utf8))) == [.close(.normal, "bye")])
        #expect(try parse(clientFrame(0x8, [0x0F, 0xA0])) == [.close(WebSocketCloseCode(rawValue: 4000), "")])
    }

    @Test func violationsAndTheirCloseCodes() {
        #expect(closeCode(clientFrame(0x1, Array("hi".utf8), masked: false)) == 1002)
        #expect(closeCode(clientFrame(0x1, Array("hi".utf8), rsv: 0x40)) == 1002)
        #expect(closeCode(clientFrame(0x3, [])) == 1002)
        #expect(closeCode(clientFrame(0x9, [UInt8](repeating: 0, count: 126))) == 1002)
        #expect(closeCode(clientFrame(0x9, [], fin: false)) == 1002)
        #expect(closeCode(clientFrame(0x0, Array("x".utf8))) == 1002)
        #expect(closeCode(clientFrame(0x1, Array("a".utf8), fin: false) + clientFrame(0x1, Array("b".utf8))) == 1002)
        #expect(closeCode(clientFrame(0x8, [0x03])) == 1002)
        #expect(closeCode(clientFrame(0x8, [0x03, 0xED])) == 1002) // 1005 may not be sent
        #expect(closeCode(clientFrame(0x8, [0x03, 0xE8, 0xFF])) == 1007)
        #expect(closeCode(clientFrame(0x1, [0xC3, 0x28])) == 1007)
        #expect(closeCode(clientFrame(0x1, [0xED, 0xA0, 0x80])) == 1007) // a UTF-16 surrogate
    }

    @Test func sizeLimits() {
        #expect(closeCode(clientFrame(0x1, [UInt8](repeating: 65, count: 1025)), max: 1024) == 1009)
        #expect(closeCode(clientFrame(0x1, [UInt8](repeating: 65, count: 1024)), max: 1024) == nil)
        let fragments = clientFrame(0x1, [UInt8](repeating: 65, count: 600), fin: false)
            + clientFrame(0x0, [UInt8](repeating: 65, count: 600))
        #expect(closeCode(fragments, max: 1024) == 1009)
        // A header announcing 2^62 bytes is refused before any payload arrives.
        let huge: [UInt8] = [0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0]
        #expect(closeCode(huge) == 1009)
        let negative: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]
        #expect(closeCode(negative) == 1002)
    }

    @Test func incompleteFrameWaitsForMore() throws {
        let frame = clientFrame(0x1, Array("Hello".utf8))
        var p = WebSocketParser()
        #expect(try p.feed(frame.prefix(5)).isEmpty)
        #expect(try p.feed(frame.dropFirst(5)) == [.text("Hello")])
    }
}

@Suite(.timeLimit(.minutes(10))) struct HandshakeTests {
    func request(_ headers: [(String, String)], method: String = "GET") -> HTTPRequest {
        HTTPRequest(method: method, path: "/ws", headers: headers.map { ($0.0.lowercased(), $0.1) })
    }

    let good: [(String, String)] = [
        ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]

    @Test func rfcAcceptValue() throws {
        #expect(WebSocketHandshake.acceptValue(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(try WebSocketHandshake.validate(request(good)) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    func status(_ headers: [(String, String)], origins: [String] = [], method: String = "GET") -> Int? {
        do {
            _ = try WebSocketHandshake.validate(request(headers, method: method), allowedOrigins: origins)
            return nil
        } catch {
            return error.status
        }
    }

    @Test func badHandshakes() {
        #expect(status(good.filter { $0.0 != "Upgrade" }) == 400)
        #expect(status(good.filter { $0.0 != "Connection" }) == 400)
        #expect(status(good.filter { $0.0 != "Sec-WebSocket-Version" }) == 400)
        #expect(status(good.map { $0.0 == "Sec-WebSocket-Version" ? ($0.0, "8") : $0 }) == 400)
        #expect(status(good.filter { $0.0 != "Sec-WebSocket-Key" }) == 400)
        #expect(status(good.map { $0.0 == "Sec-WebSocket-Key" ? ($0.0, "c2hvcnQ=") : $0 }) == 400)
        #expect(status(good.map { $0.0 == "Sec-WebSocket-Key" ? ($0.0, "not base64 at all!!!!!!!") : $0 }) == 400)
        #expect(status(good, method: "POST") == 405)
    }

    @Test func origins() {
        let origins = ["https://jobs.example"]
        #expect(status(good + [("Origin", "https://jobs.example")], origins: origins) == nil)
        #expect(status(good + [("Origin", "https://evil.example")], origins: origins) == 403)
        #expect(status(good, origins: origins) == 403)
        #expect(status(good + [("Origin", "https://evil.example")]) == nil)
    }
}
