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
                if i == last && phrase.prefix ? !token.hasPrefix(t) : token != t { ok = false; break }
            }
            if ok { return true }
        }
        return false
    }

    /// The tokens of a text, as SQLite's `unicode61` tokenizer (without
    /// diacritic folding) cuts them: letters, digits and private-use characters
    /// join; anything else separates; lower-cased.
    public static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isTokenScalar(scalar) {
                current.append(scalar)
            } else if !current.isEmpty {
                out.append(String(current).lowercased())
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { out.append(String(current).lowercased()) }
        return out
    }

    private static func isTokenScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
        }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber, .privateUse:
            return true
        default:
            return false
        }
    }
}
