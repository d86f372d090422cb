import Glibc

/// The daemon's delegated cgroup (v2), where each job gets a cgroup of its own
/// (the supervisor makes it: `Sources/jobrunner-supervisor/cgroup.h`), so that
/// `cgroup.kill` ends every process of a job at once. Used only where the
/// daemon's own cgroup is one it may change: not the root of the hierarchy,
/// writable by the daemon's user (systemd's `Delegate=yes`), and new enough to
/// have `cgroup.kill` (Linux 5.14). Elsewhere the supervisor, a child
/// subreaper, finds the job's processes on its own.
enum JobCgroup {
    /// The directory of the daemon's cgroup, if jobs can have theirs in it.
    static func delegated() -> String? {
        guard let own = ownPath(), own != "/", let mount = mountPoint() else { return nil }
        let dir = mount + own
        guard access(dir, W_OK) == 0, access(dir + "/cgroup.procs", W_OK) == 0,
              access(dir + "/cgroup.kill", F_OK) == 0 else { return nil }
        return dir
    }

    /// Its path in the cgroup v2 hierarchy: the `0::PATH` line of /proc/self/cgroup.
    static func ownPath() -> String? {
        guard let text = readText("/proc/self/cgroup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    /// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or
    /// `/sys/fs/cgroup/unified` on a hybrid system), from /proc/self/mountinfo:
    /// `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - TYPE SOURCE ...`. Only a
    /// mount of the hierarchy's root will do.
    static func mountPoint() -> String? {
        guard let text = readText("/proc/self/mountinfo") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "cgroup2",
                  fields.count > 4, fields[3] == "/" else { continue }
            return unescape(fields[4])
        }
        return nil
    }

    /// Kills and removes what is left of a job's cgroup whose supervisor is gone
    /// (killed before it could): nothing to do after a normal end. A job's
    /// cgroup is `job-DAEMON-SUPERVISOR` (pids), so that daemons sharing a
    /// cgroup never touch each other's.
    static func removeLeftover(_ parent: String, daemon: pid_t, supervisor: pid_t) {
        let dir = "\(parent)/job-\(daemon)-\(supervisor)"
        guard access(dir, F_OK) == 0 else { return }
        let fd = open(dir + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = write(fd, "1", 1)
            close(fd)
        }
        rmdir(dir)
    }

    /// At start: the job cgroups that daemons no longer running left (killed
    /// with their supervisors), emptied and removed. Those of a daemon that
    /// still runs (another one in the same cgroup) stay.
    static func removeLeftovers(_ parent: String) {
        guard let dir = opendir(parent) else { return }
        var leftovers: [(pid_t, pid_t)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let pids = name.split(separator: "-").dropFirst().compactMap { pid_t($0) }
            guard name.hasPrefix("job-"), pids.count == 2, pids[0] != getpid() else { continue }
            if kill(pids[0], 0) != 0 && errno == ESRCH { leftovers.append((pids[0], pids[1])) }
        }
        closedir(dir)
        for (daemon, supervisor) in leftovers { removeLeftover(parent, daemon: daemon, supervisor: supervisor) }
    }

    /// mountinfo writes a space as `\040`, a tab `\011`, a newline `\012`, a backslash `\134`.
    private static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let b = utf8.first {
            if b == UInt8(ascii: "\\"), utf8.count >= 4, let code = UInt8(String(decoding: utf8.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(code)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(b)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
