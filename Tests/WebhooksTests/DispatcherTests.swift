import PostgresTestSupport
import Glibc
import HTTPServer
import JobQueue
import Synchronization
import Testing
import Webhooks

/// What the test receiver got.
struct Received: Sendable {
    let delivery: String
    let attempt: String
    let signature: String
    let event: String
    let body: [UInt8]
}

/// A real libmicrohttpd server on port 0 answering POST /hook with the statuses
/// given, one per request (the last one repeats).
final class TestReceiver: Sendable {
    final class Inbox: Sendable {
        let list = Mutex<[Received]>([])
    }

    let inbox = Inbox()
    let server: HTTPServer

    init(statuses: [Int]) throws {
        var router = Router()
        let inbox = self.inbox
        router.post("/hook") { req in
            let n = inbox.list.withLock { list in
                list.append(Received(delivery: req.header("X-JobRunner-Delivery") ?? "", attempt: req.header("X-JobRunner-Attempt") ?? "",
                                     signature: req.header("X-JobRunner-Signature") ?? "", event: req.header("X-JobRunner-Event") ?? "",
                                     body: req.body))
                return list.count
            }
            return HTTPResponse(status: statuses[min(n, statuses.count) - 1])
        }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        server = HTTPServer(configuration: configuration, router: router)
        try server.start()
    }

    var url: String { "http://127.0.0.1:\(server.port)/hook" }
}

/// Waits for a condition, failing after a deadline.
func waitUntil(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = epochNow() + timeout
    while try !condition() {
        guard epochNow() < deadline else {
            Issue.record("timed out waiting for \(what)")
            return
        }
        usleep(2000)
    }
}

@Suite(.timeLimit(.minutes(10))) struct DispatcherTests {
    let secret = Array("topsecret".utf8)
    let job = Job(id: 41, type: "echo", params: [:], createdAt: 1000)

    func endpoint(_ url: String, maxAttempts: Int = 5) -> WebhookEndpoint {
        var e = WebhookEndpoint(url: url, events: [.jobCompleted], secret: secret)
        e.maxAttempts = maxAttempts
        e.backoffInitial = 0.01
        e.backoffMax = 0.02
        e.timeout = 5
        return e
    }

    func delivery(_ url: String, id: String = "d-1") -> WebhookDelivery {
        WebhookDelivery(id: id, url: url, event: .jobCompleted, createdAt: epochNow(), subject: .job(job), renderer: renderer)
    }

    @Test func retriedAfterA500WithTheSameSignedBody() async throws {
        // Off the Swift pool: the waits below block their thread.
        try await offPool {
            let receiver = try TestReceiver(statuses: [500, 204])
            defer { receiver.server.stop() }
            let outbox = MemoryWebhookOutbox()
            let dispatcher = WebhookDispatcher(outbox: outbox, endpoints: [endpoint(receiver.url)])
            try dispatcher.start()
            defer { dispatcher.stop() }
            dispatcher.committed([delivery(receiver.url)])
            try waitUntil("delivered") { try outbox.recent(limit: 1, before: nil).first?.status == .delivered }
            let got = receiver.inbox.list.withLock { $0 }
            #expect(got.count == 2)
            #expect(got.map(\.delivery) == ["d-1", "d-1"])
            #expect(got.map(\.attempt) == ["1", "2"])
            #expect(got.map(\.event) == ["job_completed", "job_completed"])
            #expect(got[0].body == got[1].body)
            #expect(got[0].body == Array(#"{"event":"job_completed","delivery":"d-1","job":41}"#.utf8))
            for r in got { #expect(WebhookSignature.verify(header: r.signature, secret: secret, body: r.body, now: epochNow(), tolerance: 60)) }
            let row = try #require(try outbox.recent(limit: 1, before: nil).first)
            #expect(row.attempts == 2 && row.lastHTTPStatus == 204 && row.lastError == nil && row.nextAttemptAt == nil)
        }
    }

    @Test func deadAfterMaxAttemptsAndLogged() async throws {
        // Off the Swift pool: the waits below block their thread.
        try await offPool {
            let receiver = try TestReceiver(statuses: [500])
            defer { receiver.server.stop() }
            let outbox = MemoryWebhookOutbox()
            let logged = Mutex<[String]>([])
            let dispatcher = WebhookDispatcher(outbox: outbox, endpoints: [endpoint(receiver.url, maxAttempts: 3)],
                                               log: { _, line in logged.withLock { $0.append(line) } })
            try dispatcher.start()
            defer { dispatcher.stop() }
            dispatcher.committed([delivery(receiver.url)])
            try waitUntil("dead") { try outbox.recent(limit: 1, before: nil).first?.status == .dead }
            let row = try #require(try outbox.recent(limit: 1, before: nil).first)
            #expect(row.attempts == 3 && row.lastHTTPStatus == 500 && row.lastError == "HTTP 500")
            #expect(receiver.inbox.list.withLock { $0.count } == 3)
            #expect(logged.withLock { $0 }.contains { $0.contains("gave up after 3 attempts") && !$0.contains("topsecret") })
        }
    }

    @Test func aRefusedConnectionIsAFailedAttemptAndARemovedURLEndsIt() async throws {
        // Off the Swift pool: the waits below block their thread.
        try await offPool {
            // A bound socket that does not listen: connections are refused.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            let url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))/hook"
            let outbox = MemoryWebhookOutbox()
            var slow = endpoint(url, maxAttempts: 100)
            slow.backoffInitial = 30
            slow.backoffMax = 30
            let dispatcher = WebhookDispatcher(outbox: outbox, endpoints: [slow])
            try dispatcher.start()
            defer { dispatcher.stop() }
            dispatcher.committed([delivery(url)])
            try waitUntil("a failed attempt") { try outbox.recent(limit: 1, before: nil).first?.attempts == 1 }
            var row = try #require(try outbox.recent(limit: 1, before: nil).first)
            #expect(row.status == .pending && row.lastHTTPStatus == nil && row.lastError != nil)
            #expect((row.nextAttemptAt ?? 0) >= (row.lastAttemptAt ?? 0) + 15)
            // The URL leaves the configuration: the delivery ends, visible as dead.
            dispatcher.replaceEndpoints([])
            try waitUntil("dead") { try outbox.recent(limit: 1, before: nil).first?.status == .dead }
            row = try #require(try outbox.recent(limit: 1, before: nil).first)
            #expect(row.lastError?.contains("no longer in the webhooks configuration") == true)
        }
    }
}
