/// Where a line of a job's log came from: its stdout, its stderr, or the
/// daemon's own notes about the job (a malformed progress line, say).
public enum LogStream: String, Sendable, CaseIterable {
    case stdout, stderr, jobrunner
}

/// One line of a job's log. `seq` continues the job's event sequence, so an SSE
/// client's `Last-Event-ID` covers log lines too.
public struct LogLine: Sendable, Equatable {
    public let seq: UInt64
    public let ts: Double
    public let stream: LogStream
    public let text: String

    public init(seq: UInt64, ts: Double, stream: LogStream, text: String) {
        self.seq = seq
        self.ts = ts
        self.stream = stream
        self.text = text
    }

    /// What the line counts against the job's log budget.
    public var bytes: Int { text.utf8.count + 1 }
}

/// A job's log as kept: the lines still held, and how many older ones were
/// dropped to stay within the budget.
public struct JobLog: Sendable, Equatable {
    public var lines: [LogLine]
    public var dropped: Int
    public var bytes: Int

    public init(lines: [LogLine] = [], dropped: Int = 0, bytes: Int = 0) {
        self.lines = lines
        self.dropped = dropped
        self.bytes = bytes
    }

    /// Appends lines; past `maxBytes` the oldest go, down to three quarters of the
    /// budget, so a job writing at its limit does not trim line by line.
    public mutating func append(_ more: [LogLine], maxBytes: Int) {
        lines += more
        bytes += more.reduce(0) { $0 + $1.bytes }
        guard bytes > maxBytes else { return }
        var cut = 0
        var freed = 0
        while cut < lines.count && bytes - freed > maxBytes * 3 / 4 {
            freed += lines[cut].bytes
            cut += 1
        }
        lines.removeFirst(cut)
        bytes -= freed
        dropped += cut
    }

    /// The lines after `seq`, at most `limit` of them (nil: all). Lines are in
    /// sequence order, so the first is found by bisection: a page costs what it
    /// returns.
    public func after(_ seq: UInt64, limit: Int? = nil) -> JobLog {
        var low = 0
        var high = lines.count
        while low < high {
            let mid = (low + high) / 2
            if lines[mid].seq > seq { high = mid } else { low = mid + 1 }
        }
        var copy = self
        let end = limit.map { min(lines.count, low + max(0, $0)) } ?? lines.count
        copy.lines = Array(lines[low..<end])
        return copy
    }
}

/// Lines a job wrote that wait for its previous batch to be committed. Bounded
/// like the log itself: past `maxBytes` the oldest go and are counted.
struct PendingLog {
    private(set) var lines: [(ts: Double, stream: LogStream, text: String)] = []
    private var head = 0
    private(set) var bytes = 0
    private(set) var dropped = 0

    var isEmpty: Bool { head == lines.count && dropped == 0 }

    mutating func add(_ texts: [String], stream: LogStream, at ts: Double, maxBytes: Int, dropped before: Int = 0) {
        dropped += before
        for text in texts {
            lines.append((ts, stream, text))
            bytes += text.utf8.count + 1
        }
        while bytes > maxBytes && head < lines.count {
            bytes -= lines[head].text.utf8.count + 1
            head += 1
            dropped += 1
        }
        if head > 1024 && head * 2 > lines.count {
            lines.removeFirst(head)
            head = 0
        }
    }

    /// The kept lines with the job's next sequence numbers.
    func numbered(after sequence: inout UInt64) -> [LogLine] {
        var out: [LogLine] = []
        out.reserveCapacity(lines.count - head)
        for line in lines[head...] {
            sequence += 1
            out.append(LogLine(seq: sequence, ts: line.ts, stream: line.stream, text: line.text))
        }
        return out
    }
}
