import Essentials
import Glibc
import Testing

/// `ProcessStats` against what the kernel says in other words.
@Suite(.timeLimit(.minutes(10))) struct ProcessStatsTests {
    @Test func descriptorsFollowOpenAndClose() throws {
        let fds = (0..<5).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in fds { close(fd) } }
        #expect(fds.allSatisfy { $0 >= 0 })
        let during = ProcessStats.current()
        // Other tests of this process open and close descriptors meanwhile: at least ours are there.
        #expect(during.openFDs >= 5)
        #expect(during.openFDs <= during.maxFDs)
    }

    @Test func memoryTimesAndStartAreThisProcesses() throws {
        let s = ProcessStats.current()
        let status = String(decoding: try readSmallFile("/proc/self/status"), as: UTF8.self)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kib = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        // Both are read at nearly the same moment; allow for growth in between.
        #expect(abs(s.residentBytes - kib * 1024) < 64 << 20)
        #expect(s.virtualBytes >= s.residentBytes)
        #expect(s.threads >= 1)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        #expect(s.startTimeSeconds > 1_600_000_000 && s.startTimeSeconds <= Double(now.tv_sec) + 1)
        // Burn a little CPU: the counter moves.
        var x = 0.0
        for i in 0..<20_000_000 { x += Double(i).squareRoot() }
        #expect(x > 0)
        #expect(ProcessStats.current().cpuSeconds > s.cpuSeconds)
    }
}
