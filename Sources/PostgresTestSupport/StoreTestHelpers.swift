import Glibc
import JobQueue
import Synchronization

// What the store suites share: temporary places, a blocking commit, sample jobs.

/// A fresh database path in a new temporary directory.
public func tempDB() -> String {
    var template = Array("/tmp/jobrunner-db-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    return dir + "/jobs.db"
}

/// Submits and waits for the commit (tests only: blocks the calling thread).
public func commit(_ store: any JobStore, _ ops: [StoreOp]) throws {
    let done = Mutex<Result<Void, StoreError>?>(nil)
    let sem = Semaphore()
    store.submit(ops, retry: false) { r in
        done.withLock { $0 = r }
        sem.signal()
    }
    sem.wait()
    try done.withLock { $0! }.get()
}

/// A counting semaphore over a pipe (no Dispatch or Foundation needed).
///
/// `@unchecked Sendable`: `fds` is written once, in `init`, and only read after;
/// reads and writes of a pipe are safe from any thread.
public final class Semaphore: @unchecked Sendable {
    private var fds: [Int32] = [-1, -1]
    public init() { _ = pipe(&fds) }
    deinit { for fd in fds where fd >= 0 { close(fd) } }
    public func signal() { var b: UInt8 = 1; _ = write(fds[1], &b, 1) }
    public func wait() { var b: UInt8 = 0; _ = read(fds[0], &b, 1) }
}

public func sampleJob(_ id: Int64, status: JobStatus = .pending) -> Job {
    var job = Job(id: id, type: "echo", params: ["message": "héllo \"quoted\" <b>", "delay": 3], createdAt: 1_764_371_234.5123)
    job.status = status
    return job
}

/// Jobs with varied params, errors, queues, statuses and creation times.
/// `inOrder: false` makes creation times jump back and forth (a clock that
/// was set back): time ranges are then not id ranges.
public func searchJobs(inOrder: Bool = true) -> [Job] {
    let words = ["backup main database", "disk-usage /var", "hello world", "Héllo Wörld", "backups nightly",
                 "report 2025 Q4", "archive \"quoted\" thing", "日本語 テキスト"]
    let errors: [String?] = [nil, "Exited with status 2: disk full", "Timed out after 30 seconds", nil,
                             "Killed by signal 9 (SIGKILL)"]
    let queues = ["default", "nightly", "reports"]
    var out: [Job] = []
    for i in 1...120 {
        var job = Job(id: Int64(i), type: i % 4 == 0 ? "prime" : "echo",
                      params: ["message": .string(words[i % words.count]), "delay": .int(Int64(i % 7))],
                      createdAt: 1_764_000_000 + Double(inOrder ? i : (i * 37) % 120) * 10)
        job.queue = queues[i % queues.count]
        switch i % 5 {
        case 0: job.status = .completed
        case 1: job.status = .failed
        case 2: job.status = .cancelled
        case 3: job.status = .running
        default: job.status = .pending
        }
        if job.status == .failed { job.error = errors[i % errors.count] ?? "failed" }
        out.append(job)
    }
    return out
}

/// A store in a new place holding `jobs`.
public func storeHolding(_ jobs: [Job], _ backend: StoreBackend = .sqlite) throws -> any JobStore {
    let store = try backend.fresh()
    try commit(store, jobs.map { .upsert($0) })
    return store
}

/// A value set on the writer thread and read after the commit.
public final class Cell2<T: Sendable>: Sendable {
    public init() {}
    private let m = Mutex<T?>(nil)
    public func set(_ v: T) { m.withLock { $0 = v } }
    public func get() -> T { m.withLock { $0! } }
}

/// Enqueues a job and waits until it is committed (tests only: blocks the calling thread).
public func enqueueCommitted(_ queue: JobQueue, _ type: String = "echo") throws -> Job {
    let done = Mutex<Result<Job, StoreError>?>(nil)
    let sem = Semaphore()
    queue.enqueue(type: type, params: ["delay": 1]) { r in
        done.withLock { $0 = r }
        sem.signal()
    }
    sem.wait()
    return try done.withLock { $0! }.get()
}
