/// Strict ISO 8601 times for query filters: `YYYY-MM-DD` (midnight UTC), or
/// `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or `±HH:MM` (a time
/// without a zone is refused: it would mean the server's zone); also with a
/// space instead of `T`. Returns epoch seconds.
enum ISOTime {
    static func parse(_ text: String) -> Double? {
        let b = Array(text.utf8)
        guard b.count >= 10, b.count <= 40 else { return nil }
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var n = 0
            for k in i..<(i + width) {
                guard b[k] >= UInt8(ascii: "0"), b[k] <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(b[k] - UInt8(ascii: "0"))
            }
            i += width
            return n
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), year >= 1970, expect("-"), let month = number(2), (1...12).contains(month),
              expect("-"), let day = number(2), day >= 1, day <= daysIn(month, year) else { return nil }
        var seconds = Double(daysFromCivil(year, month, day) * 86_400)
        if i == b.count { return seconds }
        guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = number(2), hour < 24, expect(":"), let minute = number(2), minute < 60 else { return nil }
        seconds += Double(hour * 3600 + minute * 60)
        if i < b.count && b[i] == UInt8(ascii: ":") {
            i += 1
            guard let second = number(2), second < 60 else { return nil }
            seconds += Double(second)
            if i < b.count && (b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",")) {
                i += 1
                var scale = 0.1
                var digits = 0
                while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                    seconds += Double(b[i] - UInt8(ascii: "0")) * scale
                    scale /= 10
                    digits += 1
                    i += 1
                }
                guard (1...9).contains(digits) else { return nil }
            }
        }
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "+") ? 1.0 : -1.0
            i += 1
            guard let oh = number(2), oh <= 23, expect(":"), let om = number(2), om < 60 else { return nil }
            seconds -= sign * Double(oh * 3600 + om * 60)
        } else {
            return nil
        }
        return i == b.count ? seconds : nil
    }

    static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
