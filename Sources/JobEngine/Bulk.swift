import JobQueue
import Synchronization

/// What a bulk action does to the jobs a filter selects, and which of them it
/// applies to.
public enum BulkAction: String, Sendable, CaseIterable {
    /// Pending and running jobs are cancelled.
    case cancel
    /// Failed and cancelled jobs run again.
    case retry
    /// Finished jobs (completed, failed, cancelled) are removed with their logs;
    /// pending and running jobs are never deleted (cancel them first).
    case delete

    public var statuses: [JobStatus] {
        switch self {
        case .cancel: [.pending, .running]
        case .retry: [.failed, .cancelled]
        case .delete: [.completed, .failed, .cancelled]
        }
    }
}

/// How a bulk action went: how many jobs it was asked to act on, and how many
/// it changed (fewer when some moved on meanwhile, or a commit failed).
public struct BulkOutcome: Sendable, Equatable {
    public var done: Int
    public var failed: Int
    /// The storage error of the commits that failed, if any did.
    public var error: String?
}

extension JobEngine {
    /// The most jobs one bulk action acts on.
    public static let bulkLimit = 10_000

    /// The jobs of the filter the action applies to (the filter's statuses
    /// narrowed to the action's), newest first, at most `bulkLimit + 1` (one more
    /// than allowed says there are too many).
    public func bulkTargets(_ action: BulkAction, _ filter: JobQuery) throws(StoreError) -> [Int64] {
        var q = filter
        q.statuses = filter.statuses.isEmpty ? action.statuses : filter.statuses.filter(action.statuses.contains)
        guard !q.statuses.isEmpty else { return [] }
        q.limit = Self.bulkLimit + 1
        q.afterID = nil
        q.beforeID = nil
        q.order = .desc
        q.countTotal = false
        return try queue.list(q).jobs.map(\.id)
    }

    /// Acts on the given jobs: each one as its own request would (a job that
    /// moved on meanwhile is left alone); deletes are one commit. `completion`
    /// runs once every change is committed; a failure only when nothing changed.
    public func bulk(_ action: BulkAction, ids: [Int64], completion: @escaping @Sendable (Result<BulkOutcome, StoreError>) -> Void) {
        if let failure = storageFailure { return completion(.failure(failure)) }
        if action == .delete {
            queue.deleteFinished(ids: ids) { r in completion(r.map { BulkOutcome(done: $0, failed: 0, error: nil) }) }
            return
        }
        guard !ids.isEmpty else { return completion(.success(BulkOutcome(done: 0, failed: 0, error: nil))) }
        let tally = Mutex((remaining: ids.count, outcome: BulkOutcome(done: 0, failed: 0, error: nil)))
        let one = { @Sendable (changed: Bool, error: StoreError?) in
            let finished = tally.withLock { t -> BulkOutcome? in
                if changed { t.outcome.done += 1 }
                if let error {
                    t.outcome.failed += 1
                    t.outcome.error = error.message
                }
                t.remaining -= 1
                return t.remaining == 0 ? t.outcome : nil
            }
            guard let finished else { return }
            if finished.done == 0, let message = finished.error {
                completion(.failure(StoreError(message)))
            } else {
                completion(.success(finished))
            }
        }
        for id in ids {
            switch action {
            case .cancel:
                cancel(id) { r in
                    switch r {
                    case .success(.cancelled): one(true, nil)
                    case .success: one(false, nil)
                    case .failure(let e): one(false, e)
                    }
                }
            case .retry:
                retry(id) { r in
                    switch r {
                    case .success(.retried): one(true, nil)
                    case .success: one(false, nil)
                    case .failure(let e): one(false, e)
                    }
                }
            case .delete:
                break
            }
        }
    }
}
