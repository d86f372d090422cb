import HTTPServer
import JobQueue

/// A resuming SSE client's catch-up: the stored log lines after `cursor` up to
/// `upTo` (the job's sequence number when its status was sent), written a page
/// at a time whenever the client's buffer has drained, so a stream that is not
/// read costs its 64 KiB buffer and no more, however long the log.
///
/// Events that arrive meanwhile (all newer than `upTo`) are held in order:
/// progress coalesced to the newest, the final event kept, log lines within
/// `budget` bytes. Past the budget the held events are dropped and the stream
/// ends after the replay: the client resumes with `Last-Event-ID` from the last
/// line it got and reads the rest from the store, as a slow reader does.
struct Replay {
    enum Outcome {
        /// More to send: call again when the buffer has drained.
        case more
        /// Everything replayed and held was written: go live from `last`.
        case live
        /// End the stream (final event sent, budget overflowed, store failed).
        case ended
    }

    private enum HeldKind { case log, progress, final }

    /// Lines per store read.
    static let pageLines = 256

    /// The newest line written.
    private(set) var cursor: UInt64
    let upTo: UInt64
    let pages: Watcher.PageReader
    let budget: Int
    /// The newest event sequence held (or covered by the status).
    private(set) var last: UInt64
    private(set) var linesDone = false
    private var held: [(kind: HeldKind, bytes: [UInt8])] = []
    private var heldBytes = 0
    private var overflowed = false

    init(after: UInt64, upTo: UInt64, pages: @escaping Watcher.PageReader, budget: Int) {
        cursor = after
        self.upTo = upTo
        self.pages = pages
        self.budget = budget
        last = upTo
    }

    /// The final event of a job that had finished when the client connected.
    mutating func holdFinal(_ bytes: [UInt8]) {
        held.append((.final, bytes))
    }

    /// An event that arrived during the replay.
    mutating func hold(_ event: QueueEvent, _ bytes: [UInt8]) {
        guard event.sequence > last, !overflowed else { return }
        last = event.sequence
        if event.isFinal {
            held.append((.final, bytes))
            return
        }
        if case .log = event.kind {
            if heldBytes + bytes.count > budget {
                overflowed = true
                held = []
                heldBytes = 0
                return
            }
            held.append((.log, bytes))
            heldBytes += bytes.count
            return
        }
        // Progress (and retrying): only the newest waits. Dropping an older one
        // keeps the held ids increasing.
        if let i = held.firstIndex(where: { $0.kind == .progress }) {
            heldBytes -= held[i].bytes.count
            held.remove(at: i)
        }
        held.append((.progress, bytes))
        heldBytes += bytes.count
    }

    /// Writes into `stream` (whose buffer has drained): lines from `page` (the
    /// store's lines after `cursor`; nil when it could not be read), then, once
    /// every line is out, the held events. The first write of a call is forced
    /// (a line longer than the buffer still goes), so each call writes
    /// something or says the replay is over.
    mutating func pull(page: [LogLine]??, into stream: ByteStream) -> Outcome {
        var wrote = false
        if !linesDone {
            guard case .some(.some(let lines)) = page else { return .ended }
            var full = false
            for line in lines {
                if line.seq > upTo {
                    linesDone = true
                    break
                }
                switch stream.write(EventEncoding.sseLog(line), force: !wrote) {
                case .written:
                    wrote = true
                    cursor = line.seq
                case .full:
                    full = true
                case .closed:
                    return .ended
                }
                if full { break }
            }
            if !full && lines.count < Self.pageLines { linesDone = true }
            if !linesDone { return .more }
        }
        while let first = held.first {
            switch stream.write(first.bytes, force: !wrote || first.kind == .final) {
            case .written:
                wrote = true
                held.removeFirst()
                heldBytes -= first.kind == .final ? 0 : first.bytes.count
                if first.kind == .final { return .ended }
            case .full:
                return .more
            case .closed:
                return .ended
            }
        }
        return overflowed ? .ended : .live
    }
}
