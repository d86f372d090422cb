/// Turns the text of a cron expression into its five value sets. Errors are
/// plain reasons ("minute field '61' is out of range 0-59"); `CronExpression`
/// prefixes them with the expression.
enum CronParser {
    struct Fields {
        var minutes: ValueSet
        var hours: ValueSet
        var daysOfMonth: ValueSet
        var months: ValueSet
        var daysOfWeek: ValueSet
    }

    /// What the @-shortcuts stand for.
    static let shortcuts: [String: String] = [
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
    ]

    static func parse(words: [Substring]) throws(Reason) -> Fields {
        var words = words
        if let first = words.first, first.hasPrefix("@") {
            guard let expansion = shortcuts[first.lowercased()] else {
                throw Reason("unknown shortcut '\(first)' (known: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)")
            }
            guard words.count == 1 else {
                throw Reason("shortcut '\(first)' takes no other fields")
            }
            words = expansion.split(separator: " ")
        }
        guard words.count == 5 else {
            throw Reason("expected 5 fields, got \(words.count)")
        }
        return Fields(
            minutes: try field(words[0], .minute),
            hours: try field(words[1], .hour),
            daysOfMonth: try field(words[2], .dayOfMonth),
            months: try field(words[3], .month),
            daysOfWeek: try field(words[4], .dayOfWeek)
        )
    }

    struct Reason: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// One field: a comma-separated list of `*`, `v`, `a-b`, `*/n` or `a-b/n`.
    static func field(_ text: Substring, _ kind: FieldKind) throws(Reason) -> ValueSet {
        var set = ValueSet()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else {
                throw Reason("\(kind.name) field '\(text)' has an empty list item")
            }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw Reason("\(kind.name) field '\(item)' has more than one step")
            }
            let base = parts[0]
            var step = 1
            if parts.count == 2 {
                step = try stepValue(parts[1], kind)
            }
            let range: ClosedRange<Int>
            if base.isEmpty || base.first == "-" || base.last == "-" {
                throw Reason("\(kind.name) field '\(item)' is missing a value")
            }
            if base == "*" {
                range = kind.all
            } else if let dash = base.firstIndex(of: "-") {
                let low = try value(base[..<dash], kind)
                var high = try value(base[base.index(after: dash)...], kind)
                if kind == .dayOfWeek, high == 0, low > 0 {
                    high = 7  // FRI-SUN, 5-0: Sunday at the end of a range
                }
                guard low <= high else {
                    throw Reason("\(kind.name) field range '\(base)' starts after it ends")
                }
                range = low...high
            } else {
                let single = try value(base, kind)
                guard parts.count == 1 else {
                    throw Reason("\(kind.name) field '\(item)': a step needs '*' or a range before it")
                }
                range = single...single
            }
            for v in stride(from: range.lowerBound, through: range.upperBound, by: step) {
                set.insert(kind == .dayOfWeek && v == 7 ? 0 : v)
            }
        }
        return set
    }

    static func value(_ token: Substring, _ kind: FieldKind) throws(Reason) -> Int {
        if !token.isEmpty, token.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard token.count <= 4, let v = Int(token), kind.writable.contains(v) else {
                throw Reason("\(kind.name) field '\(token)' is out of range \(kind.writable.lowerBound)-\(kind.writable.upperBound)")
            }
            return v
        }
        if let names = kind.names, !token.isEmpty, token.allSatisfy({ $0.isASCII && $0.isLetter }) {
            guard let index = names.firstIndex(of: token.uppercased()) else {
                throw Reason("unknown \(kind == .month ? "month" : "day") name '\(token)'")
            }
            return index + kind.all.lowerBound
        }
        throw Reason("\(kind.name) field '\(token)' is not a number")
    }

    static func stepValue(_ token: Substring, _ kind: FieldKind) throws(Reason) -> Int {
        let most = kind.all.count
        guard !token.isEmpty, token.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw Reason("\(kind.name) field step '\(token)' is not a number")
        }
        guard token.count <= 4, let step = Int(token), (1...most).contains(step) else {
            throw Reason("\(kind.name) field step '\(token)' is out of range 1-\(most)")
        }
        return step
    }
}
