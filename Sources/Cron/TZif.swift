import Glibc

/// The parts of a TZif file (RFC 8536) the rules need: transition instants, the
/// offset each starts, the offset before the first, and the POSIX TZ footer.
struct TZif: Sendable {
    var transitions: [Int64] = []
    var offsetsAfter: [Int] = []
    var initialOffset = 0
    var footer: PosixTZ?

    /// Reads a file of at most 1 MiB; nil when it cannot be read or is not TZif.
    static func load(path: String) -> TZif? {
        regularFile(path).flatMap(parse)
    }

    /// The bytes of a regular file of at most 1 MiB (opened without blocking), or nil.
    static func regularFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= 1 << 20 else {
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return nil }
            filled += n
        }
        return bytes
    }

    /// Parses the 64-bit section of a version 2+ file (and its footer), or the
    /// 32-bit section of a version 1 file. Every count is bounds-checked.
    static func parse(_ bytes: [UInt8]) -> TZif? {
        var reader = Reader(bytes: bytes)
        guard let first = reader.header() else { return nil }
        if first.version < UInt8(ascii: "2") {
            return reader.block(first, timeSize: 4)
        }
        guard reader.skip(first.size(timeSize: 4)), let second = reader.header(),
              var zone = reader.block(second, timeSize: 8)
        else { return nil }
        // Footer: "\n" TZ string "\n".
        guard reader.take(10), let end = bytes[reader.index...].firstIndex(of: 10) else { return zone }
        let text = String(decoding: bytes[reader.index..<end], as: UTF8.self)
        if !text.isEmpty {
            guard let rule = PosixTZ(text) else { return nil }
            zone.footer = rule
        }
        return zone
    }

    private struct Header {
        var version: UInt8
        var isUTCCount, isStandardCount, leapCount, timeCount, typeCount, charCount: Int

        func size(timeSize: Int) -> Int {
            timeCount * timeSize + timeCount + typeCount * 6 + charCount
                + leapCount * (timeSize + 4) + isStandardCount + isUTCCount
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func skip(_ n: Int) -> Bool {
            guard n >= 0, bytes.count - index >= n else { return false }
            index += n
            return true
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func integer(size: Int) -> Int64? {
            guard bytes.count - index >= size else { return nil }
            var value: UInt64 = 0
            for i in 0..<size { value = value << 8 | UInt64(bytes[index + i]) }
            index += size
            if size == 4 { return Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: value))) }
            return Int64(bitPattern: value)
        }

        mutating func header() -> Header? {
            guard bytes.count - index >= 44, Array(bytes[index..<index + 4]) == Array("TZif".utf8) else { return nil }
            let version = bytes[index + 4]
            index += 20
            var counts: [Int] = []
            for _ in 0..<6 {
                guard let c = integer(size: 4), c >= 0, c <= 1 << 20 else { return nil }
                counts.append(Int(c))
            }
            return Header(version: version, isUTCCount: counts[0], isStandardCount: counts[1], leapCount: counts[2],
                          timeCount: counts[3], typeCount: counts[4], charCount: counts[5])
        }

        mutating func block(_ header: Header, timeSize: Int) -> TZif? {
            guard header.typeCount >= 1, bytes.count - index >= header.size(timeSize: timeSize) else { return nil }
            var zone = TZif()
            var previous = Int64.min
            for _ in 0..<header.timeCount {
                guard let t = integer(size: timeSize), t > previous else { return nil }
                zone.transitions.append(t)
                previous = t
            }
            var typeIndices: [Int] = []
            for _ in 0..<header.timeCount {
                let i = Int(bytes[index])
                index += 1
                guard i < header.typeCount else { return nil }
                typeIndices.append(i)
            }
            var offsets: [Int] = []
            for _ in 0..<header.typeCount {
                guard let offset = integer(size: 4), abs(offset) <= 26 * 3600 else { return nil }
                offsets.append(Int(offset))
                index += 2  // isdst, designation index
            }
            zone.offsetsAfter = typeIndices.map { offsets[$0] }
            zone.initialOffset = offsets[0]
            index += header.charCount + header.leapCount * (timeSize + 4) + header.isStandardCount + header.isUTCCount
            return zone
        }
    }
}
