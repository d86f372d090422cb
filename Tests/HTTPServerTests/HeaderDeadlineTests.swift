import Essentials
import Glibc
@testable import HTTPServer
import Testing

/// `HeaderDeadlines` on socket pairs, with the clock given: which connections
/// are cut off, and when.
@Suite(.timeLimit(.minutes(10))) struct HeaderDeadlineTests {
    /// A connected pair: (the server's end, the client's end).
    func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    /// True when the client's end reads end of stream (the server's end was shut down).
    func cutOff(_ client: Int32) -> Bool {
        var byte: UInt8 = 0
        return recv(client, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    @Test func onlyAConnectionStillWaitingForAHeadPastItsDeadlineIsCutOff() throws {
        let deadlines = HeaderDeadlines(seconds: 10)
        let (dripping, drippingClient) = try pair()
        let (answered, answeredClient) = try pair()
        let (again, againClient) = try pair()
        defer { for fd in [dripping, drippingClient, answered, answeredClient, again, againClient] { close(fd) } }
        let start = monotonicNow()
        let a = deadlines.opened(fd: dripping, now: start)
        let b = deadlines.opened(fd: answered, now: start)
        let c = deadlines.opened(fd: again, now: start)
        deadlines.headComplete(b)
        deadlines.headComplete(c)
        #expect(deadlines.expire(now: start + 5) == 0)
        #expect(!cutOff(drippingClient))
        // The next request on a keep-alive connection gets the time again, from
        // the end of the previous one.
        deadlines.requestEnded(c, now: start + 8)
        #expect(deadlines.expire(now: start + 10.5) == 1)
        #expect(cutOff(drippingClient))
        #expect(!cutOff(answeredClient) && !cutOff(againClient))
        #expect(deadlines.expire(now: start + 18.5) == 1)
        #expect(cutOff(againClient))
        // A closed connection is forgotten: its number may be another's by now.
        deadlines.closed(a)
        deadlines.closed(c)
        let (reused, reusedClient) = try pair()
        defer { close(reused); close(reusedClient) }
        let d = deadlines.opened(fd: reused, now: start)
        deadlines.headComplete(d)
        #expect(deadlines.expire(now: start + 1000) == 0)
        #expect(!cutOff(reusedClient))
    }
}
