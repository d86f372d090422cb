import CurlClient

/// `X-JobRunner-Signature: t=<unix seconds>,v1=<hex>` (the scheme of Stripe's
/// webhooks): `v1` is the lowercase hex HMAC-SHA256, under the endpoint's secret,
/// of the attempt's send time in decimal, a `.`, and the exact body bytes. The
/// time is inside the MAC, so a receiver that refuses an old `t` refuses a
/// replayed request: a captured request cannot be re-sent later with a new time.
public enum WebhookSignature {
    /// The scheme's name in the header; a later scheme gets another (`v2=`).
    public static let scheme = "v1"

    /// The header's value for an attempt sent at `timestamp` (epoch seconds).
    public static func header(secret: [UInt8], timestamp: Int64, body: [UInt8]) -> String {
        "t=\(timestamp),\(scheme)=" + hex(mac(secret: secret, time: String(timestamp), body: body))
    }

    /// HMAC-SHA256 of `"<time>.<body>"`, the time's digits as the header gives them.
    static func mac(secret: [UInt8], time: String, body: [UInt8]) -> [UInt8] {
        var signed = Array(time.utf8)
        signed.append(UInt8(ascii: "."))
        signed += body
        return hmacSHA256(key: secret, data: signed)
    }

    /// Whether `header` signs `body` under `secret` at a time within `tolerance`
    /// seconds of `now`: what a receiver checks. Items other than `t` and `v1`
    /// are ignored; any one `v1` that matches (compared in constant time) will do.
    public static func verify(header: String, secret: [UInt8], body: [UInt8], now: Double, tolerance: Double = 300) -> Bool {
        var time: String?
        var given: [[UInt8]] = []
        for item in header.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingSpaces(), value = parts[1].trimmingSpaces()
            if key == "t" {
                guard time == nil, value.allSatisfy(\.isASCIIDigit), Int64(value) != nil else { return false }
                time = value
            } else if key == scheme {
                given.append(Array(value.utf8))
            }
        }
        guard let time, let t = Int64(time), !given.isEmpty, abs(now - Double(t)) <= tolerance else { return false }
        let expected = Array(hex(mac(secret: secret, time: time, body: body)).utf8)
        var matched = false
        for g in given where constantTimeEqual(expected, g) { matched = true }
        return matched
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
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

private extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

private extension Character {
    var isASCIIDigit: Bool { asciiValue.map { (48...57).contains($0) } ?? false }
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
