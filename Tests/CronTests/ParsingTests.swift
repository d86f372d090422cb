@testable import Cron
import Testing

@Suite(.timeLimit(.minutes(10))) struct ParsingTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let text: String
        let description: String
        let minutes, hours, daysOfMonth, months, daysOfWeek: [Int]?  // nil: every value

        init(_ text: String, _ description: String? = nil, minutes: [Int]? = nil, hours: [Int]? = nil,
             daysOfMonth: [Int]? = nil, months: [Int]? = nil, daysOfWeek: [Int]? = nil) {
            self.text = text
            self.description = description ?? text
            (self.minutes, self.hours, self.daysOfMonth, self.months, self.daysOfWeek) =
                (minutes, hours, daysOfMonth, months, daysOfWeek)
        }

        var testDescription: String { "'\(text)'" }
    }

    static let valid: [Valid] = [
        Valid("* * * * *"),
        Valid("  0   3 * *\t* ", "0 3 * * *", minutes: [0], hours: [3]),
        Valid("1,2,10-12 * * * *", minutes: [1, 2, 10, 11, 12]),
        Valid("*/15 * * * *", minutes: [0, 15, 30, 45]),
        Valid("10-50/5 * * * *", minutes: Array(stride(from: 10, through: 50, by: 5))),
        Valid("0-59/30,5 */6 * * *", minutes: [0, 5, 30], hours: [0, 6, 12, 18]),
        Valid("*/60 * * * *", minutes: [0]),
        Valid("59 23 31 12 7", minutes: [59], hours: [23], daysOfMonth: [31], months: [12], daysOfWeek: [0]),
        Valid("0 0 1 JAN,jul,Dec *", minutes: [0], hours: [0], daysOfMonth: [1], months: [1, 7, 12]),
        Valid("0 0 * FEB-apr *", minutes: [0], hours: [0], months: [2, 3, 4]),
        Valid("0 9 * * MON-FRI", minutes: [0], hours: [9], daysOfWeek: [1, 2, 3, 4, 5]),
        Valid("0 9 * * sun,Sat", minutes: [0], hours: [9], daysOfWeek: [0, 6]),
        Valid("0 9 * * 0,7", minutes: [0], hours: [9], daysOfWeek: [0]),
        Valid("0 9 * * 5-7", minutes: [0], hours: [9], daysOfWeek: [0, 5, 6]),
        Valid("0 9 * * FRI-SUN", minutes: [0], hours: [9], daysOfWeek: [0, 5, 6]),
        Valid("0 9 * * */2", minutes: [0], hours: [9], daysOfWeek: [0, 2, 4, 6]),
        Valid("0 0 */10 * *", minutes: [0], hours: [0], daysOfMonth: [1, 11, 21, 31]),
        Valid("@hourly", minutes: [0]),
        Valid("@daily", minutes: [0], hours: [0]),
        Valid("@midnight", minutes: [0], hours: [0]),
        Valid("@WEEKLY", minutes: [0], hours: [0], daysOfWeek: [0]),
        Valid("@monthly", minutes: [0], hours: [0], daysOfMonth: [1]),
        Valid("@yearly", minutes: [0], hours: [0], daysOfMonth: [1], months: [1]),
        Valid("@annually", minutes: [0], hours: [0], daysOfMonth: [1], months: [1]),
    ]

    @Test(arguments: valid)
    func parses(_ c: Valid) throws {
        let e = try CronExpression(c.text)
        #expect(e.description == c.description)
        #expect(e.minutes.values == (c.minutes ?? Array(0...59)))
        #expect(e.hours.values == (c.hours ?? Array(0...23)))
        #expect(e.daysOfMonth.values == (c.daysOfMonth ?? Array(1...31)))
        #expect(e.months.values == (c.months ?? Array(1...12)))
        #expect(e.daysOfWeek.values == (c.daysOfWeek ?? Array(0...6)))
    }

    static let invalid: [(String, String)] = [
        ("", "invalid cron expression '': expected 5 fields, got 0"),
        ("   ", "invalid cron expression '': expected 5 fields, got 0"),
        ("* * * *", "invalid cron expression '* * * *': expected 5 fields, got 4"),
        ("* * *  * * *", "invalid cron expression '* * * * * *': expected 5 fields, got 6"),
        ("61 * * * *", "invalid cron expression '61 * * * *': minute field '61' is out of range 0-59"),
        ("1,61 * * * *", "invalid cron expression '1,61 * * * *': minute field '61' is out of range 0-59"),
        ("99999999999999999999 * * * *",
         "invalid cron expression '99999999999999999999 * * * *': minute field '99999999999999999999' is out of range 0-59"),
        ("* 24 * * *", "invalid cron expression '* 24 * * *': hour field '24' is out of range 0-23"),
        ("* * 0 * *", "invalid cron expression '* * 0 * *': day-of-month field '0' is out of range 1-31"),
        ("* * 32 * *", "invalid cron expression '* * 32 * *': day-of-month field '32' is out of range 1-31"),
        ("* * * 0 *", "invalid cron expression '* * * 0 *': month field '0' is out of range 1-12"),
        ("* * * 13 *", "invalid cron expression '* * * 13 *': month field '13' is out of range 1-12"),
        ("* * * * 8", "invalid cron expression '* * * * 8': day-of-week field '8' is out of range 0-7"),
        ("* * * FOO *", "invalid cron expression '* * * FOO *': unknown month name 'FOO'"),
        ("* * * JAN-foo *", "invalid cron expression '* * * JAN-foo *': unknown month name 'foo'"),
        ("* * * * funday", "invalid cron expression '* * * * funday': unknown day name 'funday'"),
        ("abc * * * *", "invalid cron expression 'abc * * * *': minute field 'abc' is not a number"),
        ("* * MON * *", "invalid cron expression '* * MON * *': day-of-month field 'MON' is not a number"),
        ("* * * 1x *", "invalid cron expression '* * * 1x *': month field '1x' is not a number"),
        ("*/0 * * * *", "invalid cron expression '*/0 * * * *': minute field step '0' is out of range 1-60"),
        ("* */25 * * *", "invalid cron expression '* */25 * * *': hour field step '25' is out of range 1-24"),
        ("*/x * * * *", "invalid cron expression '*/x * * * *': minute field step 'x' is not a number"),
        ("*/ * * * *", "invalid cron expression '*/ * * * *': minute field step '' is not a number"),
        ("*/5/2 * * * *", "invalid cron expression '*/5/2 * * * *': minute field '*/5/2' has more than one step"),
        ("5/10 * * * *", "invalid cron expression '5/10 * * * *': minute field '5/10': a step needs '*' or a range before it"),
        ("1,,2 * * * *", "invalid cron expression '1,,2 * * * *': minute field '1,,2' has an empty list item"),
        ("1, * * * *", "invalid cron expression '1, * * * *': minute field '1,' has an empty list item"),
        ("5-1 * * * *", "invalid cron expression '5-1 * * * *': minute field range '5-1' starts after it ends"),
        ("* * * DEC-JAN *", "invalid cron expression '* * * DEC-JAN *': month field range 'DEC-JAN' starts after it ends"),
        ("1- * * * *", "invalid cron expression '1- * * * *': minute field '1-' is missing a value"),
        ("-5 * * * *", "invalid cron expression '-5 * * * *': minute field '-5' is missing a value"),
        ("/5 * * * *", "invalid cron expression '/5 * * * *': minute field '/5' is missing a value"),
        ("@reboot", "invalid cron expression '@reboot': unknown shortcut '@reboot' (known: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)"),
        ("@daily 1", "invalid cron expression '@daily 1': shortcut '@daily' takes no other fields"),
    ]

    @Test(arguments: invalid)
    func rejects(_ text: String, _ message: String) {
        #expect(throws: CronError(message: message)) { try CronExpression(text) }
        do {
            _ = try CronExpression(text)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func anExpressionPast200BytesIsRefusedWhereverItComesFrom() throws {
        let padded = "0 3 * * *" + String(repeating: " ", count: 191)
        #expect(try CronExpression(padded).description == "0 3 * * *")
        #expect(throws: CronError(message: "invalid cron expression: longer than 200 bytes")) {
            try CronExpression(padded + " ")
        }
        #expect(throws: CronError(message: "invalid cron expression: longer than 200 bytes")) {
            try CronExpression(String(repeating: "1,", count: 200_000) + "1 * * * *")
        }
    }

    @Test func equalityFollowsTheNormalisedText() throws {
        #expect(try CronExpression("0  3 * * *") == CronExpression("0 3 * * *"))
        #expect(try CronExpression("0 3 * * *") != CronExpression("0 4 * * *"))
    }

    @Test func dayRestrictionIsAboutCoveringEveryValue() throws {
        let both = try CronExpression("0 0 13 * 5")
        #expect(both.dayOfMonthRestricted && both.dayOfWeekRestricted)
        let full = try CronExpression("0 0 1-31 * 0-7")
        #expect(!full.dayOfMonthRestricted && !full.dayOfWeekRestricted)
    }
}
