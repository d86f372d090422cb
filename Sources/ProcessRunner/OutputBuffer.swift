import CProcess
import Glibc

/// One output stream's bytes between deliveries: complete lines, then the start
/// of the next. A job's log keeps only its newest lines, so bytes no delivery
/// could carry are let go here, raw, before any of them becomes a line: past
/// twice the budget the oldest lines go and are only counted. A job writing a
/// gigabyte costs a copy and a scan for line ends per byte; only what is
/// delivered is cut into strings.
///
/// Lines: cut at `\n` (a trailing `\r` goes too); a line longer than
/// `ProcessRunner.maxLine` is cut there into pieces, each a line. Bytes that
/// are not UTF-8 become U+FFFD.
struct OutputBuffer {
    private var bytes: [UInt8] = []
    /// Where the last line begins (everything before it ends in `\n`), as far
    /// as `scanned`: no `\n` lies in `lineStart..<scanned`. A long line arriving
    /// in many reads is scanned once.
    private var lineStart = 0
    private var scanned = 0
    /// Lines let go since the last delivery.
    private(set) var dropped = 0
    /// Bytes of lines a delivery carries at most (the newest).
    let budget: Int

    init(budget: Int) {
        self.budget = max(budget, 2 * ProcessRunner.maxLine)
    }

    var isEmpty: Bool { bytes.isEmpty && dropped == 0 }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: chunk.bindMemory(to: UInt8.self))
        if bytes.count > 2 * budget { trim() }
    }

    /// Whether a delivery now would carry a line or a count of dropped ones.
    mutating func hasLines() -> Bool {
        dropped > 0 || completeEnd() > 0
    }

    /// The complete lines (and with `final` the last one too), at most the
    /// newest `budget` bytes of them, and how many older ones were let go.
    mutating func take(final: Bool) -> (lines: [String], dropped: Int) {
        if bytes.count > budget { trim() }
        let end = final ? bytes.count : completeEnd()
        var lines: [String] = []
        bytes.withUnsafeBufferPointer { all in
            var start = 0
            while start < end {
                let newline = Self.newline(in: all, from: start, to: end)
                let lineEnd = newline ?? end
                var from = start
                while lineEnd - from > ProcessRunner.maxLine {
                    lines.append(Self.text(all, from, from + ProcessRunner.maxLine))
                    from += ProcessRunner.maxLine
                }
                lines.append(Self.text(all, from, lineEnd))
                start = newline.map { $0 + 1 } ?? end
            }
        }
        bytes.removeFirst(end)
        lineStart = max(0, lineStart - end)
        scanned = max(0, scanned - end)
        defer { dropped = 0 }
        return (lines, dropped)
    }

    /// Where the complete lines end: after the last `\n`, then after the last
    /// full `maxLine` piece of the line that has none yet.
    private mutating func completeEnd() -> Int {
        if scanned < bytes.count {
            let last = bytes.withUnsafeBufferPointer { Self.lastNewline(in: $0, from: scanned, to: $0.count) }
            if let last { lineStart = last + 1 }
            scanned = bytes.count
        }
        return lineStart + (bytes.count - lineStart) / ProcessRunner.maxLine * ProcessRunner.maxLine
    }

    /// Lets the oldest lines go until at most `budget` bytes are left, counting
    /// them (each piece of a long line counts as a line).
    private mutating func trim() {
        let cut = bytes.count - budget
        guard cut > 0 else { return }
        let (keepFrom, count) = bytes.withUnsafeBufferPointer { all -> (Int, Int) in
            // Fast path: the first line starting at or after `cut` ends the cut,
            // and when no stretch of maxLine bytes before it lacks a `\n`, every
            // line there is shorter than a piece: the count is the `\n`s.
            if let first = Self.newline(in: all, from: cut - 1, to: all.count), Self.noLongLine(all, upTo: first) {
                return (first + 1, Self.newlines(in: UnsafeBufferPointer(rebasing: all[0...first])))
            }
            var start = 0
            var n = 0
            while start < cut {
                let newline = Self.newline(in: all, from: start, to: all.count)
                var from = start
                while (newline ?? all.count) - from > ProcessRunner.maxLine && from < cut {
                    from += ProcessRunner.maxLine
                    n += 1
                }
                guard let newline, from < cut else {
                    start = from
                    break
                }
                n += 1
                start = newline + 1
            }
            return (start, n)
        }
        bytes.removeFirst(keepFrom)
        lineStart = max(0, lineStart - keepFrom)
        scanned = max(0, scanned - keepFrom)
        dropped += count
    }

    /// Whether every line ending in `0..<end` is at most `maxLine` bytes: each
    /// aligned half-piece holds a `\n` (a longer line would span one whole).
    private static func noLongLine(_ all: UnsafeBufferPointer<UInt8>, upTo end: Int) -> Bool {
        let half = ProcessRunner.maxLine / 2
        var from = 0
        while from + half <= end {
            if newline(in: all, from: from, to: from + half) == nil { return false }
            from += half
        }
        return true
    }

    /// How many `\n` bytes, 32 at a time: a lane of `v .== newline` is all
    /// ones (-1) where the byte matches, so subtracting it counts; per-lane
    /// sums are added up before they can overflow (255 rounds).
    static func newlines(in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base)
        let newline = SIMD32<UInt8>(repeating: 0x0A)
        var count = 0
        var i = 0
        while i + 32 <= bytes.count {
            var sums = SIMD32<UInt8>()
            var rounds = 0
            while rounds < 255 && i + 32 <= bytes.count {
                let v = raw.loadUnaligned(fromByteOffset: i, as: SIMD32<UInt8>.self)
                sums &-= SIMD32<UInt8>(truncatingIfNeeded: unsafeBitCast(v .== newline, to: SIMD32<Int8>.self))
                i += 32
                rounds += 1
            }
            count += Int(SIMD32<UInt16>(truncatingIfNeeded: sums).wrappedSum())
        }
        while i < bytes.count {
            if bytes[i] == 0x0A { count += 1 }
            i += 1
        }
        return count
    }

    private static func newline(in all: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let base = all.baseAddress, let hit = memchr(base + from, 0x0A, to - from) else { return nil }
        return UnsafeRawPointer(hit) - UnsafeRawPointer(base)
    }

    private static func lastNewline(in all: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let base = all.baseAddress, let hit = memrchr(base + from, 0x0A, to - from) else { return nil }
        return UnsafeRawPointer(hit) - UnsafeRawPointer(base)
    }

    private static func text(_ all: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        var end = to
        if end > from && all[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: all[from..<end]), as: UTF8.self)
    }
}
