import JobQueue
import SQLStore

/// Each job's `words` (schema version 3): the distinct tokens of its params
/// and error as a `tsvector`, cut by `JobSearch.tokens` (PostgresJobStore+Search.swift).
extension PostgresJobStore {
    /// A token longer than this is stored as its first bytes (PostgreSQL takes
    /// lexemes below 2 KiB). A query token is shorter (`JobSearch.maxLength`), so
    /// equality and prefixes still answer exactly.
    static let maxLexemeBytes = 1000
    /// Past this many bytes of distinct tokens (a tsvector holds below 1 MiB) a
    /// job's words are only `overflowLexeme`: every search takes it as a
    /// candidate and checks its text here.
    static let maxWordsBytes = 1_000_000
    /// No token is ever "-" (tokens hold letters and digits only).
    static let overflowLexeme = "-"

    /// The `tsvector` text of a job's words (each distinct token quoted).
    static func words(params: String, error: String?) -> String {
        // Distinct by bytes: a Set of Strings would take `é` and `e` + U+0301
        // for one word, and the index tells them apart.
        var seen = Set<[UInt8]>()
        var distinct: [String] = []
        func add(_ token: String) {
            let text = lexeme(token).text
            if seen.insert(Array(text.utf8)).inserted { distinct.append(text) }
        }
        for token in JobSearch.tokens(params) { add(token) }
        if let error { for token in JobSearch.tokens(error) { add(token) } }
        var bytes = 0
        for d in distinct { bytes += d.utf8.count }
        guard bytes <= maxWordsBytes else { return quoted(overflowLexeme) }
        var out = ""
        out.reserveCapacity(bytes + distinct.count * 3)
        for d in distinct {
            if !out.isEmpty { out += " " }
            out += quoted(d)
        }
        return out
    }

    /// A token as stored: at most `maxLexemeBytes`, cut at a scalar boundary.
    static func lexeme(_ token: String) -> (text: String, cut: Bool) {
        guard token.utf8.count > maxLexemeBytes else { return (token, false) }
        var out = String.UnicodeScalarView()
        var n = 0
        for scalar in token.unicodeScalars {
            n += String(scalar).utf8.count
            if n > maxLexemeBytes { break }
            out.append(scalar)
        }
        return (String(out), true)
    }

    /// Quoted for tsvector and tsquery input (tokens hold no quote or backslash;
    /// escaped all the same).
    static func quoted(_ s: String) -> String {
        var out = "'"
        for c in s.unicodeScalars {
            if c == "'" || c == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out + "'"
    }

    /// Writes the words anew where an older `JobSearch.tokens` cut them
    /// (`JobSearch.tokenizerVersion`, kept in `meta`): only jobs whose text goes
    /// beyond ASCII can differ. Nothing to do when the words were just written.
    static func refreshWords(_ db: PostgresConnection, fresh: Bool) throws(PostgresError) {
        let current = Int64(JobSearch.tokenizerVersion)
        let stored = try db.scalar("SELECT COALESCE((SELECT value FROM meta WHERE key = 'words_tokenizer'), 1)")
        guard stored != current else { return }
        if !fresh { try fillWords(db, where: "(params !~ '^[[:ascii:]]*$' OR error !~ '^[[:ascii:]]*$')") }
        try db.run("INSERT INTO meta (key, value) VALUES ('words_tokenizer', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   [.int(current)])
    }

    /// Writes the words of the jobs a version 2 database holds (or those that
    /// `condition` picks), 1,000 at a time.
    static func fillWords(_ db: PostgresConnection, where condition: String = "true") throws(PostgresError) {
        var last: Int64 = 0
        while true {
            let r = try db.run("SELECT id, params, error FROM jobs WHERE id > $1 AND \(condition) ORDER BY id LIMIT 1000", [.int(last)])
            guard r.rows > 0 else { return }
            var updates: [Statement] = []
            updates.reserveCapacity(r.rows)
            for i in 0..<r.rows {
                updates.append(("UPDATE jobs SET words = $1::tsvector WHERE id = $2",
                                [.text(words(params: r.text(i, 1), error: r.optionalText(i, 2))), .int(r.int(i, 0))]))
            }
            try db.runAll(updates)
            last = r.int(r.rows - 1, 0)
        }
    }
}
