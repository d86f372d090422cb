import Cron
import Testing

@Suite(.timeLimit(.minutes(10))) struct HumanReadingTests {
    @Test(arguments: [
        ("30 3 * * *", "at 03:30 every day"),
        ("*/15 * * * *", "every 15 minutes"),
        ("0 9 * * 1-5", "at 09:00 on Monday to Friday"),
        ("0 9 * * MON-FRI", "at 09:00 on Monday to Friday"),
        ("0 * * * *", "at minute 0 of every hour"),
        ("@hourly", "at minute 0 of every hour"),
        ("* * * * *", "every minute"),
        ("15,45 * * * *", "at minutes 15 and 45 of every hour"),
        ("0 9,17 * * *", "at 09:00 and 17:00 every day"),
        ("@daily", "at 00:00 every day"),
        ("@weekly", "at 00:00 on Sunday"),
        ("0 0 1 * *", "at 00:00 on day 1 of the month"),
        ("@yearly", "at 00:00 on day 1 of January"),
        ("0 0 29 2 *", "at 00:00 on day 29 of February"),
        ("0 12 * * SUN", "at 12:00 on Sunday"),
        ("0 9 * * MON,WED,FRI", "at 09:00 on Monday, Wednesday and Friday"),
        ("0 0 13 * 5", "at 00:00 on day 13 of the month or on Friday"),
        ("0 0 1,15 * *", "at 00:00 on days 1 and 15 of the month"),
        ("0 */2 * * *", "at minute 0 of every 2nd hour"),
        ("*/5 9-17 * * 1-5", "every 5 minutes from 09:00 to 17:59 on Monday to Friday"),
        ("0 0 * 1-3 *", "at 00:00 every day in January to March"),
        ("* 2 * * *", "every minute from 02:00 to 02:59 every day"),
    ])
    func reading(_ text: String, _ expected: String) throws {
        #expect(try CronExpression(text).humanReading == expected)
    }
}
