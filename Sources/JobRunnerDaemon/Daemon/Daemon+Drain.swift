import Essentials
import Glibc
import Systemd

extension Daemon {
    /// SIGTERM or SIGINT: refuse new work, let running jobs finish for
    /// `--shutdown-grace` (a second signal ends it at once), then cancel what is
    /// left (recorded as interrupted), and stop the store, streams and sockets.
    public func drain(after received: Int32, signals: Signals) {
        Systemd.notify("STOPPING=1")
        logger.log(.info, "signal \(received): draining (up to \(settings.shutdownGrace) s for \(engine.stats.active) running jobs)")
        api.beginShutdown()
        engine.pause()
        let deadline = monotonicNow() + settings.shutdownGrace
        while engine.stats.active > 0 && monotonicNow() < deadline {
            let again = signals.wait(seconds: 0.05)
            if again == SIGTERM || again == SIGINT { break }
        }
        let leftover = engine.stats.active
        if leftover > 0 { logger.log(.warning, "cancelling \(leftover) jobs still running after the grace period") }
        engine.stop()
        let cancelDeadline = monotonicNow() + 2
        while engine.stats.active > 0 && monotonicNow() < cancelDeadline {
            _ = signals.wait(seconds: 0.05)
        }
        pruner?.stop()
        notifier.stop()
        // Attempts under way are abandoned (sent again after the next start).
        webhooks.stop()
        // The store first: a change still waiting for its commit is committed and
        // answered truly (never a 503 for a change that then happens anyway).
        store?.close()
        api.stop()
        server.stop()
        logger.log(.info, "stopped")
    }
}
