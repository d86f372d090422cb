/// How a job another node changed becomes visible here: a pure function of
/// the job as this node shows it, the row as stored and the log lines that came
/// with it. `JobQueue.applyRemote` only applies its answer under the lock.
struct RemoteStep {
    /// The job as first seen here (another node made it): inserted, as pending, first.
    var created: Job?
    /// The job as it is to be shown from now on.
    var fresh: Job
    /// The events, in the order a watcher on the node that made them saw them.
    var events: [QueueEvent]
    /// Pending work joined the queue (the worker is told).
    var joined: Bool
    /// The job ran on this node and another node ended it or took it over: its
    /// task is stopped, and its place in the limits freed once that has ended.
    var stopsTask: Bool
}

enum Reconcile {
    /// The step for one stored row, or nil when it shows nothing new.
    /// `node` is this node's id; `now` stands in for times a row lacks.
    static func step(old: Job?, stored job: Job, lines: [LogLine], node: String, now: Double) -> RemoteStep? {
        if let old, old.status == job.status, old.progress == job.progress, old.node == job.node,
           old.attempt == job.attempt, old.runAt == job.runAt, lines.isEmpty { return nil }
        // Events carry the numbers the node that made them gave them (the stored
        // sequence; log lines their own), in that order, so a stream's ids here
        // are the ones it has on that node.
        var events: [QueueEvent] = []
        var created: Job?
        var before = old ?? pendingCopy(job)
        if old == nil {
            before.sequence = min(job.sequence, 1)
            created = before
            events.append(QueueEvent(jobID: job.id, sequence: before.sequence, kind: .created(before)))
        }
        // A job that started and ended between two reads here: its start is
        // published first (with the number it had on its node), so watchers
        // learn when and where it ran, as they would have.
        if before.status == .pending, job.status.isFinished, let startedAt = job.startedAt, before.sequence + 1 < job.sequence {
            events.append(QueueEvent(jobID: job.id, sequence: before.sequence + 1, kind: .started(startedAt: startedAt, node: job.node)))
        }
        let sorted = lines.sorted { $0.seq < $1.seq }
        let earlier = sorted.filter { $0.seq < job.sequence }
        let later = sorted.filter { $0.seq >= job.sequence }
        if let last = earlier.last { events.append(QueueEvent(jobID: job.id, sequence: last.seq, kind: .log(earlier))) }
        if let kind = transition(from: before, to: job, now: now) {
            events.append(QueueEvent(jobID: job.id, sequence: job.sequence, kind: kind))
        }
        if let last = later.last { events.append(QueueEvent(jobID: job.id, sequence: last.seq, kind: .log(later))) }
        var fresh = job
        fresh.sequence = max(job.sequence, sorted.last?.seq ?? 0, old?.sequence ?? 0)
        let stops = old.map { $0.status == .running && $0.node == node && !(job.status == .running && job.node == node) } ?? false
        return RemoteStep(created: created, fresh: fresh, events: events,
                          joined: old == nil || job.status == .pending, stopsTask: stops)
    }

    /// The event a change of status (or of progress) makes, if any.
    static func transition(from before: Job, to job: Job, now: Double) -> QueueEvent.Kind? {
        switch (before.status, job.status) {
        case (.pending, .running): .started(startedAt: job.startedAt ?? now, node: job.node)
        case (.running, .running): before.progress != job.progress ? .progress(job.progress) : nil
        case (_, .completed): .completed(result: job.result ?? .object([:]), duration: job.duration ?? 0)
        case (_, .failed): .failed(error: job.error ?? "")
        case (_, .cancelled): .cancelled
        case (.running, .pending): .retrying(attempt: job.attempt, runAt: job.runAt ?? now, error: job.errors.last?.error ?? "")
        // An attempt that started and failed between two reads here.
        case (.pending, .pending) where job.attempt > before.attempt && !job.errors.isEmpty:
            .retrying(attempt: job.attempt, runAt: job.runAt ?? now, error: job.errors.last?.error ?? "")
        case (let from, .pending) where from.isFinished: .retried(job)
        default: nil
        }
    }

    /// A job as it was when it was made (what its `created` event carries).
    static func pendingCopy(_ job: Job) -> Job {
        var pending = Job(id: job.id, type: job.type, params: job.params, createdAt: job.createdAt)
        pending.queue = job.queue
        pending.priority = job.priority
        pending.runAt = job.runAt
        pending.timeout = job.timeout
        pending.maxAttempts = job.maxAttempts
        pending.backoff = job.backoff
        pending.idempotencyKey = job.idempotencyKey
        pending.schedule = job.schedule
        pending.sequence = 1
        return pending
    }

    /// Log lines for a job with no row in the change: the sequence it reaches.
    static func logOnly(_ job: Job, lines: [LogLine]) -> (fresh: Job, event: QueueEvent)? {
        let sorted = lines.sorted { $0.seq < $1.seq }
        guard let last = sorted.last else { return nil }
        var fresh = job
        fresh.sequence = max(job.sequence, last.seq)
        return (fresh, QueueEvent(jobID: job.id, sequence: last.seq, kind: .log(sorted)))
    }
}
