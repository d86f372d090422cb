/// Finding the next slot: a search over the calendar fields of wall-clock time
/// (next matching month, then day, hour and minute), never minute by minute,
/// mapped to real instants with the zone's rules.
extension CronExpression {
    /// How far ahead a search looks: long enough for 29 February across a
    /// skipped century leap year (2096 → 2104).
    static let horizonYears: Int64 = 8

    /// The first slot strictly after `after` (epoch seconds, UTC) in `zone`, as
    /// epoch seconds; nil if there is none within the next 8 years (e.g. 30 February)
    /// or `after` is not a finite time.
    ///
    /// Daylight-saving changes:
    /// - Expressions whose hour field is `*` (every hour: `*/15 * * * *`,
    ///   `0 * * * *`, `* * * * *`) follow real time: they fire at every instant
    ///   whose wall-clock time matches. When the clocks go back, the repeated
    ///   wall-clock times fire again (every real quarter hour fires exactly once);
    ///   wall-clock times the clocks jump over do not exist and do not fire. This
    ///   holds for 30-minute shifts (Australia/Lord_Howe) too.
    /// - Other expressions (`30 2 * * *`, `0 9 * * 1-5`) name a time of day: a
    ///   slot whose wall-clock time is skipped fires ONCE, at the instant the clocks
    ///   jump (e.g. 02:30 on the day Europe/Berlin goes 02:00 → 03:00 fires at
    ///   03:00 CEST, 01:00 UTC, together with any 03:00 slot); a slot whose
    ///   wall-clock time occurs twice fires ONCE, at its first occurrence.
    public func next(after: Double, in zone: TimeZoneRules) -> Double? {
        guard after.isFinite, abs(after) < 1e13 else { return nil }
        let start = Int64(wholeSeconds: after)
        let found = runsEveryHour ? nextByRealTime(after: start, in: zone) : nextByWallClock(after: start, in: zone)
        return found.map(Double.init)
    }

    /// Real-time mode: within each stretch of constant offset, the first matching
    /// wall-clock minute is one real instant.
    private func nextByRealTime(after: Int64, in zone: TimeZoneRules) -> Int64? {
        var from = after + 1
        for _ in 0..<256 {
            let offset = Int64(zone.offset(atSecond: from))
            let stretchEnd = zone.nextTransition(after: from)
            guard let local = nextLocalMatch(from: from + offset) else { return nil }
            let instant = local - offset
            guard let end = stretchEnd, instant >= end else { return instant }
            from = end
        }
        return nil
    }

    /// Wall-clock mode: the first matching wall-clock minute whose chosen instant
    /// (the only one, the first of two, or the jump over a gap) is after `after`.
    private func nextByWallClock(after: Int64, in zone: TimeZoneRules) -> Int64? {
        var from = zone.localSeconds(at: after) + 1
        for _ in 0..<4096 {
            guard let local = nextLocalMatch(from: from) else { return nil }
            let instant = zone.resolve(local: local).firstInstant
            if instant > after { return instant }
            from = local + 60
        }
        return nil
    }

    /// The first matching wall-clock minute at or after `local` (seconds since
    /// 1970-01-01 00:00 of the wall clock), within `horizonYears`.
    func nextLocalMatch(from local: Int64) -> Int64? {
        let minuteStart = Civil.ceilDiv(local, 60) * 60
        let days = Civil.floorDiv(minuteStart, 86_400)
        let secondOfDay = Int(minuteStart - days * 86_400)
        var (year, month, day) = Civil.date(days: days)
        var hour = secondOfDay / 3600
        var minute = secondOfDay % 3600 / 60
        let lastYear = year + Self.horizonYears

        while year <= lastYear {
            guard months.contains(month) else {
                if let later = months.next(from: month + 1, upTo: 12) {
                    month = later
                } else {
                    year += 1
                    month = months.next(from: 1, upTo: 12) ?? 1
                }
                (day, hour, minute) = (1, 0, 0)
                continue
            }
            guard let matchingDay = firstMatchingDay(year: year, month: month, from: day) else {
                month += 1
                if month > 12 { (year, month) = (year + 1, 1) }
                (day, hour, minute) = (1, 0, 0)
                continue
            }
            if matchingDay != day { (day, hour, minute) = (matchingDay, 0, 0) }
            guard let matchingHour = hours.next(from: hour, upTo: 23) else {
                (day, hour, minute) = (day + 1, 0, 0)
                continue
            }
            if matchingHour != hour { (hour, minute) = (matchingHour, 0) }
            guard let matchingMinute = minutes.next(from: minute, upTo: 59) else {
                (hour, minute) = (hour + 1, 0)
                if hour > 23 { (day, hour) = (day + 1, 0) }
                continue
            }
            return Civil.days(year: year, month: month, day: day) * 86_400
                + Int64(hour * 3600 + matchingMinute * 60)
        }
        return nil
    }

    private func firstMatchingDay(year: Int64, month: Int, from first: Int) -> Int? {
        let length = Civil.daysInMonth(year, month)
        guard first <= length else { return nil }
        var weekday = Civil.weekday(days: Civil.days(year: year, month: month, day: first))
        for day in first...length {
            if dayMatches(day, weekday: weekday) { return day }
            weekday = weekday == 6 ? 0 : weekday + 1
        }
        return nil
    }
}
