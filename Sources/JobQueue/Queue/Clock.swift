import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time as Unix epoch seconds with a fractional part (the API's timestamps).
public func epochNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1_000_000_000
}

/// The queue's time: what "now" is, and one wake-up at the earliest time a
/// delayed job becomes due. Tests pass a clock they move by hand.
public protocol QueueClock: Sendable {
    /// Epoch seconds.
    func now() -> Double
    /// Calls `action` once at (or just after) `time`; a later call replaces the
    /// earlier one, nil cancels it. Never calls `action` inline.
    func wake(at time: Double?, _ action: @escaping @Sendable () -> Void)
}

/// The real clock: one Dispatch timer, re-armed for the earliest due job.
///
/// `@unchecked Sendable`: the only non-Sendable member is the Dispatch timer,
/// whose `schedule` and `cancel` Dispatch documents as safe from any thread; the
/// action it runs sits behind a Mutex.
public final class SystemClock: QueueClock, @unchecked Sendable {
    private let timer: any DispatchSourceTimer
    private let action = Mutex<(@Sendable () -> Void)?>(nil)

    public init() {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "jobrunner.timer", qos: .userInitiated))
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.schedule(wallDeadline: .distantFuture, leeway: .milliseconds(1))
        timer.activate()
    }

    deinit {
        timer.cancel()
    }

    public func now() -> Double { epochNow() }

    private func fire() {
        action.withLock { $0 }?()
    }

    public func wake(at time: Double?, _ action: @escaping @Sendable () -> Void) {
        self.action.withLock { $0 = action }
        guard let time else {
            timer.schedule(wallDeadline: .distantFuture, leeway: .milliseconds(1))
            return
        }
        let delay = max(0, time - epochNow())
        timer.schedule(wallDeadline: .now() + .nanoseconds(Int(min(delay, 1e9) * 1e9)), leeway: .microseconds(500))
    }
}
