import Synchronization

/// Finished jobs leaving: clear, prune (`--retain-finished`) and bulk delete.
extension JobQueue {
    /// Removes every completed, failed and cancelled job; `completion` gets how
    /// many once committed, or the storage error (and nothing was removed).
    public func clearFinished(completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        if let failure = store?.failure {
            completion(.failure(failure))
            return
        }
        let count = Cell<Int>(0)
        transact { _ -> ((), Change?) in
            ((), Change(ops: [.deleteFinished], effect: .clear(count), retry: false,
                        done: { r in completion(r.map { count.value }) }))
        }
    }

    /// The synchronous form for the in-memory queue (and tests).
    @discardableResult
    public func clearFinished() -> Int {
        let result = Mutex(0)
        clearFinished { r in if case .success(let n) = r { result.withLock { $0 = n } } }
        return result.withLock { $0 }
    }

    /// Removes finished jobs that finished before `before` or are not among the
    /// newest `keep` by id (`--retain-finished`). One rule for memory and store:
    /// with a durable store the store picks the jobs inside its transaction, and
    /// memory and counters follow once that commit succeeded.
    public func pruneFinished(before: Double?, keep: Int?, completion: @escaping Completion = { _ in }) {
        guard before != nil || keep != nil else { return completion(.success(())) }
        // With several nodes, the leader prunes for all (the others hear of it),
        // fenced by its lease.
        var fence: [StoreOp] = []
        if let cluster {
            guard let epoch = cluster.leaderEpoch else { return completion(.success(())) }
            fence = [.fence(epoch: epoch)]
        }
        let pruned = Cell<[PrunedJob]>([])
        transact { q -> ((), Change?) in
            var ops: [StoreOp] = []
            if store == nil {
                pruned.value = q.pruneCandidates(before: before, keep: keep)
            } else {
                ops = fence + [.prune(before: before, keep: keep, report: { removed in pruned.value = removed })]
            }
            return ((), Change(ops: ops, effect: .prune(pruned), retry: true, done: completion))
        }
    }

    /// Removes the listed jobs that are finished, with their logs (pending and
    /// running ones stay); `completion` gets how many went once committed, or the
    /// storage error (and nothing was removed). Counters follow and one
    /// `pruned` event says how many left, as for a prune.
    public func deleteFinished(ids: [Int64], completion: @escaping @Sendable (Result<Int, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        let removed = Cell<[PrunedJob]>([])
        // What the store removed (memory may keep a job a retry is on its way
        // for until that retry finds the row gone).
        let count = Cell<Int>(0)
        transact { q -> ((), Change?) in
            var ops: [StoreOp] = []
            if store == nil {
                removed.value = ids.compactMap { q.finishedForRemoval($0) }
                count.value = removed.value.count
            } else {
                ops = [.deleteJobs(ids: ids, report: { removed.value = $0; count.value = $0.count })]
            }
            return ((), Change(ops: ops, effect: .prune(removed), retry: false,
                               done: { r in completion(r.map { count.value }) }))
        }
    }
}
