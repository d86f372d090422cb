import Glibc

/// Why a small file could not be read: a message for users (`cannot read: ...`,
/// `larger than 1 MiB`, `not a regular file`), without the path (callers name it
/// their own way).
public struct SmallFileError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The bytes of a small regular file (a config file, a job type definition),
/// refused past `limit` bytes rather than read whole.
///
/// Opened without blocking and close-on-exec, and refused unless it is a regular
/// file: a FIFO or a device would otherwise hang the start or a reload (SIGHUP)
/// in the open or the first read, and a job spawned meanwhile would inherit it.
public func readSmallFile(_ path: String, limit: Int = 1 << 20) throws(SmallFileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard fd >= 0 else { throw SmallFileError(message: "cannot read: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw SmallFileError(message: "cannot read: \(String(cString: strerror(errno)))") }
    guard info.st_mode & S_IFMT == S_IFREG else { throw SmallFileError(message: "not a regular file") }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw SmallFileError(message: "cannot read: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        bytes += buffer[0..<n]
        if bytes.count > limit { throw SmallFileError(message: "larger than \(limit >> 20) MiB") }
    }
    return bytes
}
