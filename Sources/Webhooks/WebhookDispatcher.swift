import CurlClient
import Essentials
import JobQueue
import Synchronization

/// The one delivery thread: reads due deliveries from the outbox, POSTs them
/// through libcurl's multi interface (many at once on this thread, at most an
/// endpoint's `concurrency` per URL), and records each attempt: delivered on a
/// 2xx, else retried after a backoff until `maxAttempts`, then dead. Nothing
/// here runs on the queue's path: the queue only adds outbox rows with its
/// transitions and tells this thread (`committed`), which never blocks it.
public final class WebhookDispatcher: Sendable {
    private struct Shared {
        var endpoints: [WebhookEndpoint]
        var stopping = false
        /// New deliveries (or a new configuration) arrived: look at the outbox.
        var woken = true
        var reconfigured = true
        /// Attempts finished whose outcome is on its way to the outbox.
        var recording: Set<Int64> = []
    }

    /// One POST under way.
    private struct Flight {
        let record: WebhookDeliveryRecord
        let endpoint: WebhookEndpoint
        let startedAt: Double
    }

    public let outbox: any WebhookOutbox
    /// Finished (delivered or dead) deliveries kept for `GET /api/webhooks/deliveries`.
    public let keepFinished: Int
    private let shared: Mutex<Shared>
    private let client = CurlClient()
    private let thread = Mutex<JoinableThread?>(nil)
    private let log: @Sendable (LogLevel, String) -> Void
    private let now: @Sendable () -> Double

    public init(outbox: any WebhookOutbox, endpoints: [WebhookEndpoint], keepFinished: Int = 1000,
                log: @escaping @Sendable (LogLevel, String) -> Void = { _, _ in },
                now: @escaping @Sendable () -> Double = epochNow) {
        self.outbox = outbox
        self.keepFinished = keepFinished
        self.shared = Mutex(Shared(endpoints: endpoints))
        self.log = log
        self.now = now
    }

    /// The queue's side: routes from the endpoints, the payload renderer, and
    /// this dispatcher hearing of committed deliveries.
    /// `endpoints`: those the routes come from (default: the current ones; on a
    /// reload the new ones, installed in the queue before `replaceEndpoints`).
    public func hook(renderer: @escaping WebhookRenderer, endpoints: [WebhookEndpoint]? = nil) -> WebhookHook {
        let routes = (endpoints ?? shared.withLock { $0.endpoints }).map(\.route)
        return WebhookHook(routes: routes, renderer: renderer) { [self] deliveries in committed(deliveries) }
    }

    public var endpoints: [WebhookEndpoint] { shared.withLock { $0.endpoints } }

    /// Deliveries committed with their transitions (called by the queue, after
    /// its lock is released): memory keeps them; the thread is woken.
    public func committed(_ deliveries: [WebhookDelivery]) {
        outbox.add(deliveries)
        // One wake-up until the thread looks again (not one per commit).
        let asleep = shared.withLock { s -> Bool in
            defer { s.woken = true }
            return !s.woken
        }
        if asleep { client.wakeup() }
    }

    /// A reloaded configuration: new secrets and limits apply to the next
    /// attempt; pending deliveries to URLs no longer listed become dead.
    public func replaceEndpoints(_ endpoints: [WebhookEndpoint]) {
        shared.withLock {
            $0.endpoints = endpoints
            $0.reconfigured = true
            $0.woken = true
        }
        client.wakeup()
    }

    public func start() throws(ThreadLaunchError) {
        let t = try ThreadLauncher.joinable(name: "webhooks") { [self] in run() }
        thread.withLock { $0 = t }
    }

    /// Stops the thread; POSTs under way are abandoned and sent again after the
    /// next start (their deliveries are still pending in the outbox).
    public func stop() {
        shared.withLock { $0.stopping = true }
        client.wakeup()
        let t = thread.withLock { t -> JoinableThread? in
            defer { t = nil }
            return t
        }
        t?.join()
    }

    // MARK: The delivery thread

