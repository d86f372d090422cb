import Synchronization

/// What a webhook can be told about.
public enum WebhookEvent: String, Sendable, CaseIterable {
    case jobCompleted = "job_completed"
    case jobFailed = "job_failed"
    case jobCancelled = "job_cancelled"
    /// A failed attempt with attempts left: the job waits for its next one.
    case jobRetrying = "job_retrying"
    /// A schedule made its job.
    case scheduleFired = "schedule_fired"
}

/// Which events go to which URL (the queue needs no more to decide deliveries).
public struct WebhookRoute: Sendable, Equatable {
    public let url: String
    public let events: Set<WebhookEvent>
    public init(url: String, events: Set<WebhookEvent>) {
        self.url = url
        self.events = events
    }
}

/// What a delivery is about, as it was when the event was decided.
public enum WebhookSubject: Sendable {
    case job(Job)
    case schedule(Schedule, job: Job)
}

/// Makes a delivery's body (the API's JSON of the job or schedule). Called off
/// the queue's lock: by the store's writer thread as the outbox row is written,
/// or by the delivery thread with the in-memory outbox.
public typealias WebhookRenderer = @Sendable (WebhookDelivery) -> [UInt8]

/// One event for one URL, decided in the same change as the transition it
/// reports (so it commits, or is lost, with it).
public struct WebhookDelivery: Sendable {
    /// Unique, and the same on every attempt: receivers de-duplicate with it.
    public let id: String
    public let url: String
    public let event: WebhookEvent
    /// Epoch seconds of the transition.
    public let createdAt: Double
    public let subject: WebhookSubject
    let renderer: WebhookRenderer

    public init(id: String, url: String, event: WebhookEvent, createdAt: Double, subject: WebhookSubject, renderer: @escaping WebhookRenderer) {
        self.id = id
        self.url = url
        self.event = event
        self.createdAt = createdAt
        self.subject = subject
        self.renderer = renderer
    }

    public var jobID: Int64 {
        switch subject {
        case .job(let job), .schedule(_, let job): job.id
        }
    }

    public var scheduleName: String? {
        if case .schedule(let s, _) = subject { return s.name }
        return nil
    }

    /// The exact bytes that are sent and signed.
    public func body() -> [UInt8] { renderer(self) }
}

/// Where a delivery stands.
public enum WebhookDeliveryStatus: String, Sendable, CaseIterable {
    /// Waiting for its first or next attempt.
    case pending
    /// A 2xx answer was received.
    case delivered
    /// Given up: attempts used up, or its URL left the configuration.
    case dead
}

/// A row of the outbox: a delivery and its attempts so far.
public struct WebhookDeliveryRecord: Sendable, Equatable {
    /// The row's place (the cursor of `GET /api/webhooks/deliveries`).
    public var seq: Int64
    public var id: String
    public var url: String
    public var event: String
    public var jobID: Int64?
    public var schedule: String?
    public var createdAt: Double
    public var body: [UInt8]
    public var status: WebhookDeliveryStatus
    public var attempts: Int
    public var nextAttemptAt: Double?
    public var lastAttemptAt: Double?
    /// The HTTP status of the last answer (nil when none came).
    public var lastHTTPStatus: Int?
    public var lastError: String?

    public init(seq: Int64, id: String, url: String, event: String, jobID: Int64?, schedule: String?, createdAt: Double,
                body: [UInt8], status: WebhookDeliveryStatus = .pending, attempts: Int = 0, nextAttemptAt: Double?,
                lastAttemptAt: Double? = nil, lastHTTPStatus: Int? = nil, lastError: String? = nil) {
        self.seq = seq
        self.id = id
        self.url = url
        self.event = event
        self.jobID = jobID
        self.schedule = schedule
        self.createdAt = createdAt
        self.body = body
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastAttemptAt = lastAttemptAt
        self.lastHTTPStatus = lastHTTPStatus
        self.lastError = lastError
    }
}

/// The outcome of one attempt, written over the row `seq`.
public struct WebhookAttempt: Sendable, Equatable {
    public var seq: Int64
    public var status: WebhookDeliveryStatus
    public var attempts: Int
    public var at: Double
    public var nextAttemptAt: Double?
    public var httpStatus: Int?
    public var error: String?

