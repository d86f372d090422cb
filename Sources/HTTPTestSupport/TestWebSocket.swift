import Glibc

/// A WebSocket client over the raw test connection.
public final class TestWebSocket {
    public let connection: TestHTTPConnection

    public init(port: Int, path: String = "/ws", extraHeaders: String = "") throws {
        connection = try TestHTTPConnection(port: port)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: \(connection.host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\(extraHeaders)\r\n")
        let response = try connection.readResponse()
        guard response.status == 101, response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" else {
            throw TestClientError("handshake failed: \(response.status)")
        }
    }

    public func send(_ frame: [UInt8]) throws { try connection.send(frame) }

    /// The next frame from the server: (opcode, payload), or nil at end of stream.
    public func receive() throws -> (UInt8, [UInt8])? {
        guard let head = try? connection.readExactly(2) else { return nil }
        guard head[1] & 0x80 == 0 else { throw TestClientError("server frames must be unmasked") }
        var length = Int(head[1] & 0x7F)
        if length == 126 {
            let ext = try connection.readExactly(2)
            length = Int(ext[0]) << 8 | Int(ext[1])
        } else if length == 127 {
            length = try connection.readExactly(8).reduce(0) { $0 << 8 | Int($1) }
        }
        return (head[0] & 0x0F, try connection.readExactly(length))
    }

    /// The close code of the next close frame, skipping other frames.
    public func closeCode() throws -> UInt16? {
        while let (op, payload) = try receive() {
            if op == 0x8 { return payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005 }
        }
        return nil
    }

    /// The next text message, skipping control frames; nil at end of stream or on close.
    public func receiveText() throws -> String? {
        while let (op, payload) = try receive() {
            if op == 0x1 { return String(decoding: payload, as: UTF8.self) }
            if op == 0x8 { return nil }
        }
        return nil
    }
}

/// A masked client frame, as a browser would send it.
public func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d],
                 masked: Bool = true, rsv: UInt8 = 0) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
    let m: UInt8 = masked ? 0x80 : 0
    if payload.count < 126 {
        out.append(m | UInt8(payload.count))
    } else if payload.count <= 0xFFFF {
        out += [m | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    } else {
        out.append(m | 127)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((payload.count >> shift) & 0xFF)) }
    }
    if masked {
        out += mask
        out += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    } else {
        out += payload
    }
    return out
}

