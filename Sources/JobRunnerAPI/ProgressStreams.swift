import HTTPServer
import JobEngine
import JobQueue
import Synchronization

/// The per-job SSE streams: which clients watch which job, and getting each event
/// to them in order, once, without duplicates across a reconnect.
final class ProgressStreams: Sendable {
    /// Bytes buffered for one SSE client before progress events are coalesced.
    static let maxBuffered = 64 * 1024

    private let watchers = Mutex<[Int64: [ObjectIdentifier: Watcher]]>([:])

    /// Routes a queue event to the watchers of its job.
    func deliver(_ event: QueueEvent) {
        guard event.jobID != 0 else { return }
        let targets = watchers.withLock { $0[event.jobID].map { Array($0.values) } }
        guard let targets, !targets.isEmpty, let bytes = EventEncoding.sse(event) else { return }
        for w in targets where w.deliver(event, bytes) { remove(w) }
    }

    /// Starts watching `job` for a new stream. Events that arrive between the
    /// registration and the snapshot are held, then filtered by sequence number.
    ///
    /// With `resumeAfter` (a client resuming from that sequence number) the log
    /// lines it missed, up to the snapshot, follow the status, read from the
    /// store a page at a time as the client reads them (`Replay`). They carry
    /// their own (older) ids, and the status then carries none: a client that
    /// drops during the replay resumes from the last line it got, and since the
    /// status covers everything but lines, nothing is seen twice.
    func open(jobID: Int64, engine: JobEngine, resumeAfter: UInt64? = nil, principal: Principal? = nil) -> ByteStream? {
        let stream = ByteStream(maxBuffered: Self.maxBuffered)
        let watcher = Watcher(jobID: jobID, stream: stream, principal: principal, holdBudget: Self.maxBuffered)
        watchers.withLock { $0[jobID, default: [:]][ObjectIdentifier(watcher)] = watcher }
        guard let job = engine.job(jobID) else {
            remove(watcher)
            return nil
        }
        var replay: (after: UInt64, pages: Watcher.PageReader)?
        if let resumeAfter, resumeAfter < job.sequence {
            let pages: Watcher.PageReader = { after in
                (try? engine.log(jobID, after: after, limit: Replay.pageLines))?.lines
            }
            // A replay only when there is a line to replay. A store that fails
            // now is asked again for the first page (the stream ends if it fails
            // again; the client reconnects).
            let hasLines: Bool
            do {
                hasLines = try engine.log(jobID, after: resumeAfter, limit: 1)?.lines.first.map { $0.seq <= job.sequence } ?? false
            } catch {
                hasLines = true
            }
            if hasLines { replay = (resumeAfter, pages) }
        }
        if watcher.start(job, replay: replay) { remove(watcher) }
        stream.onClose { [weak self, weak watcher] in
            if let self, let watcher { self.remove(watcher) }
        }
        return stream
    }

    var count: Int { watchers.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Ends the streams of callers who may no longer read (a revoked token, an
    /// ended session): `mayRead` is asked outside the lock. A client that
    /// reconnects gets 401.
    func revalidate(_ mayRead: (Principal) -> Bool) {
        let all = watchers.withLock { $0.values.flatMap { Array($0.values) } }
        for w in all {
            guard let principal = w.principal, !mayRead(principal) else { continue }
            w.stream.finish()
            remove(w)
        }
    }

    private func remove(_ w: Watcher) {
        watchers.withLock { all in
            all[w.jobID]?[ObjectIdentifier(w)] = nil
            if all[w.jobID]?.isEmpty == true { all[w.jobID] = nil }
        }
    }
}
