/// Text search over a job's params (the JSON text: keys and values) and its
/// error, with one meaning in every store (SQLite answers it from an FTS5 index,
/// memory by scanning):
///
/// - The text is cut into tokens: runs of Unicode letters and digits, compared
///   without case (`Disk-Usage` is the tokens `disk` and `usage`).
/// - Each whitespace-separated word of the query is a phrase of its tokens
///   (`disk-usage` finds `disk` directly followed by `usage`); a part in double
///   quotes is one phrase (`"hello world"`). Tokens match whole tokens; a word
///   or quoted phrase ending in `*` matches its last token as a prefix
///   (`back*` finds `backup`, `"main back"*` finds `main backup`).
/// - A job matches when every phrase is found within its params or within its
///   error (all phrases, in any order).
public struct JobSearch: Sendable, Equatable {
    public static let maxLength = 200
    /// Which rules `tokens` follows; a store that keeps tokens (PostgreSQL's
    /// words) writes them anew when this changes. 2: SQLite's own tables.
    public static let tokenizerVersion = 2
    public static let maxPhrases = 16

    public struct Phrase: Sendable, Equatable {
        /// Lower-cased.
        public let tokens: [String]
        /// The last token matches as a prefix.
        public let prefix: Bool
    }

    public let phrases: [Phrase]
    /// The query as given.
    public let text: String

    public struct Invalid: Error, Sendable {
        public let message: String
    }

    /// Parses `q`; a query over the limits (200 characters, and 800 bytes of
    /// UTF-8) or without any letter or digit is refused.
    public init(_ text: String) throws(Invalid) {
        // Bytes too: one character may carry any number of combining marks.
        guard text.utf8.count <= 4 * Self.maxLength, text.count <= Self.maxLength else {
            throw Invalid(message: "Invalid 'q': at most \(Self.maxLength) characters")
        }
        var phrases: [Phrase] = []
        var word = ""
        var quoted = false
        var closed = false
        func flush(prefix: Bool) {
            let tokens = Self.tokens(word)
            if !tokens.isEmpty { phrases.append(Phrase(tokens: tokens, prefix: prefix)) }
            word = ""
        }
        for ch in text {
            // A `*` right after a closing quote makes that phrase a prefix one.
            if closed {
                closed = false
                if ch == "*" {
                    flush(prefix: true)
                    continue
                }
                flush(prefix: false)
            }
            if ch == "\"" {
                if quoted {
                    closed = true
                } else {
                    flush(prefix: word.last == "*")
                }
                quoted.toggle()
            } else if !quoted && ch.isWhitespace {
                flush(prefix: word.last == "*")
            } else {
                word.append(ch)
            }
        }
        flush(prefix: !quoted && !closed && word.last == "*")
        guard !phrases.isEmpty else { throw Invalid(message: "Invalid 'q': must contain a letter or digit") }
        guard phrases.count <= Self.maxPhrases else {
            throw Invalid(message: "Invalid 'q': at most \(Self.maxPhrases) words")
        }
        self.phrases = phrases
        self.text = text
    }

    /// The FTS5 query: each phrase quoted (tokens hold only letters and digits,
    /// so nothing in them is FTS5 syntax), its last token a prefix, all required.
    public var ftsQuery: String {
        phrases.map { "\"" + $0.tokens.joined(separator: " ") + "\"" + ($0.prefix ? "*" : "") }.joined(separator: " AND ")
    }

    /// Whether a job's params text and error hold every phrase.
    public func matches(params: String, error: String?) -> Bool {
        let p = Self.tokens(params)
        let e = error.map(Self.tokens) ?? []
        return phrases.allSatisfy { Self.contains(p, $0) || Self.contains(e, $0) }
    }

    public func matches(_ job: Job) -> Bool {
        matches(params: job.paramsText, error: job.error)
    }

    private static func contains(_ tokens: [String], _ phrase: Phrase) -> Bool {
        let words = phrase.tokens
        guard tokens.count >= words.count else { return false }
        let last = words.count - 1
        for start in 0...(tokens.count - words.count) {
            var ok = true
            for (i, t) in words.enumerated() {
                let token = tokens[start + i]
                // By code units, as the indexes compare: Swift's `==` would take
                // `é` and `e` + U+0301 for the same text.
                if i == last && phrase.prefix ? !token.utf8.starts(with: t.utf8) : !token.utf8.elementsEqual(t.utf8) { ok = false; break }
            }
            if ok { return true }
        }
        return false
    }

    /// The tokens of a text, exactly as SQLite's `unicode61` tokenizer (without
    /// diacritic folding) cuts and folds them for the index: ASCII letters and
    /// digits join, other ASCII separates; above ASCII, SQLite's own tables
    /// (`SearchTables`, generated from SQLite) say what separates and how a
    /// letter folds, one code point to one (so `İ` stays, `ẞ` is `ß`, a final
    /// `ς` is `σ`), whatever Swift's newer Unicode data would say.
    public static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let folded = tokenScalar(scalar) {
                current.append(folded)
            } else if !current.isEmpty {
                out.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { out.append(String(current)) }
        return out
    }

    /// A scalar as it joins a token (folded), or nil when it separates.
    static func tokenScalar(_ s: Unicode.Scalar) -> Unicode.Scalar? {
        let v = s.value
        if v < 0x80 {
            if v >= 0x41 && v <= 0x5A { return Unicode.Scalar(UInt8(v + 0x20)) }
            return (v >= 0x30 && v <= 0x39) || (v >= 0x61 && v <= 0x7A) ? s : nil
        }
        if isSeparator(v) { return nil }
        return Unicode.Scalar(fold(v)) ?? s
    }

    private static func isSeparator(_ v: UInt32) -> Bool {
        let pairs = SearchTables.separators
        // The last pair starting at or before v.
        var lo = 0, hi = pairs.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if pairs[mid * 2] <= v { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 && v <= pairs[(lo - 1) * 2 + 1]
    }

    private static func fold(_ v: UInt32) -> UInt32 {
        let runs = SearchTables.folds
        let value = Int32(v)
        var lo = 0, hi = runs.count / 4
        while lo < hi {
            let mid = (lo + hi) / 2
            if runs[mid * 4] <= value { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return v }
        let run = (lo - 1) * 4
        let offset = value - runs[run]
        guard offset % runs[run + 2] == 0, offset / runs[run + 2] < runs[run + 1] else { return v }
        return UInt32(value + runs[run + 3])
    }
}
