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
    /// lines it missed are replayed right after the status. They carry their own
    /// (older) ids; a client that drops during the replay resumes from the last
    /// line it got, and since the status covers everything but lines, nothing is
    /// seen twice.
    func open(jobID: Int64, engine: JobEngine, resumeAfter: UInt64? = nil, principal: Principal? = nil) -> ByteStream? {
        let stream = ByteStream(maxBuffered: Self.maxBuffered)
        let watcher = Watcher(jobID: jobID, stream: stream, principal: principal)
        watchers.withLock { $0[jobID, default: [:]][ObjectIdentifier(watcher)] = watcher }
        guard let job = engine.job(jobID) else {
            remove(watcher)
            return nil
        }
        var replay: [LogLine] = []
        if let resumeAfter, let log = try? engine.log(jobID, after: resumeAfter) {
            replay = log.lines.filter { $0.seq <= job.sequence }
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

/// One SSE client of one job.
final class Watcher: Sendable {
    private enum Phase {
        /// Registered, snapshot not taken yet: events wait here.
        case waiting([(QueueEvent, [UInt8])])
        /// Streaming; `last` is the newest sequence sent or covered by the status.
        case live(last: UInt64)
        case done
    }

    private struct State {
        var phase = Phase.waiting([])
        /// The newest progress event that did not fit, sent when room frees.
        var heldProgress: [UInt8]?
    }

    let jobID: Int64
    let stream: ByteStream
    /// Who opened it (nil when tokens are off).
    let principal: Principal?
    private let state = Mutex(State())

    init(jobID: Int64, stream: ByteStream, principal: Principal? = nil) {
        self.jobID = jobID
        self.principal = principal
        self.stream = stream
    }

    /// Writes `retry`, the status and (for a finished job) the final event; then
    /// whatever arrived meanwhile that is newer. True when the stream is over.
    func start(_ job: Job, replay: [LogLine] = []) -> Bool {
        state.withLock { s in
            guard case .waiting(let early) = s.phase else { return true }
            stream.write(Array("retry: 2000\n\n".utf8), force: true)
            stream.write(EventEncoding.sseStatus(job), force: true)
            for line in replay { stream.write(EventEncoding.sseLog(line), force: true) }
            if let final = EventEncoding.sseFinal(job) {
                stream.write(final, force: true)
                stream.finish()
                s.phase = .done
                return true
            }
            s.phase = .live(last: job.sequence)
            for (event, bytes) in early where Self.send(&s, event, bytes, stream) { return true }
            return false
        }
    }

    /// True when this was the final event (the watcher is done).
    func deliver(_ event: QueueEvent, _ bytes: [UInt8]) -> Bool {
        state.withLock { s in
            if case .waiting(var early) = s.phase {
                early.append((event, bytes))
                s.phase = .waiting(early)
                return false
            }
            return Self.send(&s, event, bytes, stream)
        }
    }

    private static func send(_ s: inout State, _ event: QueueEvent, _ bytes: [UInt8], _ stream: ByteStream) -> Bool {
        guard case .live(let last) = s.phase else { return true }
        guard event.sequence > last else { return false }
        s.phase = .live(last: event.sequence)
        if event.isFinal {
            if let held = s.heldProgress, stream.write(held) == .written { s.heldProgress = nil }
            stream.write(bytes, force: true)
            stream.finish()
            s.phase = .done
            return true
        }
        if case .log = event.kind {
            // Log lines are never merged or dropped. A reader too slow for them
            // is ended after what it has buffered; its EventSource reconnects
            // with Last-Event-ID and gets the missing lines from the stored log.
            if stream.write(bytes) == .written { return false }
            stream.finish()
            s.phase = .done
            return true
        }
        if let held = s.heldProgress {
            if stream.write(held) == .full {
                s.heldProgress = bytes
                return false
            }
            s.heldProgress = nil
        }
        switch stream.write(bytes) {
        case .written: return false
        case .full:
            s.heldProgress = bytes
            return false
        case .closed:
            s.phase = .done
            return true
        }
    }
}
