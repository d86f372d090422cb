/// A POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`, as found in the footer
/// of a TZif file: the rule for instants after the file's last transition.
struct PosixTZ: Sendable, Equatable {
    /// Seconds east of UTC outside daylight-saving time.
    let standardOffset: Int
    let daylight: Daylight?

    struct Daylight: Sendable, Equatable {
        /// Seconds east of UTC during daylight-saving time.
        let offset: Int
        let start: RuleDate
        /// Seconds after local midnight (standard time) when it starts.
        let startTime: Int
        let end: RuleDate
        /// Seconds after local midnight (daylight time) when it ends.
        let endTime: Int
    }

    enum RuleDate: Sendable, Equatable {
        /// `Jn`: day 1-365, 29 February never counted.
        case julian(Int)
        /// `n`: day 0-365, 29 February counted.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday d (0 = Sunday) of week w (5 = last) of month m.
        case monthWeekDay(month: Int, week: Int, weekday: Int)

        /// Days since 1970-01-01 of this date in `year`.
        func days(in year: Int64) -> Int64 {
            let january1 = Civil.days(year: year, month: 1, day: 1)
            switch self {
            case .julian(let n):
                return january1 + Int64(n - 1) + (Civil.isLeap(year) && n >= 60 ? 1 : 0)
            case .zeroBased(let n):
                return january1 + Int64(n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = Civil.days(year: year, month: month, day: 1)
                var day = 1 + (weekday - Civil.weekday(days: first) + 7) % 7 + (week - 1) * 7
                let length = Civil.daysInMonth(year, month)
                while day > length { day -= 7 }
                return first + Int64(day - 1)
            }
        }
    }

    /// The seconds east of UTC in effect at `utc`.
    func offset(at utc: Int64) -> Int {
        guard let daylight else { return standardOffset }
        let year = Civil.date(days: Civil.floorDiv(utc + Int64(standardOffset), 86_400)).year
        let (start, end) = transitions(in: year, daylight)
        let inDaylight = start < end ? (start <= utc && utc < end) : !(end <= utc && utc < start)
        return inDaylight ? daylight.offset : standardOffset
    }

    /// The first instant after `utc` at which the offset changes, if it ever does.
    func nextTransition(after utc: Int64) -> Int64? {
        guard let daylight, daylight.offset != standardOffset else { return nil }
        let year = Civil.date(days: Civil.floorDiv(utc + Int64(standardOffset), 86_400)).year
        var best: Int64?
        for y in (year - 1)...(year + 1) {
            let (start, end) = transitions(in: y, daylight)
            for t in [start, end] where t > utc && (best == nil || t < best!) {
                best = t
            }
        }
        return best
    }

    /// The UTC instants daylight time starts and ends in `year`.
    private func transitions(in year: Int64, _ daylight: Daylight) -> (start: Int64, end: Int64) {
        let start = daylight.start.days(in: year) * 86_400 + Int64(daylight.startTime) - Int64(standardOffset)
        let end = daylight.end.days(in: year) * 86_400 + Int64(daylight.endTime) - Int64(daylight.offset)
        return (start, end)
    }
}

extension PosixTZ {
    /// Parses a TZ string; nil when it is malformed or uses a form TZif footers
    /// never carry. An empty string has no rule.
    init?(_ text: String) {
        var scanner = Scanner(bytes: Array(text.utf8))
        guard scanner.name(), let standardWest = scanner.time(allowSign: true) else { return nil }
        standardOffset = -standardWest
        if scanner.atEnd {
            daylight = nil
            return
        }
        guard scanner.name() else { return nil }
        var daylightOffset = standardOffset + 3600
        if let c = scanner.peek, c != UInt8(ascii: ",") {
            guard let west = scanner.time(allowSign: true) else { return nil }
            daylightOffset = -west
        }
        var start = RuleDate.monthWeekDay(month: 3, week: 2, weekday: 0)
        var end = RuleDate.monthWeekDay(month: 11, week: 1, weekday: 0)
        var startTime = 7200, endTime = 7200
        if !scanner.atEnd {
            guard scanner.take(","), let s = scanner.ruleDate() else { return nil }
            start = s
            if scanner.take("/") {
                guard let t = scanner.time(allowSign: true) else { return nil }
                startTime = t
            }
            guard scanner.take(","), let e = scanner.ruleDate() else { return nil }
            end = e
            if scanner.take("/") {
                guard let t = scanner.time(allowSign: true) else { return nil }
                endTime = t
            }
            guard scanner.atEnd else { return nil }
        }
        daylight = Daylight(offset: daylightOffset, start: start, startTime: startTime, end: end, endTime: endTime)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        mutating func take(_ c: Unicode.Scalar) -> Bool {
            guard peek == UInt8(ascii: c) else { return false }
            index += 1
            return true
        }

        /// `ABC` (letters, at least three) or `<+0330>` (quoted).
        mutating func name() -> Bool {
            if take("<") {
                while let c = peek, c != UInt8(ascii: ">") { index += 1 }
                return take(">")
            }
            let start = index
            while let c = peek, (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { index += 1 }
            return index - start >= 3
        }

        mutating func number(maxDigits: Int) -> Int? {
            var value = 0, digits = 0
            while let c = peek, c >= 48, c <= 57, digits < maxDigits {
                value = value * 10 + Int(c - 48)
                digits += 1
                index += 1
            }
            return digits > 0 ? value : nil
        }

        /// `[+-]hh[:mm[:ss]]` in seconds (hours up to 167).
        mutating func time(allowSign: Bool) -> Int? {
            var sign = 1
            if allowSign {
                if take("-") { sign = -1 } else { _ = take("+") }
            }
            guard let hours = number(maxDigits: 3), hours <= 167 else { return nil }
            var seconds = hours * 3600
            if take(":") {
                guard let minutes = number(maxDigits: 2), minutes < 60 else { return nil }
                seconds += minutes * 60
                if take(":") {
                    guard let secs = number(maxDigits: 2), secs < 60 else { return nil }
                    seconds += secs
                }
            }
            return sign * seconds
        }

        mutating func ruleDate() -> RuleDate? {
            if take("J") {
                guard let n = number(maxDigits: 3), (1...365).contains(n) else { return nil }
                return .julian(n)
            }
            if take("M") {
                guard let m = number(maxDigits: 2), (1...12).contains(m), take("."),
                      let w = number(maxDigits: 1), (1...5).contains(w), take("."),
                      let d = number(maxDigits: 1), (0...6).contains(d)
                else { return nil }
                return .monthWeekDay(month: m, week: w, weekday: d)
            }
            guard let n = number(maxDigits: 3), (0...365).contains(n) else { return nil }
            return .zeroBased(n)
        }
    }
}
