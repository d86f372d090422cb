import JobQueue
import Synchronization

/// A clock moved by hand: `advance` runs the wake-up when its time comes.
public final class ManualClock: QueueClock {
    public init() {}

    private let state = Mutex<(now: Double, at: Double?, action: (@Sendable () -> Void)?)>((1_800_000_000, nil, nil))

    public func now() -> Double { state.withLock { $0.now } }

    public func wake(at time: Double?, _ action: @escaping @Sendable () -> Void) {
        state.withLock { $0 = ($0.now, time, action) }
    }

    /// The time the queue asked to be woken at.
    public var armed: Double? { state.withLock { $0.at } }

    public func advance(_ seconds: Double) {
        let fire: (@Sendable () -> Void)? = state.withLock { s in
            s.now += seconds
            guard let at = s.at, at <= s.now else { return nil }
            s.at = nil
            return s.action
        }
        fire?()
    }
}

