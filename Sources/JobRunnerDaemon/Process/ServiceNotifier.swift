import Essentials
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
                let stats = engine.queueStats()
                let status = "STATUS=\(stats.running) running, \(stats.pending) pending, \(stats.completed + stats.failed + stats.cancelled) finished"
                if status != lastStatus {
                    Systemd.notify(status)
                    lastStatus = status
                }
                if let watchdog, monotonicNow() - lastPing >= watchdog / 2 {
                    Systemd.notify("WATCHDOG=1")
                    lastPing = monotonicNow()
                }
                try? await Task.sleep(for: .milliseconds(Int64(tick * 1000)))
            }
        }
    }

    func stop() { task.cancel() }
}
