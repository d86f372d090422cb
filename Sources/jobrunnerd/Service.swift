import Glibc
import JobEngine
import JobQueue
import Systemd

/// Talks to systemd while running: `STATUS=` lines when the figures change and
/// `WATCHDOG=1` at half the interval systemd asked for. Silent without systemd.
final class ServiceNotifier: Sendable {
    private let task: Task<Void, Never>

    init(engine: JobEngine) {
        let watchdog = Systemd.watchdogInterval()
        task = Task.detached {
            var lastStatus = ""
            var lastPing = 0.0
            let tick = min(2.0, (watchdog ?? 4) / 2)
            while !Task.isCancelled {
                let stats = engine.queue.stats()
                let status = "STATUS=\(stats.running) running, \(stats.pending) pending, \(stats.completed + stats.failed + stats.cancelled) finished"
                if status != lastStatus {
                    Systemd.notify(status)
                    lastStatus = status
                }
                if let watchdog, monotonicSeconds() - lastPing >= watchdog / 2 {
                    Systemd.notify("WATCHDOG=1")
                    lastPing = monotonicSeconds()
                }
                try? await Task.sleep(for: .milliseconds(Int64(tick * 1000)))
            }
        }
    }

    func stop() { task.cancel() }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
