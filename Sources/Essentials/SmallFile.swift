import Glibc

/// Why a small file could not be read: a message for users (`cannot read: ...`,
/// `larger than 1 MiB`), without the path (callers name it their own way).
public struct SmallFileError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The bytes of a small file (a config file, a job type definition), refused
/// past `limit` bytes rather than read whole.
public func readSmallFile(_ path: String, limit: Int = 1 << 20) throws(SmallFileError) -> [UInt8] {
    guard let f = fopen(path, "r") else { throw SmallFileError(message: "cannot read: \(String(cString: strerror(errno)))") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        bytes += buffer[0..<n]
        if bytes.count > limit { throw SmallFileError(message: "larger than \(limit >> 20) MiB") }
    }
    return bytes
}
