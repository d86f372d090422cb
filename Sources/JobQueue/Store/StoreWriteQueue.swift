import Dispatch
import Synchronization

/// What every durable store shares between its callers and its one writer
/// thread: the submissions waiting for the next commit, whether the store is
/// closing, whether writes fail (and who hears when that changes), and the
/// actions run after each batch. The store keeps only its connections.
public final class StoreWriteQueue: Sendable {
    /// One `JobStore.submit` call.
    public struct Entry: Sendable {
        public let ops: [StoreOp]
        public let retry: Bool
        public let completion: @Sendable (Result<Void, StoreError>) -> Void
    }

    private struct State {
        var pending: [Entry] = []
        var closing = false
        var failure: StoreError?
        var batchDone: [@Sendable () -> Void] = []
        var failureObservers: [@Sendable (StoreError?) -> Void] = []
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    public init() {}

    /// `JobStore.submit`: queued for the writer, or refused once closing (the
    /// completion then runs elsewhere, never inside this call).
    public func submit(_ ops: [StoreOp], retry: Bool, completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        let refused = state.withLock { s -> Bool in
            if s.closing { return true }
            s.pending.append(Entry(ops: ops, retry: retry, completion: completion))
            return false
        }
        if refused {
            // Never inside `submit`: the caller may hold its own lock.
            DispatchQueue.global().async { completion(.failure(StoreError("Storage unavailable: the store is closed"))) }
            return
        }
        wake.signal()
    }

    public var failure: StoreError? { state.withLock { $0.failure } }

    public var isClosing: Bool { state.withLock { $0.closing } }

    public func onBatchDone(_ action: @escaping @Sendable () -> Void) {
        state.withLock { $0.batchDone.append(action) }
    }

    public func onFailureChange(_ action: @escaping @Sendable (StoreError?) -> Void) {
        state.withLock { $0.failureObservers.append(action) }
    }

    /// Records whether writes fail; tells observers when that changes.
    public func setFailure(_ failure: StoreError?) {
        let observers = state.withLock { s -> [@Sendable (StoreError?) -> Void] in
            defer { s.failure = failure }
            return (s.failure == nil) != (failure == nil) || s.failure?.message != failure?.message ? s.failureObservers : []
        }
        for o in observers { o(failure) }
    }

    /// Runs the after-batch actions (on the writer thread).
    public func batchDone() {
        for action in state.withLock({ $0.batchDone }) { action() }
    }

    /// Marks the store closing and wakes the writer; true only the first time.
    public func beginClosing() -> Bool {
        let first = state.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        if first { wake.signal() }
        return first
    }

    /// The submissions since the last call, and whether the store is closing.
    public func take() -> (entries: [Entry], closing: Bool) {
        state.withLock { s in
            defer { s.pending = [] }
            return (s.pending, s.closing)
        }
    }

    /// Waits for a submission or for closing (with `seconds`, at most that long).
    public func waitForWork(seconds: Double? = nil) {
        if let seconds {
            _ = wake.wait(timeout: .now() + seconds)
        } else {
            wake.wait()
        }
    }
}
