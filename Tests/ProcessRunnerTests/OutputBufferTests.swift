@testable import ProcessRunner
import Testing

/// The bytes of a stream between deliveries: cut into lines only when
/// delivered, the oldest let go past the budget and counted exactly.
@Suite(.timeLimit(.minutes(10))) struct OutputBufferTests {
    private func feed(_ buffer: inout OutputBuffer, _ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer.append(UnsafeRawBufferPointer($0)) }
    }

    private func feed(_ buffer: inout OutputBuffer, bytes: [UInt8]) {
        var bytes = bytes
        bytes.withUnsafeMutableBytes { buffer.append(UnsafeRawBufferPointer($0)) }
    }

    @Test func completeLinesGoOutAndThePartialOneWaits() {
        var b = OutputBuffer(budget: 1 << 20)
        feed(&b, "one\ntwo\r\nthr")
        let waiting = b.hasLines()
        #expect(waiting)
        let first = b.take(final: false)
        #expect(first.lines == ["one", "two"])
        #expect(first.dropped == 0)
        let more = b.hasLines()
        #expect(!more)
        feed(&b, "ee\nfour")
        #expect(b.take(final: false).lines == ["three"])
        #expect(b.take(final: true).lines == ["four"])
        #expect(b.isEmpty)
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        var b = OutputBuffer(budget: 1 << 20)
        feed(&b, bytes: [0x61, 0xFF, 0x62, 0x0A])
        #expect(b.take(final: false).lines == ["a\u{FFFD}b"])
    }

    @Test func aLongLineGoesOutInFullPiecesBeforeItEnds() {
        var b = OutputBuffer(budget: 1 << 20)
        feed(&b, String(repeating: "x", count: ProcessRunner.maxLine + 10))
        let taken = b.take(final: false)
        #expect(taken.lines.map(\.count) == [ProcessRunner.maxLine])
        feed(&b, "yz\n")
        #expect(b.take(final: false).lines == [String(repeating: "x", count: 10) + "yz"])
    }

    @Test func pastTheBudgetTheOldestLinesGoAndAreCounted() {
        var b = OutputBuffer(budget: 128 * 1024)
        var lines: [String] = []
        var dropped = 0
        // 200,000 numbered lines (about 1.3 MB), taken now and then.
        for n in 1...200_000 {
            feed(&b, "\(n)\n")
            if n % 70_000 == 0 {
                let t = b.take(final: false)
                lines += t.lines
                dropped += t.dropped
            }
        }
        let t = b.take(final: true)
        lines += t.lines
        dropped += t.dropped
        #expect(lines.count + dropped == 200_000)
        #expect(lines.last == "200000")
        #expect(lines.reduce(0) { $0 + $1.utf8.count + 1 } <= 3 * 128 * 1024)
        let numbers = lines.compactMap { Int($0) }
        #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func newlinesAreCountedInBlocksAndInTheTail() {
        for length in [0, 1, 31, 32, 33, 100, 32 * 255, 32 * 256 + 5, 20_000] {
            var bytes: [UInt8] = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37) }
            for i in stride(from: 0, to: length, by: 3) { bytes[i] = 0x0A }
            if length == 32 * 255 { bytes = [UInt8](repeating: 0x0A, count: length) }
            let expected = bytes.filter { $0 == 0x0A }.count
            #expect(bytes.withUnsafeBufferPointer { OutputBuffer.newlines(in: $0) } == expected)
        }
    }

    @Test func droppedLongLinesCountOncePerPiece() {
        var b = OutputBuffer(budget: 128 * 1024)
        // Three lines of 2.5 pieces each (3 pieces apiece), then a short one, then
        // enough short lines to push them all out.
        let long = String(repeating: "l", count: ProcessRunner.maxLine * 5 / 2) + "\n"
        feed(&b, long + long + long + "s\n")
        let filler = String(repeating: "f", count: 99) + "\n"
        var n = 0
        while n < 3000 {
            feed(&b, filler)
            n += 1
        }
        let t = b.take(final: true)
        #expect(t.lines.allSatisfy { $0 == String(repeating: "f", count: 99) })
        #expect(t.dropped + t.lines.count == 9 + 1 + 3000)
    }
}
