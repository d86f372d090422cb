/// A five-field cron expression: `minute hour day-of-month month day-of-week`.
///
/// Each field takes `*`, a value, a range `1-5`, a list `1,2,10-12`, and steps
/// `*/15` or `10-50/5`. Months may be written JAN-DEC and days SUN-SAT (any case);
/// day-of-week 0 and 7 are both Sunday, and a range may end on Sunday (`FRI-SUN`).
/// The shortcuts @hourly, @daily (= @midnight), @weekly, @monthly and @yearly
/// (= @annually) stand alone.
///
/// Day matching follows the standard cron rule: when both day-of-month and
/// day-of-week are restricted (neither matches every value, e.g. `*`), a day
/// matches if EITHER matches; otherwise both must.
///
/// See `next(after:in:)` for what happens around daylight-saving changes.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// The longest expression taken, wherever it comes from (API, config file).
    public static let maxBytes = 200

    /// The expression as given, its fields separated by single spaces.
    public let description: String

    let minutes: ValueSet
    let hours: ValueSet
    let daysOfMonth: ValueSet
    let months: ValueSet
    let daysOfWeek: ValueSet
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// Parses `text`; the error names the expression and what is wrong with it,
    /// e.g. "invalid cron expression '61 * * * *': minute field '61' is out of range 0-59".
    public init(_ text: String) throws(CronError) {
        guard text.utf8.count <= Self.maxBytes else {
            throw CronError(message: "invalid cron expression: longer than \(Self.maxBytes) bytes")
        }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        let normalised = words.joined(separator: " ")
        let fields: CronParser.Fields
        do {
            fields = try CronParser.parse(words: words)
        } catch {
            throw CronError(message: "invalid cron expression '\(normalised)': \(error.text)")
        }
        description = normalised
        minutes = fields.minutes
        hours = fields.hours
        daysOfMonth = fields.daysOfMonth
        months = fields.months
        daysOfWeek = fields.daysOfWeek
        dayOfMonthRestricted = fields.daysOfMonth != FieldKind.dayOfMonth.fullSet
        dayOfWeekRestricted = fields.daysOfWeek != FieldKind.dayOfWeek.fullSet
    }

    /// Whether the day (1-31) with that weekday (0 = Sunday) is a day to run on.
    func dayMatches(_ day: Int, weekday: Int) -> Bool {
        let byDate = daysOfMonth.contains(day)
        let byWeekday = daysOfWeek.contains(weekday)
        if dayOfMonthRestricted && dayOfWeekRestricted {
            return byDate || byWeekday
        }
        return byDate && byWeekday
    }

    /// Every hour of the day matches: such expressions follow real time across
    /// daylight-saving changes (see `next(after:in:)`).
    var runsEveryHour: Bool { hours == FieldKind.hour.fullSet }
}
