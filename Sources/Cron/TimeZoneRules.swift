import Synchronization

/// How a wall-clock time maps to real instants in a zone.
public enum LocalTimeResolution: Sendable, Equatable {
    /// The usual case: one instant (epoch seconds, UTC).
    case unique(Int64)
    /// The clocks went back and showed this time twice.
    case repeated(first: Int64, second: Int64)
    /// The clocks jumped over this time; `jumpsAt` is the instant they jumped,
    /// the first instant whose wall-clock time is after the gap.
    case skipped(jumpsAt: Int64)

    /// The instant a schedule uses: the only one, the first of two, or the jump.
    public var firstInstant: Int64 {
        switch self {
        case .unique(let t): t
        case .repeated(let first, _): first
        case .skipped(let t): t
        }
    }
}

/// IANA time zone rules read from the system's TZif files (/usr/share/zoneinfo):
/// the 64-bit section of version 2+ files, and the POSIX TZ footer for instants
/// after the last transition. Loaded zones are cached for the process's lifetime.
public final class TimeZoneRules: Sendable {
    /// The name it was loaded by, e.g. "Europe/Berlin".
    public let name: String

    private let transitions: [Int64]
    private let offsetsAfter: [Int]
    private let initialOffset: Int
    private let rule: PosixTZ?

    /// Where zone files are read from.
    static let directory = "/usr/share/zoneinfo"

    private static let cache = Mutex<[String: TimeZoneRules]>([:])

    /// UTC, built in ("Etc/UTC" too falls back to it when there is no file).
    public static let utc = TimeZoneRules(name: "UTC", zone: TZif())

    init(name: String, zone: TZif) {
        self.name = name
        transitions = zone.transitions
        offsetsAfter = zone.offsetsAfter
        initialOffset = zone.initialOffset
        rule = zone.footer
    }

    /// The zone called `name` ("Europe/Berlin", "UTC", "Etc/UTC"), loaded once
    /// and cached. Throws "unknown time zone 'X'" for a name with no readable
    /// TZif file, and for anything path-like (absolute, `..`, hidden components).
    public static func named(_ name: String) throws(CronError) -> TimeZoneRules {
        if name == "UTC" { return utc }
        if let cached = cache.withLock({ $0[name] }) {
            return cached
        }
        let file = isZoneName(name) ? TZif.load(path: "\(directory)/\(name)") : nil
        guard let zone = file ?? (name == "Etc/UTC" ? TZif() : nil) else {
            throw CronError(message: "unknown time zone '\(name)'")
        }
        let loaded = TimeZoneRules(name: name, zone: zone)
        return cache.withLock { cache in
            if let raced = cache[name] { return raced }
            cache[name] = loaded
            return loaded
        }
    }

    /// The zone and link names of the IANA database (`tzdata.zi` beside the
    /// zone files), without `Factory`; nil where that index is missing.
    static let ianaNames: Set<String>? = {
        guard let bytes = TZif.regularFile("\(directory)/tzdata.zi") else { return nil }
        var names = Set<String>()
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let words = line.split(separator: UInt8(ascii: " "))
            // "Z NAME ..." is a zone, "L TARGET NAME" a link to one.
            if words.count >= 2, words[0].elementsEqual("Z".utf8) {
                names.insert(String(decoding: words[1], as: UTF8.self))
            } else if words.count >= 3, words[0].elementsEqual("L".utf8) {
                names.insert(String(decoding: words[2], as: UTF8.self))
            }
        }
        names.remove("Factory")
        return names.isEmpty ? nil : names
    }()

    /// A real IANA zone name: listed in the database's index; without the
    /// index, a plausible name that is none of the files that sit among the
    /// zones without being one (`Factory`, `localtime`, `posixrules`, the
    /// `right/` and `posix/` copies).
    static func isZoneName(_ name: String) -> Bool {
        guard isPlausibleName(name) else { return false }
        if let names = ianaNames { return names.contains(name) }
        return !["Factory", "localtime", "posixrules"].contains(name) && !name.hasPrefix("right/") && !name.hasPrefix("posix/")
    }

    /// Relative, at most 255 bytes, components of letters, digits, `_ - + .`,
    /// none empty or starting with a dot.
    static func isPlausibleName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard let first = component.first, first != "." else { return false }
            let ok = component.unicodeScalars.allSatisfy { c in
                c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || "_-+.".unicodeScalars.contains(c))
            }
            guard ok else { return false }
        }
        return true
    }

    /// Seconds east of UTC in effect at `utc` (epoch seconds).
    public func offset(at utc: Double) -> Int {
        offset(atSecond: Int64(wholeSeconds: utc))
    }

    /// Seconds east of UTC in effect at `utc` (whole epoch seconds).
    func offset(atSecond utc: Int64) -> Int {
        guard let last = transitions.last else {
            return rule?.offset(at: utc) ?? initialOffset
        }
        if utc < transitions[0] { return initialOffset }
        if utc >= last, let rule { return rule.offset(at: utc) }
        // The last transition at or before `utc`.
        var low = 0, high = transitions.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if transitions[mid] <= utc { low = mid } else { high = mid - 1 }
        }
        return offsetsAfter[low]
    }

    /// The first instant after `utc` at which the offset may change; nil if it never does.
    func nextTransition(after utc: Int64) -> Int64? {
        if let last = transitions.last, utc < last {
            var low = 0, high = transitions.count - 1
            while low < high {
                let mid = (low + high) / 2
                if transitions[mid] > utc { high = mid } else { low = mid + 1 }
            }
            return transitions[low]
        }
        return rule?.nextTransition(after: utc)
    }

    /// The wall-clock time at `utc`, as seconds since 1970-01-01 00:00 read as if UTC.
    public func localSeconds(at utc: Int64) -> Int64 {
        utc + Int64(offset(atSecond: utc))
    }

    /// The instants whose wall-clock time is `local` (seconds since 1970-01-01
    /// 00:00 of the wall clock, read as if it were UTC).
    public func resolve(local: Int64) -> LocalTimeResolution {
        let window: Int64 = 2 * 86_400
        var offsets = [offset(atSecond: local - window)]
        var jumps: [(at: Int64, before: Int, after: Int)] = []
        var t = local - window
        while jumps.count < 16, let next = nextTransition(after: t), next < local + window {
            let after = offset(atSecond: next)
            jumps.append((next, offsets.last!, after))
            offsets.append(after)
            t = next
        }
        var instants: [Int64] = []
        for o in offsets {
            let candidate = local - Int64(o)
            if offset(atSecond: candidate) == o, !instants.contains(candidate) {
                instants.append(candidate)
            }
        }
        instants.sort()
        if let first = instants.first {
            return instants.count == 1 ? .unique(first) : .repeated(first: first, second: instants.last!)
        }
        for jump in jumps where jump.at + Int64(jump.before) <= local && local < jump.at + Int64(jump.after) {
            return .skipped(jumpsAt: jump.at)
        }
        // Unreachable for consistent rules; fall back to the offset just before.
        return .unique(local - Int64(offsets[0]))
    }
}

extension Int64 {
    /// Whole seconds of a Double, NaN as 0 and out-of-range values clamped.
    init(wholeSeconds value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9.0e15 {
            self = 9_000_000_000_000_000
        } else if value <= -9.0e15 {
            self = -9_000_000_000_000_000
        } else {
            self = Int64(value.rounded(.down))
        }
    }
}
