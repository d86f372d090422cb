/// The opening handshake (RFC 6455 §4.2): checks the request and computes
/// `Sec-WebSocket-Accept` with GnuTLS's SHA-1 (`sha1` in `LibMicroHTTPD.swift`).
public enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Validates an upgrade request; returns the accept value or the error to answer with.
    /// `allowedOrigins` empty means any origin.
    public static func validate(_ request: HTTPRequest, allowedOrigins: [String] = []) throws(HTTPError) -> String {
        guard request.method == "GET" else {
            throw HTTPError(405, "WebSocket upgrade needs GET", headers: [("Allow", "GET")])
        }
        guard let upgrade = request.header("Upgrade"), upgrade.lowercased().contains("websocket") else {
            throw HTTPError(400, "Expected a WebSocket upgrade (Upgrade: websocket)")
        }
        guard let connection = request.header("Connection"),
              connection.lowercased().split(separator: ",").contains(where: { $0.trimmingCharacters() == "upgrade" }) else {
            throw HTTPError(400, "Expected 'Connection: Upgrade'")
        }
        guard request.header("Sec-WebSocket-Version")?.trimmingCharacters() == "13" else {
            throw HTTPError(400, "Unsupported WebSocket version (need 13)", headers: [("Sec-WebSocket-Version", "13")])
        }
        guard let key = request.header("Sec-WebSocket-Key")?.trimmingCharacters(),
              let decoded = Base64.decode(key), decoded.count == 16 else {
            throw HTTPError(400, "Missing or invalid Sec-WebSocket-Key")
        }
        if !allowedOrigins.isEmpty {
            guard let origin = request.header("Origin"), allowedOrigins.contains(origin) else {
                throw HTTPError(403, "Origin not allowed")
            }
        }
        return acceptValue(for: key)
    }

    /// base64(SHA-1(key + GUID)).
    public static func acceptValue(for key: String) -> String {
        Base64.encode(sha1(Array((key + guid).utf8)))
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// Standard base64 with padding.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0, !chars.isEmpty else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            var n: UInt32 = 0
            var pad = 0
            for j in 0..<4 {
                let c = chars[i + j]
                let v: UInt32
                if c == UInt8(ascii: "=") {
                    guard i + 4 == chars.count, j >= 2 else { return nil }
                    pad += 1
                    v = 0
                } else if let idx = alphabet.firstIndex(of: c) {
                    guard pad == 0 else { return nil }
                    v = UInt32(idx)
                } else {
                    return nil
                }
                n = n << 6 | v
            }
            out.append(UInt8(n >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        return out
    }
}
