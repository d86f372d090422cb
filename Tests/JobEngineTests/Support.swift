import JSON
import JobEngine
import JobQueue
import Synchronization

/// A job that runs until the test opens its gate (or it is cancelled), so tests
/// control exactly when jobs finish without sleeping.
final class Gates: Sendable {
    private let state = Mutex<(waiting: [Int64: CheckedContinuation<Void, any Error>], open: Set<Int64>)>(([:], []))

    func wait(_ id: Int64) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Bool? in
                    if s.open.contains(id) { return true }
                    // Cancelled before waiting: the cancel handler already ran.
                    if Task.isCancelled { return false }
                    s.waiting[id] = c
                    return nil
                }
                switch outcome {
                case true?: c.resume()
                case false?: c.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let c = state.withLock { $0.waiting.removeValue(forKey: id) }
            c?.resume(throwing: CancellationError())
        }
    }

    func open(_ id: Int64) {
        let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            s.open.insert(id)
            return s.waiting.removeValue(forKey: id)
        }
        c?.resume()
    }
}

struct GateJob: JobType {
    let gates: Gates
    let name = "gate"
    let description = "waits for the test"
    let parameters: [ParameterSpec] = [.string("outcome", default: "ok", "ok or fail")]

    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        context.progress(50, "waiting")
        try await gates.wait(context.jobID)
        if params["outcome"] == "fail" { throw JobFailure("asked to fail") }
        return ["done": .int(context.jobID)]
    }
}

/// Collects queue events and lets a test await one that matches.
final class EventRecorder: Sendable {
    private let stream: AsyncStream<QueueEvent>
    private let continuation: AsyncStream<QueueEvent>.Continuation
    let seen = Mutex<[QueueEvent]>([])

    convenience init(_ queue: JobQueue) {
        self.init(subscribe: { queue.subscribe($0) })
    }

    convenience init(_ engine: JobEngine) {
        self.init(subscribe: { engine.subscribe($0) })
    }

    init(subscribe: (@escaping JobQueue.Subscriber) -> SubscriptionToken) {
        (stream, continuation) = AsyncStream.makeStream(of: QueueEvent.self)
        let c = continuation
        _ = subscribe { [self] event in
            self.seen.withLock { $0.append(event) }
            c.yield(event)
        }
    }

    struct Timeout: Error {}

    /// The next event (from now on) that matches; fails after 10 s.
    func next(_ predicate: @escaping @Sendable (QueueEvent) -> Bool) async throws -> QueueEvent {
        let stream = self.stream
        return try await withThrowingTaskGroup(of: QueueEvent?.self) { group in
            group.addTask {
                for await e in stream where predicate(e) { return e }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                throw Timeout()
            }
            defer { group.cancelAll() }
            guard let e = try await group.next()! else { throw Timeout() }
            return e
        }
    }
}

extension QueueEvent {
    var isStarted: Bool { if case .started = kind { return true } else { return false } }
    var isProgress: Bool { if case .progress = kind { return true } else { return false } }
    var isCompleted: Bool { if case .completed = kind { return true } else { return false } }
    var isFailed: Bool { if case .failed = kind { return true } else { return false } }
    var isCancelled: Bool { if case .cancelled = kind { return true } else { return false } }
}
