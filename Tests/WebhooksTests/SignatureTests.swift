import CurlClient
import Testing
import Webhooks

@Suite struct SignatureTests {
    @Test func hmacMatchesRFC4231() {
        // RFC 4231, test case 2.
        let mac = hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func headerIsLowercaseHexOverTheExactBody() {
        let body = Array(#"{"event":"job_completed","delivery":"x"}"#.utf8)
        let header = WebhookSignature.header(secret: Array("k".utf8), body: body)
        #expect(header.hasPrefix("sha256="))
        #expect(header.count == 7 + 64)
        #expect(header.dropFirst(7).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(WebhookSignature.verify(header: header, secret: Array("k".utf8), body: body))
        // Another secret, one byte more, or a changed byte: no match.
        #expect(!WebhookSignature.verify(header: header, secret: Array("K".utf8), body: body))
        #expect(!WebhookSignature.verify(header: header, secret: Array("k".utf8), body: body + [0x20]))
        var changed = body
        changed[3] ^= 1
        #expect(!WebhookSignature.verify(header: header, secret: Array("k".utf8), body: changed))
        #expect(!WebhookSignature.verify(header: "sha256=00", secret: Array("k".utf8), body: body))
    }
}

@Suite struct BackoffTests {
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