    public init(seq: Int64, status: WebhookDeliveryStatus, attempts: Int, at: Double, nextAttemptAt: Double?,
                httpStatus: Int?, error: String?) {
        self.seq = seq
        self.status = status
        self.attempts = attempts
        self.at = at
        self.nextAttemptAt = nextAttemptAt
        self.httpStatus = httpStatus
        self.error = error
    }
}

/// A store that keeps the webhook outbox: rows are written by `StoreOp`s
/// (`webhookOutbox` with the transition, `webhookAttempt` after each attempt)
/// and read here.
public protocol WebhookOutboxStore: JobStore {
    /// Pending deliveries to `url`, the earliest next attempt first.
    func dueWebhookDeliveries(url: String, limit: Int) throws(StoreError) -> [WebhookDeliveryRecord]
    /// The newest deliveries (any status) with `seq` below `before`, newest first
    /// (their bodies may be left empty: the list does not show them).
    func webhookDeliveries(limit: Int, before: Int64?) throws(StoreError) -> [WebhookDeliveryRecord]
}

/// What the queue needs to decide deliveries: the routes, the renderer, and
/// who hears of deliveries once committed (the delivery thread).
public struct WebhookHook: Sendable {
    public var routes: [WebhookRoute]
    public let renderer: WebhookRenderer
    public let committed: @Sendable ([WebhookDelivery]) -> Void

    public init(routes: [WebhookRoute], renderer: @escaping WebhookRenderer, committed: @escaping @Sendable ([WebhookDelivery]) -> Void) {
        self.routes = routes
        self.renderer = renderer
        self.committed = committed
    }
}

/// Delivery ids: a random prefix per process and a counter, so ids are unique
/// across restarts without a random draw under the queue's lock.
struct WebhookIDs {
    let prefix: String
    var counter: UInt64 = 0

    init() {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt32
        prefix = Self.hex(a, 16) + Self.hex(UInt64(b), 8)
    }

    mutating func next() -> String {
        counter += 1
        return prefix + "-" + Self.hex(counter, 8)
    }

    static func hex(_ v: UInt64, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

extension JobQueue {
    /// Installs (or replaces, on a reload) the webhook routes. Deliveries are
    /// decided with the transitions they report, from the next change on.
    public func setWebhooks(_ hook: WebhookHook?) {
        state.withLock { l in
            l.webhooks = hook.map { h in
                var w = l.webhooks ?? WebhookState(hook: h)
                w.hook = h
                return w
            }
        }
    }

    /// Adds the deliveries a change causes (under the lock: a few struct copies,
    /// no rendering and no I/O). With a store they are written in the change's
    /// own transaction.
    func addWebhooks(_ l: inout Locked, _ change: inout Change) {
        guard var w = l.webhooks, !w.hook.routes.isEmpty else { return }
        var out: [WebhookDelivery] = []
        func add(_ event: WebhookEvent, _ subject: WebhookSubject, at: Double) {
            for route in w.hook.routes where route.events.contains(event) {
                out.append(WebhookDelivery(id: w.ids.next(), url: route.url, event: event, createdAt: at, subject: subject,
                                           renderer: w.hook.renderer))
            }
        }
        if case .schedule(let s, let job?) = change.effect {
            add(.scheduleFired, .schedule(s, job: job), at: job.createdAt)
        }
        if case .update(let jobs) = change.effect {
            for event in change.events {
                let kind: WebhookEvent
                switch event.kind {
                case .completed: kind = .jobCompleted
                case .failed: kind = .jobFailed
                case .cancelled: kind = .jobCancelled
                case .retrying: kind = .jobRetrying
                default: continue
                }
                guard let job = jobs.first(where: { $0.id == event.jobID }) else { continue }
                add(kind, .job(job), at: job.completedAt ?? clock.now())
            }
        }
        guard !out.isEmpty else { return }
        l.webhooks = w
        change.webhooks = out
        if store != nil { change.ops += out.map { StoreOp.webhookOutbox($0) } }
    }
}

/// The hook and the id counter, behind the queue's lock.
struct WebhookState {
    var hook: WebhookHook
    var ids = WebhookIDs()
}
