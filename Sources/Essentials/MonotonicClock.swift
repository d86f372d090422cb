import Glibc

/// Seconds from an arbitrary start, never going backwards (CLOCK_MONOTONIC): for
/// deadlines, timeouts and durations, never for dates.
public func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