    private func run() {
        var flights: [Int64: Flight] = [:]
        var perURL: [String: Int] = [:]
        var nextCheck = 0.0
        var nextMaintenance = 0.0
        while true {
            let (endpoints, stopping, woken, reconfigured, recording) = shared.withLock { s in
                defer {
                    s.woken = false
                    s.reconfigured = false
                }
                return (s.endpoints, s.stopping, s.woken, s.reconfigured, s.recording)
            }
            if stopping { return }
            var t = now()
            if reconfigured || t >= nextMaintenance {
                outbox.maintain(keep: keepFinished, configured: endpoints.map(\.url), at: t)
                nextMaintenance = t + 60
            }
            if woken || t >= nextCheck {
                nextCheck = t + 60
                for endpoint in endpoints {
                    let busy = perURL[endpoint.url] ?? 0
                    guard busy < endpoint.concurrency else { continue }
                    let rows: [WebhookDeliveryRecord]
                    do {
                        rows = try outbox.due(url: endpoint.url, limit: endpoint.concurrency + busy + recording.count)
                    } catch {
                        log(.error, "webhooks: cannot read the outbox: \(error.message)")
                        nextCheck = t + 1
                        continue
                    }
                    var started = busy
                    for row in rows where flights[row.seq] == nil && !recording.contains(row.seq) {
                        if let at = row.nextAttemptAt, at > t {
                            nextCheck = min(nextCheck, at)
                            break
                        }
                        guard started < endpoint.concurrency else { break }
                        started += 1
                        flights[row.seq] = Flight(record: row, endpoint: endpoint, startedAt: t)
                        if let failed = client.start(post(row, endpoint, at: t), tag: Int(row.seq)) {
                            finish(row.seq, failed, &flights, &perURL, &nextCheck, counted: false)
                        } else {
                            perURL[endpoint.url, default: 0] += 1
                        }
                    }
                }
            }
            t = now()
            let ended = client.poll(timeout: max(0, min(nextCheck - t, 60)))
            for (tag, outcome) in ended { finish(Int64(tag), outcome, &flights, &perURL, &nextCheck, counted: true) }
        }
    }

    private func post(_ row: WebhookDeliveryRecord, _ endpoint: WebhookEndpoint, at t: Double) -> OutgoingPost {
        // The send time is signed with the body: each attempt carries its own.
        let sent = Int64(t)
        let headers = [
            "Content-Type: application/json",
            "X-JobRunner-Event: \(row.event)",
            "X-JobRunner-Delivery: \(row.id)",
            "X-JobRunner-Timestamp: \(sent)",
            "X-JobRunner-Attempt: \(row.attempts + 1)",
            "X-JobRunner-Signature: \(WebhookSignature.header(secret: endpoint.secret, timestamp: sent, body: row.body))",
            // No "Expect: 100-continue" round trip before the body.
            "Expect:",
        ]
        return OutgoingPost(url: row.url, headers: headers, body: row.body, connectTimeout: endpoint.connectTimeout,
                            timeout: endpoint.timeout)
    }

    /// Records how an attempt ended.
    private func finish(_ seq: Int64, _ outcome: PostOutcome, _ flights: inout [Int64: Flight], _ perURL: inout [String: Int],
                        _ nextCheck: inout Double, counted: Bool) {
        guard let flight = flights.removeValue(forKey: seq) else { return }
        let row = flight.record, endpoint = flight.endpoint
        if counted { perURL[endpoint.url, default: 1] -= 1 }
        let t = now()
        let attempts = row.attempts + 1
        let ok = outcome.error == nil && (200..<300).contains(outcome.status)
        var attempt = WebhookAttempt(seq: seq, status: .delivered, attempts: attempts, at: t, nextAttemptAt: nil,
                                     httpStatus: outcome.status > 0 ? outcome.status : nil, error: nil)
        if !ok {
            attempt.error = outcome.error.map { "\($0)" } ?? "HTTP \(outcome.status)"
            if attempts >= endpoint.maxAttempts {
                attempt.status = .dead
                log(.warning, "webhook delivery \(row.id) (\(row.event)) to \(row.url) gave up after \(attempts) attempts: \(attempt.error ?? "")")
            } else {
                attempt.status = .pending
                let delay = WebhookBackoff.delay(afterAttempts: attempts, initial: endpoint.backoffInitial,
                                                 max: endpoint.backoffMax, random: Double.random(in: 0..<1))
                attempt.nextAttemptAt = t + delay
                nextCheck = min(nextCheck, t + delay)
            }
        }
        // A slot is free: look for the next due delivery at once.
        nextCheck = min(nextCheck, t)
        shared.withLock { _ = $0.recording.insert(seq) }
        let retry = attempt.status == .pending
        outbox.record(attempt) { [self] in
            shared.withLock { s in
                s.recording.remove(seq)
                // Its next attempt is now in the outbox: look again for when it is due.
                if retry { s.woken = true }
            }
            if retry { client.wakeup() }
        }
    }
}
