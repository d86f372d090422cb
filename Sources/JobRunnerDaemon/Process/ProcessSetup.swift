import Glibc

/// Streams and WebSockets each hold a descriptor: allow as many as the hard limit.
func raiseDescriptorLimit() {
    var limit = rlimit()
    if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// The default web root: the installed share directory next to the binary's
/// prefix if it exists, else `./www`.
func defaultWebRoot() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if n > 0 {
        let exe = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let parts = exe.split(separator: "/", omittingEmptySubsequences: false)
        let prefix = parts.dropLast(2).joined(separator: "/")
        let share = prefix + "/share/jobrunner/www"
        if access(share + "/index.html", R_OK) == 0 { return share }
    }
    return "./www"
}
