import Essentials
import JobQueue

/// What one commit attempt came to.
public enum CommitResult {
    /// Committed; the entries listed had a guarded write that found its job changed.
    case committed(conflicts: Set<Int>)
    /// Not committed: nothing of it is in the database.
    case failed(SQLError)
    /// The connection was lost while COMMIT was on its way: committed or not,
    /// only the server can tell once it is back. `undo` forgets what the driver
    /// noted of this commit, should it turn out not to have committed.
    case inDoubt(transaction: Int64, conflicts: Set<Int>, undo: () -> Void, SQLError)
}

/// What became of a commit in doubt.
public enum DoubtOutcome {
    case committed
    case aborted
    /// The server cannot tell yet (unreachable, or the transaction still open).
    case unknown(SQLError)
}

/// The group-commit writer every SQL store runs on its one writer thread:
/// whatever was submitted since the last commit goes in one transaction, then
/// each submission's completion runs, in order. A failed commit keeps the
/// entries with `retry` and tries again after a pause (or when new work
/// arrives); a commit in doubt holds back every newer one until `outcome` can
/// tell (a retried older write must not land after a newer one).
public struct WriterLoop {
    typealias Entry = StoreWriteQueue.Entry

    let writes: StoreWriteQueue
    let metrics: StoreMetrics?
    let commit: ([StoreWriteQueue.Entry]) -> CommitResult
    let outcome: (Int64) -> DoubtOutcome

    public init(writes: StoreWriteQueue, metrics: StoreMetrics?, commit: @escaping ([StoreWriteQueue.Entry]) -> CommitResult,
                outcome: @escaping (Int64) -> DoubtOutcome = { _ in .aborted }) {
        self.writes = writes
        self.metrics = metrics
        self.commit = commit
        self.outcome = outcome
    }

    private struct InDoubt {
        let transaction: Int64
        let entries: [Entry]
        let conflicts: Set<Int>
        let undo: () -> Void
    }

    /// Runs until the store closes and everything queued is written (or failed).
    public func run() {
        var carried: [Entry] = []
        var doubt: InDoubt?
        while true {
            let (batch, closing) = writes.take()
            var entries = carried + batch
            carried = []
            if let d = doubt {
                switch outcome(d.transaction) {
                case .committed:
                    doubt = nil
                    writes.setFailure(nil)
                    complete(d.entries, d.conflicts)
                    writes.batchDone()
                case .aborted:
                    // Nobody was told yet: the writes are simply made again.
                    doubt = nil
                    d.undo()
                    entries = d.entries + entries
                case .unknown(let error):
                    let storeError = Self.storeError(error)
                    writes.setFailure(storeError)
                    for e in entries where !e.retry { e.completion(.failure(storeError)) }
                    carried = entries.filter(\.retry)
                    if closing {
                        for e in d.entries + carried { e.completion(.failure(storeError)) }
                        writes.batchDone()
                        return
                    }
                    writes.batchDone()
                    writes.waitForWork(seconds: 1)
                    continue
                }
            }
            if entries.isEmpty {
                if closing { return }
                writes.waitForWork()
                continue
            }
            defer { writes.batchDone() }
            let started = monotonicNow()
            switch commit(entries) {
            case .committed(let conflicts):
                metrics?.committed(seconds: monotonicNow() - started, submissions: entries.count)
                writes.setFailure(nil)
                complete(entries, conflicts)
            case .inDoubt(let transaction, let conflicts, let undo, let error):
                metrics?.failed()
                writes.setFailure(Self.storeError(error))
                doubt = InDoubt(transaction: transaction, entries: entries, conflicts: conflicts, undo: undo)
            case .failed(let error):
                metrics?.failed()
                let storeError = Self.storeError(error)
                writes.setFailure(storeError)
                for e in entries where !e.retry { e.completion(.failure(storeError)) }
                carried = entries.filter(\.retry)
                if closing {
                    for e in carried { e.completion(.failure(storeError)) }
                    return
                }
                writes.waitForWork(seconds: 1)
            }
        }
    }

    private func complete(_ entries: [Entry], _ conflicts: Set<Int>) {
        for (i, e) in entries.enumerated() { e.completion(conflicts.contains(i) ? .failure(.conflict) : .success(())) }
    }

    static func storeError(_ error: SQLError) -> StoreError { StoreError("Storage unavailable: \(error.message)") }
}

/// The newest job written and whether creation times are still in id order
/// (the `created_in_order` flag in `meta`), as of the last commit or of the
/// one in flight; kept by the writer.
public struct CreatedOrder: Sendable {
    public var lastID: Int64 = 0
    public var lastCreated: Double = 0
    public var inOrder = true

    public init() {}

    /// Reads it from the database.
    public init<C: SQLConnection>(_ db: C) throws(SQLError) {
        try db.run("SELECT id, created_at FROM jobs ORDER BY id DESC LIMIT 1", []) { row in
            lastID = row.int(0)
            lastCreated = row.double(1)
        }
        inOrder = try db.createdInOrder()
    }

    /// Notes a job written; true when it was created earlier than one before it
    /// (the caller then clears `created_in_order`: "UPDATE meta SET value = 0 WHERE key = 'created_in_order'").
    public mutating func note(_ job: Job) -> Bool {
        guard job.id > lastID else { return false }
        let broken = inOrder && job.createdAt < lastCreated
        if broken { inOrder = false }
        lastID = job.id
        lastCreated = max(lastCreated, job.createdAt)
        return broken
    }

    public static let clearSQL = "UPDATE meta SET value = 0 WHERE key = 'created_in_order'"
}
