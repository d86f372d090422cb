import Essentials
import Glibc
import JSON
import JobQueue
import JobStorePostgres
import JobStoreSQLite
import PostgresTestSupport
import Synchronization
import Testing
import Webhooks

func tempDB() -> String {
    var template = Array("/tmp/jobrunner-webhooks-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    return dir + "/jobs.db"
}

/// The outbox's stores (PostgresTestSupport).
typealias Backend = StoreBackend

extension StoreBackend: CustomTestStringConvertible {
    public var testDescription: String { rawValue }
}


/// Waits for a queue's commits (tests only).
func settle(_ queue: JobQueue) {
    let done = Atomic<Bool>(false)
    queue.whenDurable { _ in done.store(true, ordering: .releasing) }
    while !done.load(ordering: .acquiring) { usleep(1000) }
}

/// Enqueues a job and waits for its commit.
func enqueue(_ queue: JobQueue) throws -> Int64 {
    let done = Mutex<Result<Job, StoreError>?>(nil)
    queue.enqueue(type: "echo", params: [:]) { r in done.withLock { $0 = r } }
    while done.withLock({ $0 == nil }) { usleep(1000) }
    return try done.withLock { $0! }.get().id
}

/// A body that names the delivery and the job, so tests can tell them apart.
let renderer: WebhookRenderer = { d in Array(#"{"event":"\#(d.event.rawValue)","delivery":"\#(d.id)","job":\#(d.jobID)}"#.utf8) }

@Suite(.timeLimit(.minutes(10))) struct OutboxTests {
    let url = "http://127.0.0.1:9/hook"

    func hook(_ heard: Heard, events: Set<WebhookEvent> = [.jobCompleted, .jobFailed, .jobCancelled]) -> WebhookHook {
        WebhookHook(routes: [WebhookRoute(url: url, events: events)], renderer: renderer) { d in heard.list.withLock { $0 += d } }
    }

    @Test(arguments: Backend.allCases) func aDeliveryIsWrittenWithItsTransitionAndSurvivesReopening(_ backend: Backend) async throws {
        try await offPool {
            let path = try backend.newPlace()
            let heard = Heard()
            var jobID: Int64 = 0
            do {
                let store = try backend.open(path)
                let queue = try JobQueue(store: store, webhooks: hook(heard))
                jobID = try enqueue(queue)
                settle(queue)
                #expect(queue.claimNext()?.id == jobID)
                queue.complete(jobID, result: ["ok": true])
                settle(queue)
                // Told once committed, and it is in the file.
                #expect(heard.list.withLock { $0.map(\.event) } == [.jobCompleted])
                #expect(try store.dueWebhookDeliveries(url: url, limit: 10).count == 1)
                store.close()
            }
            let store = try backend.open(path)
            defer { store.close() }
            let due = try store.dueWebhookDeliveries(url: url, limit: 10)
            #expect(due.count == 1)
            let row = try #require(due.first)
            #expect(row.event == "job_completed" && row.jobID == jobID && row.status == .pending && row.attempts == 0)
            let id = heard.list.withLock { $0[0].id }
            #expect(row.id == id)
            #expect(row.body == Array(#"{"event":"job_completed","delivery":"\#(id)","job":\#(jobID)}"#.utf8))
            #expect(try store.dueWebhookDeliveries(url: "http://other/", limit: 10).isEmpty)

            // An attempt that failed waits for its next one; one that succeeded leaves the due list.
            try commitOps(store, [.webhookAttempt(WebhookAttempt(seq: row.seq, status: .pending, attempts: 1, at: 100, nextAttemptAt: 105,
                                                                 httpStatus: 500, error: "HTTP 500"))])
            var again = try #require(try store.dueWebhookDeliveries(url: url, limit: 10).first)
            #expect(again.attempts == 1 && again.nextAttemptAt == 105 && again.lastHTTPStatus == 500 && again.lastError == "HTTP 500")
            try commitOps(store, [.webhookAttempt(WebhookAttempt(seq: row.seq, status: .delivered, attempts: 2, at: 106, nextAttemptAt: nil,
                                                                 httpStatus: 204, error: nil))])
            #expect(try store.dueWebhookDeliveries(url: url, limit: 10).isEmpty)
            again = try #require(try store.webhookDeliveries(limit: 10, before: nil).first)
            #expect(again.status == .delivered && again.attempts == 2 && again.lastHTTPStatus == 204 && again.lastError == nil)
        }
    }

    @Test(arguments: Backend.allCases) func onlySubscribedEventsAndIDsStayUnique(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.open(backend.newPlace())
            defer { store.close() }
            let heard = Heard()
            let queue = try JobQueue(store: store, webhooks: hook(heard, events: [.jobFailed, .jobRetrying]))
            let a = try enqueue(queue)
            settle(queue)
            _ = queue.claimNext()
            queue.complete(a, result: [:])      // not subscribed
            settle(queue)
            #expect(heard.list.withLock { $0.isEmpty })
            let b = try enqueue(queue)
            settle(queue)
            _ = queue.claimNext()
            queue.fail(b, error: "x", retryable: false)
            settle(queue)
            #expect(heard.list.withLock { $0.map(\.event) } == [.jobFailed])
            let ids = heard.list.withLock { $0.map(\.id) }
            #expect(Set(ids).count == ids.count)
            #expect(try store.webhookDeliveries(limit: 10, before: nil).map(\.jobID) == [b])
        }
    }

    @Test(arguments: Backend.allCases) func maintenanceKillsOrphansAndKeepsTheNewestFinished(_ backend: Backend) async throws {
        try await offPool {
            let store = try backend.open(backend.newPlace())
            defer { store.close() }
            let heard = Heard()
            let queue = try JobQueue(store: store, webhooks: hook(heard))
            for _ in 0..<4 {
                let id = try enqueue(queue)
                settle(queue)
                _ = queue.claimNext()
                queue.complete(id, result: [:])
            }
            settle(queue)
            let rows = try store.webhookDeliveries(limit: 10, before: nil)
            #expect(rows.count == 4)
            // Two delivered; then the URL leaves the configuration.
            for row in rows.prefix(2) {
                try commitOps(store, [.webhookAttempt(WebhookAttempt(seq: row.seq, status: .delivered, attempts: 1, at: 1, nextAttemptAt: nil,
                                                                     httpStatus: 200, error: nil))])
            }
            try commitOps(store, [.webhookMaintenance(keep: 3, configured: ["http://elsewhere/"], at: 50)])
            let after = try store.webhookDeliveries(limit: 10, before: nil)
            #expect(after.count == 3)
            #expect(after.allSatisfy { $0.status != .pending })
            #expect(after.filter { $0.status == .dead }.allSatisfy { $0.lastError?.contains("no longer") == true })
            // Pages: newest first, below the cursor.
            let page = try store.webhookDeliveries(limit: 2, before: after[0].seq)
            #expect(page.map(\.seq) == Array(after.dropFirst().map(\.seq)))
        }
    }

    @Test func theMemoryOutboxIsBoundedAndRendersOnce() throws {
        let outbox = MemoryWebhookOutbox(maxPending: 3)
        let rendered = Mutex(0)
        let counting: WebhookRenderer = { d in
            rendered.withLock { $0 += 1 }
            return renderer(d)
        }
        let job = Job(id: 7, type: "echo", params: [:], createdAt: 10)
        outbox.add((0..<5).map { i in
            WebhookDelivery(id: "d\(i)", url: url, event: .jobCompleted, createdAt: Double(10 + i), subject: .job(job), renderer: counting)
        })
        let due = try outbox.due(url: url, limit: 10)
        #expect(due.map(\.id) == ["d2", "d3", "d4"])
        #expect(due.allSatisfy { !$0.body.isEmpty })
        _ = try outbox.due(url: url, limit: 10)
        #expect(rendered.withLock { $0 } == 3)
        let dropped = try outbox.recent(limit: 10, before: nil).filter { $0.status == .dead }
        #expect(dropped.map(\.id).sorted() == ["d0", "d1"])
    }
}

/// What a queue's hook was told.
final class Heard: Sendable {
    let list = Mutex<[WebhookDelivery]>([])
}

/// Submits and waits for the commit (tests only).
func commitOps(_ store: any JobStore, _ ops: [StoreOp]) throws {
    let done = Mutex<Result<Void, StoreError>?>(nil)
    store.submit(ops, retry: false) { r in done.withLock { $0 = r } }
    while done.withLock({ $0 == nil }) { usleep(1000) }
    try done.withLock { $0! }.get()
}
