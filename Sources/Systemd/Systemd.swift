#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// The service-manager protocol through libsystemd. Everything is a no-op when
/// the process does not run under systemd (no `NOTIFY_SOCKET`, no `LISTEN_FDS`).
public enum Systemd {
    /// Sends a notification such as `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1`.
    /// Returns false when there is no service manager to tell.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// Descriptors passed by socket activation (for this process only; `LISTEN_PID`
    /// is checked), starting at 3. The environment variables are cleared.
    public static func listenFDs() -> [Int32] {
        let n = sd_listen_fds(1)
        guard n > 0 else { return [] }
        return (0..<n).map { SD_LISTEN_FDS_START + $0 }
    }

    /// Seconds between the watchdog pings systemd expects (`WatchdogSec=`), or nil.
    public static func watchdogInterval() -> Double? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return Double(usec) / 1_000_000
    }

    /// True when stderr goes to the journal, which reads `<N>` priority prefixes.
    public static var stderrIsJournal: Bool {
        getenv("JOURNAL_STREAM") != nil
    }
}
