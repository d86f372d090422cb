import Glibc
import Synchronization

/// An exclusive `flock` on `<database>.lock`, held for the store's life, so a
/// second daemon on the same database refuses to start instead of writing over
/// the first one's jobs. A side file, not the database: closing any descriptor of
/// the database would drop SQLite's own POSIX locks on it.
final class FileLock: Sendable {
    let path: String
    private let fd: Mutex<Int32>

    init(database: String) throws(SQLiteError) {
        path = database + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SQLiteError(code: -1, message: "cannot open its lock file \(path): \(String(cString: strerror(errno)))")
        }
        // A process we just forked (a job's supervisor) shares the descriptor
        // for the moment it takes to close it: give a lock just released up to a
        // second to come free before calling it taken.
        var tries = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK && tries < 100 {
            tries += 1
            usleep(10_000)
        }
        guard tries < 100, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            var holder = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &holder, holder.count - 1)
            close(fd)
            let pid = n > 0 ? String(decoding: holder[..<n], as: UTF8.self).trimmingWhitespace() : ""
            throw SQLiteError(code: -1, message: busy
                ? "another jobrunnerd\(pid.isEmpty ? "" : " (pid \(pid))") is using it (lock held on \(path))"
                : "cannot lock \(path): \(String(cString: strerror(errno)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        self.fd = Mutex(fd)
    }

    /// Lets another daemon have the database (after the last commit).
    func release() {
        fd.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit {
        release()
    }
}

/// The database file as opened (device and inode). A commit first checks that
/// the path still names it: a file deleted or replaced under a running daemon
/// would otherwise swallow every later commit and be gone at the next start.
struct FileIdentity: Sendable {
    private let device: UInt64
    private let inode: UInt64

    init(path: String) throws(SQLiteError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw SQLiteError(code: -1, message: "cannot stat it: \(String(cString: strerror(errno)))")
        }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }

    func check(_ path: String) throws(SQLiteError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw SQLiteError(code: -1, message: errno == ENOENT
                ? "the database file \(path) was deleted while in use; restart jobrunnerd"
                : "cannot stat the database file \(path): \(String(cString: strerror(errno)))")
        }
        guard UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else {
            throw SQLiteError(code: -1, message: "the database file \(path) was replaced while in use; restart jobrunnerd")
        }
    }
}

private extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.last, c == "\n" || c == " " || c == "\0" { s.removeLast() }
        return String(s)
    }
}
