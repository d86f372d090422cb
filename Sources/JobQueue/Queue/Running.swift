import JSON

/// A running job's reports: progress, log lines and its end (with retries after a backoff).
extension JobQueue {
    /// Records progress of a running job; ignored (returns false) once it is not
    /// running, or not on `attempt` (when given: the task's own) anymore.
    @discardableResult
    public func updateProgress(_ id: Int64, percent: Int, message: String, attempt: JobAttempt? = nil) -> Bool {
        transact { q -> (Bool, Change?) in
            guard let before = q.current(id), before.status == .running, attempt?.matches(before) ?? true else { return (false, nil) }
            var job = before
            let p = JobProgress(percent: min(max(percent, 0), 100), message: message)
            job.progress = p
            job.sequence += 1
            q.stage(job)
            var ops: [StoreOp] = []
            if store != nil {
                let now = clock.now()
                if now - (q.progressWritten[id] ?? 0) >= Self.progressWriteInterval {
                    q.progressWritten[id] = now
                    ops.append(.progress(id: id, progress: p, sequence: job.sequence))
                }
            }
            return (true, Change(ops: ops, effect: .update([job]),
                                 events: [QueueEvent(jobID: id, sequence: job.sequence, kind: .progress(p))],
                                 touched: [before]))
        }
    }

    /// Appends lines to a running job's log; ignored (false) once it is not running.
    /// Lines wait in a per-job buffer (bounded by `maxLogBytes`: past it the
    /// oldest go, counted as dropped) while the job's previous batch is on its
    /// way to the store, so a job writing faster than the store commits is never
    /// slowed and memory stays bounded. Each emitted line takes the job's next
    /// sequence number; a batch is one `log` event. `dropped` counts lines the
    /// job wrote before these that its writer already let go (they count as
    /// dropped from the log).
    /// With `attempt` (a task's own), ignored once the job is on another attempt.
    @discardableResult
    public func appendLog(_ id: Int64, _ stream: LogStream, _ lines: [String], dropped: Int = 0, attempt: JobAttempt? = nil) -> Bool {
        guard !lines.isEmpty || dropped > 0 else { return true }
        let now = clock.now()
        return transact { q -> (Bool, Change?) in
            guard let job = q.current(id), job.status == .running, attempt?.matches(job) ?? true else { return (false, nil) }
            q.logs.pending[id, default: PendingLog()].add(lines, stream: stream, at: now, maxBytes: maxLogBytes, dropped: dropped)
            guard !q.logs.inFlight.contains(id) else { return (true, nil) }
            return (true, logChange(&q, id))
        }
    }

    /// The change that emits a job's buffered lines (nil when there are none).
    func logChange(_ q: inout QueueState, _ id: Int64) -> Change? {
        guard let pending = q.logs.pending.removeValue(forKey: id), !pending.isEmpty, let before = q.current(id) else { return nil }
        var job = before
        let out = pending.numbered(after: &job.sequence)
        q.stage(job)
        if store != nil { q.logs.inFlight.insert(id) }
        let ops: [StoreOp] = store == nil ? [] : [.appendLog(id: id, lines: out, dropped: pending.dropped, maxBytes: maxLogBytes,
                                                             expect: logGuard(before))]
        return Change(ops: ops, effect: .update([job]), events: out.isEmpty ? [] : [QueueEvent(jobID: id, sequence: job.sequence, kind: .log(out))],
                      touched: [before], logs: (id, out, pending.dropped), logOf: id)
    }

    /// Marks a running job completed with its result. With `attempt` (a task
    /// reporting its end) only while the job is still on that attempt: a task
    /// of an attempt that was taken over (its node went silent and another runs
    /// the job now) ends without changing the job.
    @discardableResult
    public func complete(_ id: Int64, result: JSONValue, attempt: JobAttempt? = nil) -> Bool {
        finish(id, QueueState.Finish(status: .completed, result: result, error: nil, retryable: false), attempt)
    }

