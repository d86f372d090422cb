/// A short English reading of an expression for a dashboard tooltip, e.g.
/// "at 03:30 every day", "every 15 minutes", "at 09:00 on Monday to Friday".
extension CronExpression {
    /// A short English reading of the schedule (wall-clock times in the schedule's zone).
    public var humanReading: String {
        let time = timeReading
        let days = dayReading
        if days.isEmpty {
            // "every 15 minutes", "at minute 0 of every 2nd hour": already daily.
            let recurringHourly = runsEveryHour || Self.step(of: hours.values, in: 24) != nil
            return recurringHourly ? time : "\(time) every day"
        }
        return "\(time) \(days)"
    }

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December",
    ]
    private static let dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    private var timeReading: String {
        let minuteValues = minutes.values
        let hourValues = hours.values
        let everyMinute = minutes == FieldKind.minute.fullSet
        let minuteStep = Self.step(of: minuteValues, in: 60)

        // Within the hours it runs.
        let withinHour: String
        if everyMinute {
            withinHour = "every minute"
        } else if let step = minuteStep {
            withinHour = "every \(step) minutes"
        } else if !runsEveryHour, hourValues.count * minuteValues.count <= 6 {
            let times = hourValues.flatMap { h in minuteValues.map { Self.clock(h, $0) } }
            return "at \(Self.join(times))"
        } else {
            let noun = minuteValues.count == 1 ? "minute" : "minutes"
            withinHour = "at \(noun) \(Self.list(minuteValues, name: String.init))"
            if runsEveryHour { return "\(withinHour) of every hour" }
        }

        if runsEveryHour { return withinHour }
        if let step = Self.step(of: hourValues, in: 24), step > 1 {
            return "\(withinHour) of every \(Self.ordinal(step)) hour"
        }
        let ranges = Self.ranges(hourValues).map { range in
            "\(Self.clock(range.lowerBound, 0)) to \(Self.clock(range.upperBound, 59))"
        }
        return "\(withinHour) from \(Self.join(ranges))"
    }

    /// Empty for every day of every month.
    private var dayReading: String {
        var parts: [String] = []
        let allMonths = months == FieldKind.month.fullSet
        let monthList = Self.list(months.values) { Self.monthNames[$0 - 1] }
        if dayOfMonthRestricted {
            let noun = daysOfMonth.count == 1 ? "day" : "days"
            let of = allMonths ? "of the month" : "of \(monthList)"
            parts.append("on \(noun) \(Self.list(daysOfMonth.values, name: String.init)) \(of)")
        }
        if dayOfWeekRestricted {
            parts.append("on \(Self.list(daysOfWeek.values) { Self.dayNames[$0] })")
        }
        var reading = parts.joined(separator: " or ")
        if !allMonths && !dayOfMonthRestricted {
            reading += reading.isEmpty ? "every day in \(monthList)" : " in \(monthList)"
        }
        return reading
    }

    /// n when the values are exactly 0, n, 2n, ... below `count` (n > 1).
    private static func step(of values: [Int], in count: Int) -> Int? {
        guard values.count >= 2, values[0] == 0 else { return nil }
        let step = values[1]
        guard step > 1, values == Array(stride(from: 0, to: count, by: step)) else { return nil }
        return step
    }

    private static func ranges(_ values: [Int]) -> [ClosedRange<Int>] {
        var result: [ClosedRange<Int>] = []
        for v in values {
            if let last = result.last, last.upperBound + 1 == v {
                result[result.count - 1] = last.lowerBound...v
            } else {
                result.append(v...v)
            }
        }
        return result
    }

    /// "1-5" style runs of three or more as "A to B", the rest listed.
    private static func list(_ values: [Int], name: (Int) -> String) -> String {
        let items = ranges(values).flatMap { range -> [String] in
            if range.count >= 3 { return ["\(name(range.lowerBound)) to \(name(range.upperBound))"] }
            return range.map(name)
        }
        return join(items)
    }

    private static func join(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " and " + items.last!
    }

    private static func clock(_ hour: Int, _ minute: Int) -> String {
        (hour < 10 ? "0\(hour)" : "\(hour)") + ":" + (minute < 10 ? "0\(minute)" : "\(minute)")
    }

    private static func ordinal(_ n: Int) -> String {
        let suffix: String
        switch (n % 10, n % 100) {
        case (_, 11...13): suffix = "th"
        case (1, _): suffix = "st"
        case (2, _): suffix = "nd"
        case (3, _): suffix = "rd"
        default: suffix = "th"
        }
        return "\(n)\(suffix)"
    }
}
