import Glibc

/// SIGINT, SIGTERM and SIGHUP, taken by `sigwait` on the main thread: blocked
/// before any other thread exists (threads inherit the mask), so no other
/// thread ever runs a handler.
public struct Signals: Sendable {
    private let set: sigset_t

    /// Blocks the daemon's signals, and ignores SIGPIPE (a closed socket is an
    /// error to the write) and SIGXFSZ (a file-size limit makes writes fail with
    /// EFBIG, reported as a storage error, instead of killing the process).
    public static func block() -> Signals {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        return Signals(set: set)
    }

    /// The next signal (0 if waiting failed).
    public func wait() -> Int32 {
        var set = self.set
        var received: Int32 = 0
        return sigwait(&set, &received) == 0 ? received : 0
    }

    /// The next signal within `seconds`, or nil.
    func wait(seconds: Double) -> Int32? {
        var set = self.set
        var timeout = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        let received = sigtimedwait(&set, nil, &timeout)
        return received > 0 ? received : nil
    }
}
