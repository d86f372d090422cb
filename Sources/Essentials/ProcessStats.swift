import Glibc

/// This process's figures as `/proc/self` gives them, for the standard
/// `process_*` metrics. Read on demand (a scrape), never on a hot path.
public struct ProcessStats: Sendable, Equatable {
    /// User plus system CPU time.
    public var cpuSeconds: Double = 0
    public var residentBytes: Int = 0
    public var virtualBytes: Int = 0
    public var openFDs: Int = 0
    /// The soft `RLIMIT_NOFILE`.
    public var maxFDs: Int = 0
    public var threads: Int = 0
    /// Since the epoch.
    public var startTimeSeconds: Double = 0

    /// The current figures; a field that cannot be read stays 0.
    public static func current() -> ProcessStats {
        var s = ProcessStats()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = sysconf(Int32(_SC_PAGESIZE))
        if let stat = try? readSmallFile("/proc/self/stat", limit: 64 * 1024),
           let close = stat.lastIndex(of: UInt8(ascii: ")")) {
            // Fields after the command name, which may hold spaces: field 3 (state) first.
            let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            func field(_ n: Int) -> Double { fields.count > n - 3 ? Double(fields[n - 3].trimmingNewline) ?? 0 : 0 }
            if ticks > 0 {
                s.cpuSeconds = (field(14) + field(15)) / ticks
                s.startTimeSeconds = bootTime() + field(22) / ticks
            }
            s.threads = Int(field(20))
            s.virtualBytes = Int(field(23))
            s.residentBytes = Int(field(24)) * page
        }
        s.openFDs = openDescriptors()
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            s.maxFDs = Int(clamping: limit.rlim_cur)
        }
        return s
    }

    /// Boot time (epoch seconds) from `/proc/stat`'s `btime` line.
    private static func bootTime() -> Double {
        guard let bytes = try? readSmallFile("/proc/stat", limit: 1 << 20) else { return 0 }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            return Double(String(decoding: line.dropFirst(6), as: UTF8.self)) ?? 0
        }
        return 0
    }

    /// Entries of `/proc/self/fd`, minus the one the listing itself holds open.
    private static func openDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first != UInt8(ascii: ".") { n += 1 }
        }
        return max(0, n - 1)
    }
}

private extension String {
    var trimmingNewline: Substring {
        var s = Substring(self)
        while s.last == "\n" { s = s.dropLast() }
        return s
    }
}
