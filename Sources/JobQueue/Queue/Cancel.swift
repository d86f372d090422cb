import Synchronization

/// Cancelling a pending or running job.
extension JobQueue {
    public enum CancelOutcome: Sendable, Equatable {
        case cancelled(wasRunning: Bool)
        case notFound
        case notCancellable(JobStatus)
    }

    /// Cancels a pending or running job. The outcome is known at once; for a
    /// cancel that happens, `completion` runs once it is committed (then a running
    /// job's task may be stopped), or gets the storage error and nothing changed.
    public func cancel(_ id: Int64, completion: @escaping @Sendable (Result<CancelOutcome, StoreError>) -> Void) {
        cancel(id, tries: 3, completion: completion)
    }

    /// A cancel that lost to another node's change (a shared store) is decided
    /// again from the job as that node left it.
    private func cancel(_ id: Int64, tries: Int, completion: @escaping @Sendable (Result<CancelOutcome, StoreError>) -> Void) {
        let completion: @Sendable (Result<CancelOutcome, StoreError>) -> Void = { [self] result in
            if case .failure(let error) = result, error.isConflict, tries > 1 {
                cancel(id, tries: tries - 1, completion: completion)
            } else {
                completion(result)
            }
        }
        let failing = store?.failure
        let outcome = transact { q -> (CancelOutcome, Change?) in
            guard let before = q.current(id) else { return (.notFound, nil) }
            guard before.status == .pending || before.status == .running else { return (.notCancellable(before.status), nil) }
            if failing != nil { return (.cancelled(wasRunning: before.status == .running), nil) }
            let wasRunning = before.status == .running
            var job = before
            job.status = .cancelled
            job.completedAt = clock.now()
            job.sequence += 1
            q.stage(job)
            if wasRunning {
                q.cancelling[id] = QueueState.CancelInFlight()
                // Its place in the queue's and type's limits is kept until the
                // task has ended (`finish`).
                if runsHere(before) { q.stopping[id] = before }
            }
            q.progressWritten[id] = nil
            let result = CancelOutcome.cancelled(wasRunning: wasRunning)
            let ops: [StoreOp] = [write(job, from: before)]
            q.logs.pending[id] = nil
            return (result, Change(ops: ops, effect: .update([job]),
                                   events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .cancelled)],
                                   touched: [before], retry: false, cancelOf: id,
                                   done: { r in completion(r.map { result }) }))
        }
        switch outcome {
        case .cancelled:
            if let failing { completion(.failure(failing)) }
        case .notFound:
            // Not in memory: finished long ago (read outside the lock), or never
            // existed, or (several nodes) made on another node a moment ago and
            // not heard of yet: then it is taken in and the cancel decided again.
            if let stored = try? store?.job(id) {
                if cluster != nil, !stored.status.isFinished, tries > 1 {
                    var change = RemoteChange()
                    change.jobs = [stored]
                    applyRemote(change)
                    return cancel(id, tries: tries - 1, completion: completion)
                }
                completion(.success(.notCancellable(stored.status)))
            } else {
                completion(.success(.notFound))
            }
        case .notCancellable:
            completion(.success(outcome))
        }
    }

    /// The synchronous form for the in-memory queue (and tests).
    public func cancel(_ id: Int64) -> CancelOutcome {
        let result = Mutex<CancelOutcome>(.notFound)
        cancel(id) { r in if case .success(let o) = r { result.withLock { $0 = o } } }
        return result.withLock { $0 }
    }
}
