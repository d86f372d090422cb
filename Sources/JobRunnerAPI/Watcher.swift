import HTTPServer
import JobEngine
import JobQueue
import Synchronization

/// One SSE client of one job: the status, then (for a client resuming) the log
/// lines it missed, read from the store page by page as its socket drains, then
/// the live events, each once and in order.
final class Watcher: Sendable {
    /// Reads the job's stored lines after a sequence number, one page; nil when
    /// the store failed or the job is gone.
    typealias PageReader = @Sendable (UInt64) -> [LogLine]?

    private enum Phase {
        /// Registered, snapshot not taken yet: events wait here.
        case waiting([(QueueEvent, [UInt8])])
        /// Sending the stored lines the client missed; events that arrive
        /// meanwhile wait in the replay, within its budget.
        case replaying(Replay)
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
    /// Bytes of events held during a replay before the stream must end after it.
    let holdBudget: Int
    private let state = Mutex(State())

    init(jobID: Int64, stream: ByteStream, principal: Principal? = nil, holdBudget: Int = 64 * 1024) {
        self.jobID = jobID
        self.principal = principal
        self.stream = stream
        self.holdBudget = holdBudget
    }

    /// Writes `retry` and the status; then, with `replay`, makes the stream's
    /// source the replay of the lines after `replay.after` up to the status's
    /// sequence number (the status carries no `id:` then, so a client that drops
    /// before the first line resumes from where it was); then (for a finished
    /// job) the final event; then whatever arrived meanwhile that is newer. True
    /// when the stream is over.
    func start(_ job: Job, replay: (after: UInt64, pages: PageReader)? = nil) -> Bool {
        state.withLock { s in
            guard case .waiting(let early) = s.phase else { return true }
            stream.write(Array("retry: 2000\n\n".utf8), force: true)
            stream.write(EventEncoding.sseStatus(job, withID: replay == nil), force: true)
            if let replay {
                var r = Replay(after: replay.after, upTo: job.sequence, pages: replay.pages, budget: holdBudget)
                if let final = EventEncoding.sseFinal(job) { r.holdFinal(final) }
                for (event, bytes) in early { r.hold(event, bytes) }
                s.phase = .replaying(r)
                stream.setSource { [self] _ in pull() }
                return false
            }
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
            switch s.phase {
            case .waiting(var early):
                early.append((event, bytes))
                s.phase = .waiting(early)
                return false
            case .replaying(var r):
                // Held until the replay is through; the final event too (the
                // stream ends after it), so the watcher stays until then.
                s.phase = .done  // `r` is the only copy while it changes (no copy-on-write)
                r.hold(event, bytes)
                s.phase = .replaying(r)
                return false
            case .live, .done:
                return Self.send(&s, event, bytes, stream)
            }
        }
    }

    /// The stream's source during a replay (called when its buffer ran dry):
    /// the next page of lines, then what was held, then live. False when the
    /// replay is over.
    private func pull() -> Bool {
        let next = state.withLock { s -> (UInt64, PageReader)? in
            guard case .replaying(let r) = s.phase, !r.linesDone else { return nil }
            return (r.cursor, r.pages)
        }
        // The store is read outside the lock: events keep arriving meanwhile.
        // Only this reader moves the cursor, so it is still where it was below.
        let page: [LogLine]?? = next.map { $0.1($0.0) }
        return state.withLock { s -> Bool in
            guard case .replaying(var r) = s.phase else { return false }
            s.phase = .done  // `r` is the only copy while it changes (no copy-on-write)
            let outcome = r.pull(page: page, into: stream)
            switch outcome {
            case .more:
                s.phase = .replaying(r)
                return true
            case .live:
                s.phase = .live(last: r.last)
                return false
            case .ended:
                stream.finish()
                return false
            }
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
            // A progress event held back goes first: ids stay in order, so the
            // last id a client saw never skips a line.
            if let held = s.heldProgress {
                if stream.write(held) == .written {
                    s.heldProgress = nil
                } else {
                    stream.finish()
                    s.phase = .done
                    return true
                }
            }
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
