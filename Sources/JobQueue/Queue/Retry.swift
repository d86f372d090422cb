/// Putting a failed or cancelled job back to pending.
extension JobQueue {
    /// Puts a failed or cancelled job back to pending for a fresh set of attempts
    /// (its earlier errors are kept). `completion` gets the job once committed;
    /// `nil` when there is no such job; `.notRetryable` for any other status.
    public func retry(_ id: Int64, completion: @escaping @Sendable (Result<RetryOutcome, StoreError>) -> Void) {
        retry(id, tries: 3, completion: completion)
    }

    private func retry(_ id: Int64, tries: Int, completion: @escaping @Sendable (Result<RetryOutcome, StoreError>) -> Void) {
        let completion: @Sendable (Result<RetryOutcome, StoreError>) -> Void = { [self] result in
            if case .failure(let error) = result, error.isConflict, tries > 1 {
                retry(id, tries: tries - 1, completion: completion)
            } else {
                completion(result)
            }
        }
        if let failure = store?.failure { return completion(.failure(failure)) }
        // A finished job may be old enough to be in the store only.
        var stored: Job?
        if state.withLock({ $0.q.current(id) == nil }) {
            do { stored = try store?.job(id) } catch { return completion(.failure(error)) }
        }
        let refusal = transact { q -> (RetryOutcome?, Change?) in
            guard let before = q.current(id) ?? stored else { return (.notFound, nil) }
            guard before.status == .failed || before.status == .cancelled else { return (.notRetryable(before.status), nil) }
            if q.jobs[id] == nil { q.jobs[id] = before }
            var job = before
            job.status = .pending
            job.attempt = 1
            job.runAt = nil
            job.error = nil
            job.result = nil
            job.startedAt = nil
            job.completedAt = nil
            job.progress = .queued
            job.sequence += 1
            q.stage(job)
            let queued = job
            // Guarded in every store: a delete (bulk, clear, prune) committed
            // first leaves no row, and the retry then writes nothing back.
            let op = StoreOp.update(job, expect: JobGuard(before))
            return (nil, Change(ops: [op], effect: .update([job]),
                                events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .retried(job))], touched: [before],
                                retry: false, done: { result in completion(result.map { .retried(queued) }) }))
        }
        if let refusal { completion(.success(refusal)) }
    }

    public enum RetryOutcome: Sendable {
        case retried(Job)
        case notFound
        case notRetryable(JobStatus)
    }
}
