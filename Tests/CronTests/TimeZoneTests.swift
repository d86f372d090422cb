@testable import Cron
import Glibc
import Testing

/// Instants from `zdump -v -c 2026,2027 <zone>` and `date -u -d ... +%s`.
@Suite(.timeLimit(.minutes(10))) struct TimeZoneTests {
    static let offsetCases: [(String, Double, Int)] = [
        ("UTC", 1_774_746_000, 0),
        ("Etc/UTC", 1_774_746_000, 0),
        ("Europe/Berlin", 1_774_745_999, 3600),  // 2026-03-29 00:59:59Z, 01:59:59 CET
        ("Europe/Berlin", 1_774_746_000, 7200),  // 01:00Z, 03:00 CEST
        ("Europe/Berlin", 1_792_889_999, 7200),  // 2026-10-25 00:59:59Z, 02:59:59 CEST
        ("Europe/Berlin", 1_792_890_000, 3600),  // 01:00Z, 02:00 CET
        ("America/New_York", 1_772_953_199, -18000),  // 2026-03-08 06:59:59Z, 01:59:59 EST
        ("America/New_York", 1_772_953_200, -14400),  // 07:00Z, 03:00 EDT
        ("America/New_York", 1_793_512_799, -14400),  // 2026-11-01 05:59:59Z, 01:59:59 EDT
        ("America/New_York", 1_793_512_800, -18000),  // 06:00Z, 01:00 EST
        ("Australia/Lord_Howe", 1_775_314_799, 39600),  // 2026-04-04 14:59:59Z, 01:59:59 +11
        ("Australia/Lord_Howe", 1_775_314_800, 37800),  // 15:00Z, 01:30 +1030
        ("Australia/Lord_Howe", 1_791_041_399, 37800),  // 2026-10-03 15:29:59Z, 01:59:59 +1030
        ("Australia/Lord_Howe", 1_791_041_400, 39600),  // 15:30Z, 02:30 +11
    ]

    @Test(arguments: offsetCases)
    func offsetAt(_ zone: String, _ at: Double, _ expected: Int) throws {
        #expect(try TimeZoneRules.named(zone).offset(at: at) == expected)
    }

    static let resolutionCases: [(String, String, Int64, LocalTimeResolution)] = [
        // Local seconds are `date -u -d '<local wall time>' +%s`.
        ("Europe/Berlin", "2026-07-01 12:00", 1_782_907_200, .unique(1_782_900_000)),
        ("Europe/Berlin", "2026-03-29 02:30", 1_774_751_400, .skipped(jumpsAt: 1_774_746_000)),
        ("Europe/Berlin", "2026-10-25 02:30", 1_792_895_400, .repeated(first: 1_792_888_200, second: 1_792_891_800)),
        ("Australia/Lord_Howe", "2026-10-04 02:15", 1_791_080_100, .skipped(jumpsAt: 1_791_041_400)),
        ("Australia/Lord_Howe", "2026-04-05 01:45", 1_775_353_500, .repeated(first: 1_775_313_900, second: 1_775_315_700)),
        ("UTC", "2026-07-01 12:00", 1_782_907_200, .unique(1_782_907_200)),
    ]

    @Test(arguments: resolutionCases)
    func resolves(_ zone: String, _ wallClock: String, _ local: Int64, _ expected: LocalTimeResolution) throws {
        #expect(try TimeZoneRules.named(zone).resolve(local: local) == expected, "\(wallClock) in \(zone)")
    }

    @Test(arguments: ["../etc/passwd", "/etc/passwd", "Europe/../Europe/Berlin", "./UTC", "Europe//Berlin",
                      "", "Nowhere/City", "Europe", "Europe/Berlin/", ".hidden", "Europe/Berlin\u{0}x", "zone.tab",
                      // Files among the zones that are not IANA zone names.
                      "Factory", "localtime", "posixrules", "right/UTC", "posix/Europe/Berlin", "tzdata.zi", "leapseconds"])
    func unknownNames(_ name: String) {
        #expect(throws: CronError(message: "unknown time zone '\(name)'")) { try TimeZoneRules.named(name) }
    }

    @Test func realNamesAndTheirOldAliasesLoad() throws {
        for name in ["Europe/Berlin", "Etc/UTC", "US/Eastern", "EST5EDT", "Asia/Kolkata", "Asia/Calcutta", "Etc/GMT+5"] {
            #expect(try TimeZoneRules.named(name).name == name)
        }
    }

    @Test func zonesAreCached() throws {
        let a = try TimeZoneRules.named("Europe/Berlin")
        let b = try TimeZoneRules.named("Europe/Berlin")
        #expect(a === b)
        #expect(a.name == "Europe/Berlin")
        #expect(try TimeZoneRules.named("UTC") === TimeZoneRules.utc)
        #expect(try TimeZoneRules.named("Etc/UTC").name == "Etc/UTC")
    }

    @Test func concurrentLoadsAgree() async throws {
        let names = ["Europe/Paris", "Asia/Tokyo", "America/Chicago", "Australia/Sydney"]
        let loaded = await withTaskGroup(of: (String, Int).self) { group in
            for i in 0..<32 {
                let name = names[i % names.count]
                group.addTask { (name, (try? TimeZoneRules.named(name).offset(at: 1_782_900_000)) ?? -1) }
            }
            var all: [(String, Int)] = []
            for await result in group { all.append(result) }
            return all
        }
        let expected = ["Europe/Paris": 7200, "Asia/Tokyo": 32400, "America/Chicago": -18000, "Australia/Sydney": 36000]
        for (name, offset) in loaded { #expect(offset == expected[name], "\(name)") }
    }

    /// The footer rule alone must reproduce every transition the file lists
    /// from 2010 to 2037 (fat files list them; slim files rely on the rule).
    @Test(arguments: [
        ("Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"),
        ("America/New_York", "EST5EDT,M3.2.0,M11.1.0"),
        ("Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"),
    ])
    func footerRuleMatchesTheTable(_ name: String, _ footer: String) throws {
        let file = try TimeZoneRules.named(name)
        var zone = TZif()
        guard let rule = PosixTZ(footer) else {
            Issue.record("the footer \(footer) does not parse")
            return
        }
        zone.footer = rule
        let ruleOnly = TimeZoneRules(name: "rule", zone: zone)
        var t: Int64 = 1_262_304_000  // 2010-01-01
        var checked = 0
        while let next = file.nextTransition(after: t), next < 2_114_380_800 {  // 2037-01-01
            #expect(ruleOnly.nextTransition(after: t) == next)
            #expect(ruleOnly.offset(atSecond: next - 1) == file.offset(atSecond: next - 1))
            #expect(ruleOnly.offset(atSecond: next) == file.offset(atSecond: next))
            t = next
            checked += 1
        }
        #expect(checked == 54)
    }

    static let posixCases: [(String, Bool)] = [
        ("UTC0", true), ("<+0330>-3:30", true), ("EST5EDT", true), ("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", true),
        ("EST5EDT4,0/0,J365/25", true), ("IST-2IDT,M3.4.4/26,M10.5.0", true),
        ("", false), ("E5", false), ("EST", false), ("EST5EDT,M13.1.0,M11.1.0", false), ("EST5EDT,M3.2.0", false),
        ("EST5EDT,J0,J365", false), ("<EST5", false), ("EST5EDT,M3.2.0,M11.1.0x", false), ("EST200", false),
    ]

    @Test(arguments: posixCases)
    func parsesPosixStrings(_ text: String, _ valid: Bool) {
        #expect((PosixTZ(text) != nil) == valid)
    }

    @Test func truncatedOrCorruptFilesAreRejectedWithoutCrashing() throws {
        let bytes = try #require(Self.read("/usr/share/zoneinfo/Europe/Berlin"))
        #expect(TZif.parse(bytes) != nil)
        for length in 0..<bytes.count - 1 {
            _ = TZif.parse(Array(bytes[..<length]))
        }
        var corrupt = bytes
        for i in stride(from: 4, to: min(corrupt.count, 200), by: 1) {
            let saved = corrupt[i]
            corrupt[i] = 0xFF
            _ = TZif.parse(corrupt)
            corrupt[i] = saved
        }
        #expect(TZif.parse(Array("TZif".utf8)) == nil)
    }

    private static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        return bytes
    }
}
