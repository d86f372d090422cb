import CurlClient
import Testing
import Webhooks

@Suite(.timeLimit(.minutes(10))) struct SignatureTests {
    @Test func hmacMatchesRFC4231() {
        // RFC 4231, test case 2.
        let mac = hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func headerSignsTheTimeAndTheExactBody() {
        let body = Array(#"{"event":"job_completed","delivery":"x"}"#.utf8)
        let secret = Array("k".utf8)
        let header = WebhookSignature.header(secret: secret, timestamp: 1_795_910_875, body: body)
        // t=<seconds>,v1=<lowercase hex of HMAC-SHA256("<t>.<body>")>, as a receiver computes it.
        let expected = hmacSHA256(key: secret, data: Array("1795910875.".utf8) + body)
            .map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        #expect(header == "t=1795910875,v1=" + expected)
        #expect(WebhookSignature.verify(header: header, secret: secret, body: body, now: 1_795_910_875))
        #expect(WebhookSignature.verify(header: header, secret: secret, body: body, now: 1_795_910_875 + 300))
        // Another secret, one byte more, or a changed byte: no match.
        #expect(!WebhookSignature.verify(header: header, secret: Array("K".utf8), body: body, now: 1_795_910_875))
        #expect(!WebhookSignature.verify(header: header, secret: secret, body: body + [0x20], now: 1_795_910_875))
        var changed = body
        changed[3] ^= 1
        #expect(!WebhookSignature.verify(header: header, secret: secret, body: changed, now: 1_795_910_875))
        #expect(!WebhookSignature.verify(header: "t=1795910875,v1=00", secret: secret, body: body, now: 1_795_910_875))
        // The old scheme (the body alone) is no signature of this one.
        #expect(!WebhookSignature.verify(header: "sha256=" + String(expected), secret: secret, body: body, now: 1_795_910_875))
    }

    /// A captured request replayed later: its time is too old, and a fresh time
    /// in its place breaks the MAC.
    @Test func aReplayIsRefused() {
        let body = Array(#"{"event":"job_failed"}"#.utf8)
        let secret = Array("topsecret".utf8)
        let header = WebhookSignature.header(secret: secret, timestamp: 1_000_000, body: body)
        #expect(!WebhookSignature.verify(header: header, secret: secret, body: body, now: 1_000_000 + 301))
        #expect(!WebhookSignature.verify(header: header, secret: secret, body: body, now: 1_000_000 - 301))
        let mac = header.split(separator: ",")[1]
        let moved = "t=1003600,\(mac)"
        #expect(!WebhookSignature.verify(header: moved, secret: secret, body: body, now: 1_003_600))
        // A new scheme beside v1, spaces, and a second v1 (another secret) are tolerated.
        let other = WebhookSignature.header(secret: Array("old".utf8), timestamp: 1_000_000, body: body).split(separator: ",")[1]
        #expect(WebhookSignature.verify(header: "t=1000000, \(other), v2=abc, \(mac)", secret: secret, body: body, now: 1_000_010))
        // No time, two times, or a signed time that is not digits: refused.
        #expect(!WebhookSignature.verify(header: String(mac), secret: secret, body: body, now: 1_000_000))
        #expect(!WebhookSignature.verify(header: "t=1000000,t=1000000,\(mac)", secret: secret, body: body, now: 1_000_000))
        #expect(!WebhookSignature.verify(header: "t=+1000000,\(mac)", secret: secret, body: body, now: 1_000_000))
    }
}

@Suite(.timeLimit(.minutes(10))) struct BackoffTests {
    @Test func doublesWithJitterUpToTheMaximum() {
        // Without jitter's upper half (random 0) the delay is half the step; with random ~1, all of it.
        let steps = (1...6).map { WebhookBackoff.delay(afterAttempts: $0, initial: 5, max: 60, random: 0.999_999) }
        #expect(steps.map { $0.rounded() } == [5, 10, 20, 40, 60, 60])
        let low = (1...6).map { WebhookBackoff.delay(afterAttempts: $0, initial: 5, max: 60, random: 0) }
        #expect(low == [2.5, 5, 10, 20, 30, 30])
        for _ in 0..<100 {
            let d = WebhookBackoff.delay(afterAttempts: 3, initial: 1, max: 3600, random: Double.random(in: 0..<1))
            #expect(d >= 2 && d < 4)
        }
        // Huge attempt counts do not overflow.
        #expect(WebhookBackoff.delay(afterAttempts: 1000, initial: 5, max: 3600, random: 0) == 1800)
    }
}