    /// Marks a running job's attempt failed with an error message: it is retried
    /// after its backoff while attempts remain (unless `retryable` is false, as
    /// for an interruption by a stop), else it fails. `attempt` as for `complete`.
    @discardableResult
    public func fail(_ id: Int64, error: String, retryable: Bool = true, attempt: JobAttempt? = nil) -> Bool {
        finish(id, QueueState.Finish(status: .failed, result: nil, error: error, retryable: retryable), attempt)
    }

    private func finish(_ id: Int64, _ end: QueueState.Finish, _ attempt: JobAttempt?) -> Bool {
        transact { q -> (Bool, Change?) in
            // A cancelled task has ended: its place in the limits is free now.
            if let held = q.stopping[id], attempt?.matches(held) ?? true {
                q.stopping[id] = nil
                q.scheduler.countRunning(held, -1)
            }
            // Another attempt's end (an older one, taken over): nothing to record.
            guard let before = q.current(id), attempt?.matches(before) ?? true else { return (false, nil) }
            guard before.status == .running else {
                // Its cancel is on the way to the store: keep the outcome in case
                // that cancel fails to commit.
                if q.cancelling[id] != nil { q.cancelling[id] = QueueState.CancelInFlight(finish: end) }
                return (false, nil)
            }
            return (true, finishChange(&q, before, end))
        }
    }

    func finishChange(_ q: inout QueueState, _ before: Job, _ end: QueueState.Finish) -> Change {
        // Lines still buffered go first, in the same change: the log is whole
        // before the final event.
        var job = before
        let pending = q.logs.pending.removeValue(forKey: before.id) ?? PendingLog()
        let lines = pending.numbered(after: &job.sequence)
        let now = clock.now()
        job.completedAt = now
        let kind: QueueEvent.Kind
        q.scheduler.countRunning(job, -1)
        // A rescued attempt ends as the silent node's, which ran it.
        if let from = q.cluster.adoptedFrom.removeValue(forKey: job.id) { job.node = from }
        if end.status == .completed {
            job.status = .completed
            let result = end.result ?? .object([:])
            job.result = result
            job.progress = .complete
            kind = .completed(result: result, duration: job.duration ?? 0)
        } else if end.retryable && job.attempt < job.maxAttempts {
            // Another attempt after the backoff; the error is kept.
            let error = end.error ?? ""
            job.errors.append(AttemptError(attempt: job.attempt, error: error, at: now))
            let runAt = now + job.backoff.delay(after: job.attempt, random: Double.random(in: 0..<1))
            job.status = .pending
            job.attempt += 1
            job.runAt = runAt
            job.startedAt = nil
            job.completedAt = nil
            job.progress = .queued
            kind = .retrying(attempt: job.attempt, runAt: runAt, error: error)
        } else {
            job.status = .failed
            let error = end.error ?? ""
            job.error = error
            if job.maxAttempts > 1 || !job.errors.isEmpty { job.errors.append(AttemptError(attempt: job.attempt, error: error, at: now)) }
            kind = .failed(error: error)
        }
        job.sequence += 1
        q.stage(job)
        q.progressWritten[job.id] = nil
        var ops: [StoreOp] = [write(job, from: before)]
        var events = [QueueEvent(jobID: job.id, sequence: job.sequence, kind: kind)]
        if !lines.isEmpty || pending.dropped > 0 {
            if store != nil {
                ops.insert(.appendLog(id: job.id, lines: lines, dropped: pending.dropped, maxBytes: maxLogBytes, expect: logGuard(before)), at: 0)
            }
            if let last = lines.last { events.insert(QueueEvent(jobID: job.id, sequence: last.seq, kind: .log(lines)), at: 0) }
        }
        return Change(ops: ops, effect: .update([job]), events: events, touched: [before],
                      logs: lines.isEmpty && pending.dropped == 0 ? nil : (job.id, lines, pending.dropped))
    }
}
