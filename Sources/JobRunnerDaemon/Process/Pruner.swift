import Essentials
import JobEngine
import JobQueue

/// Prunes by `--retain-finished` now and every minute (restarted with a new rule on SIGHUP).
final class Pruner: Sendable {
    private let task: Task<Void, Never>

    init(engine: JobEngine, rule: Retention) {
        task = Task.detached {
            while !Task.isCancelled {
                switch rule {
                case .olderThan(let seconds): engine.pruneFinished(before: epochNow() - seconds, keep: nil)
                case .keepNewest(let n): engine.pruneFinished(before: nil, keep: n)
                }
                try? await Task.sleep(for: .seconds(60))
            }
        }
    }

    func stop() { task.cancel() }
}
