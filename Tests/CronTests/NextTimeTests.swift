import Cron
import Testing

/// Expected instants were computed with `date -u -d '2026-03-29 01:00' +%s` and
/// their local readings checked with `TZ=<zone> date -d @<seconds>`.
@Suite(.timeLimit(.minutes(10))) struct NextTimeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let expression: String
        let zone: String
        let after: Double
        let expect: Double?

        init(_ expression: String, _ zone: String, after: Double, expect: Double?) {
            (self.expression, self.zone, self.after, self.expect) = (expression, zone, after, expect)
        }

        var testDescription: String { "'\(expression)' in \(zone) after \(Int(after))" }
    }

    static let cases: [Case] = [
        Case("30 3 * * *", "UTC", after: 1767225600, expect: 1767238200),  // 2026-01-01 00:00Z -> 2026-01-01 03:30Z: daily
        Case("30 3 * * *", "UTC", after: 1767238200, expect: 1767324600),  // 2026-01-01 03:30Z -> 2026-01-02 03:30Z: strictly after
        Case("*/15 * * * *", "UTC", after: 1767226050, expect: 1767226500),  // 2026-01-01 00:07:30Z -> 2026-01-01 00:15Z: quarter hours
        Case("* * * * *", "UTC", after: 1767225600, expect: 1767225660),  // 2026-01-01 00:00:00Z -> 2026-01-01 00:01Z: every minute
        Case("10-50/20 * * * *", "UTC", after: 1767262200, expect: 1767263400),  // 2026-01-01 10:10Z -> 2026-01-01 10:30Z: stepped range
        Case("0 0 29 2 *", "UTC", after: 1767225600, expect: 1835395200),  // 2026-01-01 00:00Z -> 2028-02-29 00:00Z: leap day
        Case("0 0 29 2 *", "UTC", after: 1835395200, expect: 1961625600),  // 2028-02-29 00:00Z -> 2032-02-29 00:00Z: next leap day
        Case("0 0 31 * *", "UTC", after: 1775001600, expect: 1780185600),  // 2026-04-01 00:00Z -> 2026-05-31 00:00Z: 31st skips April
        Case("0 0 31 * *", "UTC", after: 1769817600, expect: 1774915200),  // 2026-01-31 00:00Z -> 2026-03-31 00:00Z: 31st skips February
        Case("0 0 30 * *", "UTC", after: 1769731200, expect: 1774828800),  // 2026-01-30 00:00Z -> 2026-03-30 00:00Z: 30th skips February
        Case("59 23 31 12 *", "UTC", after: 1798761540, expect: 1830297540),  // 2026-12-31 23:59Z -> 2027-12-31 23:59Z: year end
        Case("0 0 13 * 5", "UTC", after: 1775779200, expect: 1776038400),  // 2026-04-10 00:00Z -> 2026-04-13 00:00Z: 13th OR Friday: a Monday 13th
        Case("0 0 13 * 5", "UTC", after: 1776038400, expect: 1776384000),  // 2026-04-13 00:00Z -> 2026-04-17 00:00Z: 13th OR Friday: the next Friday
        Case("0 0 13 * *", "UTC", after: 1775001600, expect: 1776038400),  // 2026-04-01 00:00Z -> 2026-04-13 00:00Z: day of month only
        Case("0 0 * * 5", "UTC", after: 1775865600, expect: 1776384000),  // 2026-04-11 00:00Z -> 2026-04-17 00:00Z: day of week only
        Case("0 0 */10 * 1", "UTC", after: 1775001600, expect: 1775433600),  // 2026-04-01 00:00Z -> 2026-04-06 00:00Z: stepped day of month OR Monday
        Case("0 9 * * MON-FRI", "UTC", after: 1775210400, expect: 1775466000),  // 2026-04-03 10:00Z -> 2026-04-06 09:00Z: weekdays skip the weekend
        Case("0 0 * * 7", "UTC", after: 1775001600, expect: 1775347200),  // 2026-04-01 00:00Z -> 2026-04-05 00:00Z: 7 is Sunday
        Case("0 0 * * FRI-SUN", "UTC", after: 1775347200, expect: 1775779200),  // 2026-04-05 00:00Z -> 2026-04-10 00:00Z: range ending on Sunday
        Case("0 0 1 JAN,jul *", "UTC", after: 1769904000, expect: 1782864000),  // 2026-02-01 00:00Z -> 2026-07-01 00:00Z: month names
        Case("@hourly", "UTC", after: 1775038800, expect: 1775041200),  // 2026-04-01 10:20Z -> 2026-04-01 11:00Z: @hourly
        Case("@daily", "UTC", after: 1775038800, expect: 1775088000),  // 2026-04-01 10:20Z -> 2026-04-02 00:00Z: @daily
        Case("@midnight", "UTC", after: 1775038800, expect: 1775088000),  // 2026-04-01 10:20Z -> 2026-04-02 00:00Z: @midnight
        Case("@weekly", "UTC", after: 1775038800, expect: 1775347200),  // 2026-04-01 10:20Z -> 2026-04-05 00:00Z: @weekly: Sunday
        Case("@monthly", "UTC", after: 1776211200, expect: 1777593600),  // 2026-04-15 00:00Z -> 2026-05-01 00:00Z: @monthly
        Case("@yearly", "UTC", after: 1776211200, expect: 1798761600),  // 2026-04-15 00:00Z -> 2027-01-01 00:00Z: @yearly
        Case("@annually", "UTC", after: 1776211200, expect: 1798761600),  // 2026-04-15 00:00Z -> 2027-01-01 00:00Z: @annually
        Case("0 0 30 2 *", "UTC", after: 1767225600, expect: nil),  // 2026-01-01 00:00Z -> none: 30 February never
        Case("0 0 31 4,6,9,11 *", "UTC", after: 1767225600, expect: nil),  // 2026-01-01 00:00Z -> none: 31 of a 30-day month never
        Case("30 3 * * *", "Europe/Berlin", after: 1767225600, expect: 1767234600),  // 2026-01-01 00:00Z -> 2026-01-01 02:30Z: CET
        Case("30 3 * * *", "Europe/Berlin", after: 1782864000, expect: 1782869400),  // 2026-07-01 00:00Z -> 2026-07-01 01:30Z: CEST
        Case("30 2 * * *", "Europe/Berlin", after: 1774656000, expect: 1774661400),  // 2026-03-28 00:00Z -> 2026-03-28 01:30Z: the day before spring forward
        Case("30 2 * * *", "Europe/Berlin", after: 1774699200, expect: 1774746000),  // 2026-03-28 12:00Z -> 2026-03-29 01:00Z: 02:30 skipped: at the jump, 03:00 CEST
        Case("30 2 * * *", "Europe/Berlin", after: 1774746000, expect: 1774830600),  // 2026-03-29 01:00Z -> 2026-03-30 00:30Z: then 02:30 CEST next day
        Case("* 2 * * *", "Europe/Berlin", after: 1774699200, expect: 1774746000),  // 2026-03-28 12:00Z -> 2026-03-29 01:00Z: a skipped hour fires once
        Case("* 2 * * *", "Europe/Berlin", after: 1774746000, expect: 1774828800),  // 2026-03-29 01:00Z -> 2026-03-30 00:00Z: and only once
        Case("0 3 * * *", "Europe/Berlin", after: 1774699200, expect: 1774746000),  // 2026-03-28 12:00Z -> 2026-03-29 01:00Z: 03:00 CEST
        Case("*/15 * * * *", "Europe/Berlin", after: 1774745100, expect: 1774746000),  // 2026-03-29 00:45Z -> 2026-03-29 01:00Z: 01:45 CET -> 03:00 CEST
        Case("0 * * * *", "Europe/Berlin", after: 1774742400, expect: 1774746000),  // 2026-03-29 00:00Z -> 2026-03-29 01:00Z: 01:00 CET -> 03:00 CEST
        Case("30 * * * *", "Europe/Berlin", after: 1774744200, expect: 1774747800),  // 2026-03-29 00:30Z -> 2026-03-29 01:30Z: 01:30 CET -> 03:30 CEST, no 02:30
        Case("30 2 * * *", "Europe/Berlin", after: 1792843200, expect: 1792888200),  // 2026-10-24 12:00Z -> 2026-10-25 00:30Z: 02:30 twice: first, CEST
        Case("30 2 * * *", "Europe/Berlin", after: 1792888200, expect: 1792978200),  // 2026-10-25 00:30Z -> 2026-10-26 01:30Z: not again at 02:30 CET
        Case("0 2 * * *", "Europe/Berlin", after: 1792843200, expect: 1792886400),  // 2026-10-24 12:00Z -> 2026-10-25 00:00Z: 02:00 CEST
        Case("0 3 * * *", "Europe/Berlin", after: 1792843200, expect: 1792893600),  // 2026-10-24 12:00Z -> 2026-10-25 02:00Z: 03:00 CET
        Case("* 2 * * *", "Europe/Berlin", after: 1792890000, expect: 1792976400),  // 2026-10-25 01:00Z -> 2026-10-26 01:00Z: repeated 02:xx do not fire again
        Case("*/15 * * * *", "Europe/Berlin", after: 1792889100, expect: 1792890000),  // 2026-10-25 00:45Z -> 2026-10-25 01:00Z: 02:45 CEST -> 02:00 CET
        Case("0 * * * *", "Europe/Berlin", after: 1792886400, expect: 1792890000),  // 2026-10-25 00:00Z -> 2026-10-25 01:00Z: 02:00 CEST -> 02:00 CET
        Case("0 * * * *", "Europe/Berlin", after: 1792890000, expect: 1792893600),  // 2026-10-25 01:00Z -> 2026-10-25 02:00Z: 02:00 CET -> 03:00 CET
        Case("0 0 29 2 *", "Europe/Berlin", after: 1767225600, expect: 1835391600),  // 2026-01-01 00:00Z -> 2028-02-28 23:00Z: leap day midnight CET
        Case("30 2 * * *", "America/New_York", after: 1772884800, expect: 1772953200),  // 2026-03-07 12:00Z -> 2026-03-08 07:00Z: 02:30 skipped: at 03:00 EDT
        Case("30 2 * * *", "America/New_York", after: 1772953200, expect: 1773037800),  // 2026-03-08 07:00Z -> 2026-03-09 06:30Z: 02:30 EDT next day
        Case("*/15 * * * *", "America/New_York", after: 1772952300, expect: 1772953200),  // 2026-03-08 06:45Z -> 2026-03-08 07:00Z: 01:45 EST -> 03:00 EDT
        Case("0 9 * * 1-5", "America/New_York", after: 1772809200, expect: 1773061200),  // 2026-03-06 15:00Z -> 2026-03-09 13:00Z: Friday EST -> Monday EDT
        Case("30 1 * * *", "America/New_York", after: 1793448000, expect: 1793511000),  // 2026-10-31 12:00Z -> 2026-11-01 05:30Z: 01:30 twice: first, EDT
        Case("30 1 * * *", "America/New_York", after: 1793511000, expect: 1793601000),  // 2026-11-01 05:30Z -> 2026-11-02 06:30Z: then 01:30 EST next day
        Case("*/30 * * * *", "America/New_York", after: 1793511000, expect: 1793512800),  // 2026-11-01 05:30Z -> 2026-11-01 06:00Z: 01:30 EDT -> 01:00 EST
        Case("0 * * * *", "America/New_York", after: 1793509200, expect: 1793512800),  // 2026-11-01 05:00Z -> 2026-11-01 06:00Z: 01:00 EDT -> 01:00 EST
        Case("0 0 * * *", "America/New_York", after: 1793509200, expect: 1793595600),  // 2026-11-01 05:00Z (01:00 EDT) -> 2026-11-02 05:00Z: midnight EST
        Case("0 0 1 * *", "America/New_York", after: 1797292800, expect: 1798779600),  // 2026-12-15 00:00Z -> 2027-01-01 05:00Z: new year EST
        Case("45 1 * * *", "Australia/Lord_Howe", after: 1775260800, expect: 1775313900),  // 2026-04-04 00:00Z -> 2026-04-04 14:45Z: 01:45 twice: first, +11
        Case("45 1 * * *", "Australia/Lord_Howe", after: 1775313900, expect: 1775402100),  // 2026-04-04 14:45Z -> 2026-04-05 15:15Z: then 01:45 +10:30 next day
        Case("*/15 * * * *", "Australia/Lord_Howe", after: 1775313900, expect: 1775314800),  // 2026-04-04 14:45Z -> 2026-04-04 15:00Z: 01:45 +11 -> 01:30 +10:30
        Case("*/15 * * * *", "Australia/Lord_Howe", after: 1775315700, expect: 1775316600),  // 2026-04-04 15:15Z -> 2026-04-04 15:30Z: 01:45 +10:30 -> 02:00
        Case("0 * * * *", "Australia/Lord_Howe", after: 1775311200, expect: 1775316600),  // 2026-04-04 14:00Z -> 2026-04-04 15:30Z: 01:00 +11 -> 02:00 +10:30
        Case("0 2 * * *", "Australia/Lord_Howe", after: 1775260800, expect: 1775316600),  // 2026-04-04 00:00Z -> 2026-04-04 15:30Z: 02:00 +10:30, once
        Case("15 2 * * *", "Australia/Lord_Howe", after: 1790985600, expect: 1791041400),  // 2026-10-03 00:00Z -> 2026-10-03 15:30Z: 02:15 skipped: at the jump, 02:30 +11
        Case("15 2 * * *", "Australia/Lord_Howe", after: 1791041400, expect: 1791126900),  // 2026-10-03 15:30Z -> 2026-10-04 15:15Z: 02:15 +11 next day
        Case("30 2 * * *", "Australia/Lord_Howe", after: 1790985600, expect: 1791041400),  // 2026-10-03 00:00Z -> 2026-10-03 15:30Z: 02:30 +11 exists
        Case("*/15 * * * *", "Australia/Lord_Howe", after: 1791040500, expect: 1791041400),  // 2026-10-03 15:15Z -> 2026-10-03 15:30Z: 01:45 +10:30 -> 02:30 +11
        Case("0 * * * *", "Australia/Lord_Howe", after: 1791037800, expect: 1791043200),  // 2026-10-03 14:30Z -> 2026-10-03 16:00Z: 01:00 +10:30 -> 03:00 +11, no 02:00
        Case("0 0 29 2 *", "Australia/Lord_Howe", after: 1767225600, expect: 1835355600),  // 2026-01-01 00:00Z -> 2028-02-28 13:00Z: leap day midnight +11
    ]

    @Test(arguments: cases)
    func next(_ c: Case) throws {
        let expression = try CronExpression(c.expression)
        let zone = try TimeZoneRules.named(c.zone)
        #expect(expression.next(after: c.after, in: zone) == c.expect)
    }

    @Test func fractionalSecondsAndNonFiniteInput() throws {
        let everyMinute = try CronExpression("* * * * *")
        // 2026-01-01 00:00:59.5Z -> 00:01Z; 00:01:00Z itself is not after 00:01:00.25Z.
        #expect(everyMinute.next(after: 1_767_225_659.5, in: .utc) == 1_767_225_660)
        #expect(everyMinute.next(after: 1_767_225_660.25, in: .utc) == 1_767_225_720)
        #expect(everyMinute.next(after: .nan, in: .utc) == nil)
        #expect(everyMinute.next(after: .infinity, in: .utc) == nil)
        #expect(everyMinute.next(after: -.infinity, in: .utc) == nil)
        // Before 1970 works too: 1969-12-31 23:59:30Z -> 1970-01-01 00:00Z.
        #expect(everyMinute.next(after: -30, in: .utc) == 0)
    }

    /// Far past the transitions stored in the file: the POSIX footer rule decides.
    @Test func transitionsBeyondTheFileComeFromTheFooterRule() throws {
        let berlin = try TimeZoneRules.named("Europe/Berlin")
        let at0230 = try CronExpression("30 2 * * *")
        // The last Sunday of March 2060 is the 28th: `TZ=Europe/Berlin date -d @2847661200`
        // reads 03:00 CEST, one second before 01:59:59 CET. After 2060-03-27 12:00Z, 02:30 fires at the jump.
        #expect(at0230.next(after: 2_847_614_400, in: berlin) == 2_847_661_200)
    }

    @Test func everyHalfHourForAYearInBerlinIsEvenlySpaced() throws {
        try walk("*/30 * * * *", in: "Europe/Berlin", step: 1800)
    }

    @Test func everyQuarterHourForAYearInLordHoweIsEvenlySpaced() throws {
        try walk("*/15 * * * *", in: "Australia/Lord_Howe", step: 900)
    }

    @Test func everyMinuteForAYearInNewYorkIsEvenlySpaced() throws {
        try walk("* * * * *", in: "America/New_York", step: 60)
    }

    /// From 2026-01-01 00:00Z to 2027-01-01 00:00Z every slot is `step` seconds
    /// after the one before: no duplicates, none missing, across both DST changes.
    private func walk(_ text: String, in zoneName: String, step: Double) throws {
        let expression = try CronExpression(text)
        let zone = try TimeZoneRules.named(zoneName)
        let start: Double = 1_767_225_600, end: Double = 1_798_761_600
        var previous = start
        var count = 0
        while let next = expression.next(after: previous, in: zone), next <= end {
            if next - previous != step {
                Issue.record("\(text) in \(zoneName): \(Int(previous)) -> \(Int(next))")
                return
            }
            previous = next
            count += 1
        }
        #expect(previous == end)
        #expect(Double(count) == (end - start) / step)
    }

    /// A time of day fires once per local date all year, at 02:30 local, except on
    /// the spring-forward day (at the jump, 03:00 CEST).
    @Test func dailyAt0230InBerlinFiresOncePerDay() throws {
        let expression = try CronExpression("30 2 * * *")
        let zone = try TimeZoneRules.named("Europe/Berlin")
        var t: Double = 1_767_225_600  // 2026-01-01 00:00Z
        var firings: [Double] = []
        while let next = expression.next(after: t, in: zone), next < 1_798_761_600 {
            firings.append(next)
            t = next
        }
        #expect(firings.count == 365)
        for f in firings {
            let offset = zone.offset(at: f)
            let secondOfDay = (Int(f) + offset) % 86_400
            if f == 1_774_746_000 {  // 2026-03-29 01:00Z, 03:00 CEST
                #expect(secondOfDay == 3 * 3600)
            } else {
                #expect(secondOfDay == 2 * 3600 + 1800, "at \(Int(f))")
            }
        }
    }

    /// A leap day is found from any hour of a year that has none, and a date
    /// that never comes is answered with nil (the search is bounded, not
    /// endless). How fast either is belongs to `make bench`, not to a timed test.
    @Test func leapDaysAreFoundAndImpossibleDatesEnd() throws {
        let leapDay = try CronExpression("0 0 29 2 *")
        let never = try CronExpression("0 0 30 2 *")
        let zone = try TimeZoneRules.named("Europe/Berlin")
        for i in 0..<1000 {
            let after = 1_767_225_600 + Double(i) * 3600
            let next = try #require(leapDay.next(after: after, in: zone))
            // 29 February 2028, midnight in Berlin (UTC+1).
            #expect(next == 1_835_391_600, "from \(after)")
        }
        #expect(never.next(after: 1_767_225_600, in: zone) == nil)
    }
}
