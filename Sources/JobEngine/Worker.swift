import Dispatch
import JSON
import JobQueue
import Synchronization

/// The worker: starts pending jobs while slots are free, runs each as a task,
/// enforces timeouts, reports ends.
extension JobEngine {
    public var stats: WorkerStats {
        worker.withLock { WorkerStats(active: $0.active, capacity: capacity, processed: $0.processed, isRunning: $0.isRunning) }
    }

    /// Calls `observer` with fresh worker figures after a job starts or ends.
    /// It runs on the thread that started or ended the job; keep it quick.
    public func observeWorker(_ observer: @escaping @Sendable (WorkerStats) -> Void) {
        workerObservers.withLock { $0.append(observer) }
    }

    /// Tells observers after the job events before it are published (with a
    /// durable store, after their commit), so `worker_stats` follows them.
    func workerChanged() {
        let observers = workerObservers.withLock { $0 }
        guard !observers.isEmpty else { return }
        queue.whenDurable { [self] _ in
            let current = stats
            for o in observers { o(current) }
        }
    }

    /// Stops starting jobs; the running ones go on. Pending jobs stay pending (a
    /// durable store resumes them at the next start).
    public func pause() {
        worker.withLock { $0.isRunning = false }
        workerChanged()
    }

    /// Stops starting new jobs and cancels the running ones' tasks.
    public func stop() {
        let tasks = worker.withLock { w in
            w.isRunning = false
            return Array(w.tasks.values)
        }
        for t in tasks { t.cancel() }
    }

    /// Starts pending jobs while slots are free.
    func pump(force: Bool = false) {
        if queue.nodeID != nil { return pumpShared(force: force) }
        while true {
            let reserved = worker.withLock { w in
                guard w.isRunning, w.active < capacity else { return false }
                w.active += 1
                return true
            }
            guard reserved else { return }
            guard let job = queue.claimNext() else {
                worker.withLock { $0.active -= 1 }
                // A job that became claimable while the slot was held saw the
                // worker full: look again.
                if queue.hasClaimable { continue }
                return
            }
            start(job)
        }
    }

    /// A shared store: the free slots' worth of jobs is claimed in the
    /// database, one claim at a time; anything announced meanwhile claims again.
    private func pumpShared(force: Bool) {
        guard force || queue.hasClaimable else { return }
        let wanted = worker.withLock { w -> Int in
            guard w.isRunning else { return 0 }
            if w.claiming {
                w.claimAgain = true
                return 0
            }
            let free = capacity - w.active
            guard free > 0 else { return 0 }
            w.claiming = true
            w.claimAgain = false
            w.active += free
            return free
        }
        guard wanted > 0 else { return }
        queue.claim(limit: wanted) { [self] jobs in
            let again = worker.withLock { w -> Bool in
                w.active -= wanted - jobs.count
                w.claiming = false
                return w.claimAgain || jobs.count == wanted
            }
            for job in jobs { start(job) }
            if jobs.isEmpty { workerChanged() }
            if again { pump() }
        }
    }

    private func start(_ job: Job) {
        let task = Task { [self] in await execute(job) }
        let cancelled = worker.withLock { w in
            w.tasks[job.id] = task
            w.attempts[job.id] = JobAttempt(job)
            return w.cancelBeforeRegister.remove(job.id) != nil
        }
        if cancelled { task.cancel() }
        workerChanged()
    }

    /// Runs one attempt of a job. Its progress, log and end are reported for
    /// that attempt: once the job is on another (this node went silent and the
    /// job was retried elsewhere), they change nothing.
    private func execute(_ job: Job) async {
        let queue = self.queue
        let id = job.id
        let attempt = JobAttempt(job)
        if let jobType = registry.type(named: job.type) {
            let context = JobContext(jobID: id, reporter: { percent, message in
                queue.updateProgress(id, percent: percent, message: message, attempt: attempt)
            }, logger: { stream, lines, dropped in
                queue.appendLog(id, stream, lines, dropped: dropped, attempt: attempt)
            })
            // A timeout stops the attempt the way a cancel does (a built-in at its
            // next cancellation point, a command's process group with SIGTERM),
            // and the attempt fails as timed out (and may be retried).
            let timedOut = TimeoutFlag()
            let deadline: Task<Void, Never>? = job.timeout.map { seconds in
                Task { [self] in
                    guard (try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))) != nil else { return }
                    timedOut.value.store(true, ordering: .sequentiallyConsistent)
                    let task: Task<Void, Never>? = worker.withLock { w in
                        if let t = w.tasks[id] { return t }
                        w.cancelBeforeRegister.insert(id)
                        return nil
                    }
                    task?.cancel()
                }
            }
            do {
                let result = try await jobType.run(job.params, context)
                deadline?.cancel()
                if timedOut.value.load(ordering: .sequentiallyConsistent) {
                    queue.fail(id, error: Self.timedOutMessage(job.timeout ?? 0), attempt: attempt)
                } else {
                    queue.complete(id, result: result, attempt: attempt)
                }
            } catch is CancellationError {
                deadline?.cancel()
                if timedOut.value.load(ordering: .sequentiallyConsistent) {
                    queue.fail(id, error: Self.timedOutMessage(job.timeout ?? 0), attempt: attempt)
                } else {
                    // Cancelled through `cancel` (already recorded), by `stop`, or
                    // because another node took the job over. With several nodes a
                    // stopped node's job is retried (while attempts remain) by
                    // another, as the leader does for a silent node's.
                    queue.fail(id, error: JobQueue.interruptedMessage, retryable: queue.nodeID != nil, attempt: attempt)
                }
            } catch let failure as JobFailure {
                deadline?.cancel()
                queue.fail(id, error: failure.message, attempt: attempt)
            } catch {
                deadline?.cancel()
                queue.fail(id, error: String(describing: error), attempt: attempt)
            }
        } else {
            queue.fail(id, error: "Unknown job type: \(job.type)", retryable: false, attempt: attempt)
        }
        worker.withLock { w in
            w.active -= 1
            w.processed += 1
            if w.attempts[id] == attempt {
                w.tasks[id] = nil
                w.attempts[id] = nil
            }
        }
        workerChanged()
        pump()
    }

    /// Set when an attempt's timeout fired (read after its task ended).
    final class TimeoutFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// `Timed out after 3600 seconds` (or `0.5 seconds`).
    static func timedOutMessage(_ seconds: Double) -> String {
        let text = seconds.rounded() == seconds && seconds < 1e15 ? String(Int64(seconds)) : String(seconds)
        return "Timed out after \(text) seconds"
    }
}
