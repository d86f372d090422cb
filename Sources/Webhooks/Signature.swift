import CurlClient

/// `X-JobRunner-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes
/// under the endpoint's secret, lowercase hex.
public enum WebhookSignature {
    public static func header(secret: [UInt8], body: [UInt8]) -> String {
        "sha256=" + hex(hmacSHA256(key: secret, data: body))
    }

    /// Whether `header` is the signature of `body` (compared in constant time).
    public static func verify(header: String, secret: [UInt8], body: [UInt8]) -> Bool {
        let expected = Array(self.header(secret: secret, body: body).utf8)
        let given = Array(header.utf8)
        guard expected.count == given.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<expected.count { diff |= expected[i] ^ given[i] }
        return diff == 0
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// When the next attempt comes: `initial * 2^(attempts-1)`, at most `max`, with
/// "equal jitter" (between half and all of it) so many failed deliveries do not
/// come back at the same instant.
public enum WebhookBackoff {
    /// `attempts`: how many were made so far (1 after the first); `random` in 0..<1.
    public static func delay(afterAttempts attempts: Int, initial: Double, max: Double, random: Double) -> Double {
        let exponent = Swift.min(Swift.max(attempts - 1, 0), 40)
        let base = Swift.min(initial * Double(1 << UInt64(exponent)), max)
        return base / 2 + base / 2 * random
    }
}
