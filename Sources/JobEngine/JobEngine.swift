import Dispatch
import JSON
import JobQueue
import Synchronization

/// Worker figures as the API's `worker` object shows them.
public struct WorkerStats: Sendable, Equatable {
    public var active: Int
    public var capacity: Int
    public var processed: Int
    public var isRunning: Bool
}

/// Why a submission was refused.
public enum SubmitError: Error, Sendable, Equatable {
    case unknownType(String)
    case invalid(ValidationError)

    public var message: String {
        switch self {
        case .unknownType(let t): "Unknown job type: \(t.prefix(100))"
        case .invalid(let e): e.message
        }
    }
}

/// The one door to the jobs: every transport (REST, WebSocket, the daemon's own
/// timers) creates, cancels, clears and reads through it. It validates
/// submissions, and runs jobs as Swift tasks, at most `capacity` at once, in FIFO
/// order. Starting is event-driven: a submission or a finished job pumps the
/// queue at once; nothing polls.
///
/// Changes answer through completions: at once in memory, after the commit that
/// holds them with a durable store (then a failure means nothing changed).
public final class JobEngine: Sendable {
    let queue: JobQueue
    /// The job types known now (replaced as a whole when the daemon reloads its
    /// definitions; running jobs keep the type they started with).
    public var registry: JobRegistry { registryBox.withLock { $0.registry } }
    /// The job types with a number that grows each time they are replaced, for
    /// whoever derives something from them once (the OpenAPI document).
    public var versionedRegistry: (registry: JobRegistry, version: UInt64) { registryBox.withLock { $0 } }
    private let registryBox: Mutex<(registry: JobRegistry, version: UInt64)>
    public let capacity: Int

    struct WorkerState {
        var active = 0
        var processed = 0
        var isRunning = true
        var tasks: [Int64: Task<Void, Never>] = [:]
        /// The attempt each registered task runs: a cancelled run slow to stop
        /// may end after the job's next run started here, and leaves that one's
        /// task registered (a cancel must find it).
        var attempts: [Int64: JobAttempt] = [:]
        /// Cancels that arrived before the job's task was registered.
        var cancelBeforeRegister: Set<Int64> = []
        /// A shared store: a claim is on its way, and whether to claim again after it.
        var claiming = false
        var claimAgain = false
    }

    let worker = Mutex(WorkerState())
    let workerObservers = Mutex<[@Sendable (WorkerStats) -> Void]>([])

    public init(queue: JobQueue = JobQueue(), registry: JobRegistry = .builtIn, capacity: Int = 3) {
        self.queue = queue
        self.registryBox = Mutex((registry, 0))
        self.capacity = max(1, capacity)
        queue.onJobsAvailable { [weak self] in self?.pump() }
        queue.setTypeLimits(Self.limits(registry))
        queue.onTaskStop { [weak self] id in self?.stopTask(id) }
        if queue.nodeID != nil { safetyNet() }
    }

    /// With several nodes, a claim also runs once a second whatever this node
    /// heard (a notification lost while the connection was down, say).
    private func safetyNet() {
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self else { return }
            self.pump(force: true)
            self.safetyNet()
        }
    }

    /// Stops a running job's task (another node ended the job).
    func stopTask(_ id: Int64) {
        let task: Task<Void, Never>? = worker.withLock { w in w.tasks[id] }
        task?.cancel()
    }

    /// Puts a new set of job types in place.
    public func replaceRegistry(_ registry: JobRegistry) {
        registryBox.withLock { $0 = (registry, $0.version + 1) }
        queue.setTypeLimits(Self.limits(registry))
    }

    static func limits(_ registry: JobRegistry) -> [String: Int] {
        var out: [String: Int] = [:]
        for t in registry.types { if let n = t.defaults.concurrency { out[t.name] = n } }
        return out
    }
}
