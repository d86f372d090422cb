/// Cuts a byte stream into lines: at `\n` (a trailing `\r` goes too), and a line
/// longer than `ProcessRunner.maxLine` is cut there. Bytes that are not UTF-8
/// become U+FFFD.
struct LineSplitter {
    private var partial: [UInt8] = []

    mutating func feed(_ bytes: ArraySlice<UInt8>) -> [String] {
        var lines: [String] = []
        var start = bytes.startIndex
        while let nl = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if partial.isEmpty {
                Self.cut(bytes[start..<nl], into: &lines)
            } else {
                partial.append(contentsOf: bytes[start..<nl])
                Self.cut(partial[...], into: &lines)
                partial.removeAll(keepingCapacity: true)
            }
            start = nl + 1
        }
        partial.append(contentsOf: bytes[start...])
        while partial.count >= ProcessRunner.maxLine {
            lines.append(Self.text(partial[..<ProcessRunner.maxLine]))
            partial.removeFirst(ProcessRunner.maxLine)
        }
        return lines
    }

    /// What is left without a final newline (at EOF).
    mutating func flush() -> [String] {
        guard !partial.isEmpty else { return [] }
        defer { partial.removeAll() }
        return [Self.text(partial[...])]
    }

    /// One complete line, in pieces of at most `maxLine` bytes.
    private static func cut(_ line: ArraySlice<UInt8>, into lines: inout [String]) {
        var from = line.startIndex
        while line.endIndex - from > ProcessRunner.maxLine {
            lines.append(text(line[from..<from + ProcessRunner.maxLine]))
            from += ProcessRunner.maxLine
        }
        lines.append(text(line[from...]))
    }

    private static func text(_ bytes: ArraySlice<UInt8>) -> String {
        var end = bytes.endIndex
        if end > bytes.startIndex && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
