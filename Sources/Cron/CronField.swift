/// The values a field matches, one bit per value (0...63).
struct ValueSet: Sendable, Equatable {
    var bits: UInt64 = 0

    func contains(_ value: Int) -> Bool {
        value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0
    }

    mutating func insert(_ value: Int) {
        bits |= 1 << UInt64(value)
    }

    /// The smallest member in `value...limit`, if any.
    func next(from value: Int, upTo limit: Int) -> Int? {
        guard value >= 0, value <= limit, value < 64 else { return nil }
        let rest = bits >> UInt64(value)
        guard rest != 0 else { return nil }
        let found = value + rest.trailingZeroBitCount
        return found <= limit ? found : nil
    }

    var values: [Int] { (0..<64).filter(contains) }
    var count: Int { bits.nonzeroBitCount }
}

/// The five fields of a cron expression, in order, with their ranges and names.
enum FieldKind: Int, Sendable, CaseIterable {
    case minute, hour, dayOfMonth, month, dayOfWeek

    /// As named in error messages.
    var name: String {
        switch self {
        case .minute: "minute"
        case .hour: "hour"
        case .dayOfMonth: "day-of-month"
        case .month: "month"
        case .dayOfWeek: "day-of-week"
        }
    }

    /// The values that may be written (day-of-week accepts 7 for Sunday).
    var writable: ClosedRange<Int> {
        switch self {
        case .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    /// The values `*` stands for.
    var all: ClosedRange<Int> {
        self == .dayOfWeek ? 0...6 : writable
    }

    /// Three-letter names, upper case, indexed from the field's first value.
    var names: [String]? {
        switch self {
        case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        default: nil
        }
    }

    var fullSet: ValueSet {
        var set = ValueSet()
        for v in all { set.insert(v) }
        return set
    }
}
