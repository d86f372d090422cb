/// `jobrunnerd --help`, from the setting table: one entry per option, its
/// meaning and default, wrapped to 80 columns.
enum HelpText {
    static let width = 80
    static let column = 26

    static func render() -> String {
        var out = wrap("OVERVIEW: JobRunner: an async job-runner daemon with a REST API, live progress and a web dashboard.", indent: 0, first: 0)
        out += "\n\n"
        for paragraph in discussion { out += wrap(paragraph, indent: 0, first: 0) + "\n\n" }
        out += "USAGE: jobrunnerd [--config <file>] [--check-config] [--<setting> <value> ...]\n"
        out += "       jobrunnerd token new NAME --scopes read,submit,admin\n\n"
        out += "OPTIONS:\n"
        for option in Invocation.commandOptions {
            out += entry(option.flag + (option.placeholder.map { " <\($0.lowercased())>" } ?? ""), sentence(option.meaning))
        }
        out += "\nSETTINGS (flag, JOBRUNNER_ variable, or config file key):\n"
        for setting in SettingTable.all {
            let shown = setting.shownDefault
            out += entry("\(setting.flag) <\(setting.placeholder?.lowercased() ?? setting.key)>",
                         sentence(setting.meaning) + " (default: \(plain(shown.text)))")
        }
        return String(out.dropLast())
    }

    static let discussion = [
        """
        Each setting can also come from the environment (JOBRUNNER_PORT, JOBRUNNER_MAX_BODY, ...) \
        or from the --config file (JSON, one key per flag: {"port": 8080, "max-body": 1048576}). \
        Flags win over the environment, the environment over the file, the file over defaults.
        """,
        """
        API tokens: `jobrunnerd token new NAME --scopes read,submit,admin` prints a new token \
        and the entry to add to the config file's "tokens" (docs/security.md).
        """,
    ]

    /// A label in the first columns and its text beside it (below it when the label is long).
    static func entry(_ label: String, _ text: String) -> String {
        let head = "  " + label
        if head.count + 2 > column { return head + "\n" + wrap(text, indent: column, first: column) + "\n" }
        return head + String(repeating: " ", count: column - head.count) + wrap(text, indent: column, first: column).dropFirst(column) + "\n"
    }

    /// Words filled to `width`; every line indented by `indent` spaces.
    static func wrap(_ text: String, indent: Int, first: Int) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && indent + line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        lines.append(line)
        return lines.map { String(repeating: " ", count: indent) + $0 }.joined(separator: "\n")
    }

    /// A meaning as a sentence: capitalised (unless it starts with a literal,
    /// like `full`), plain text, a full stop.
    static func sentence(_ meaning: String) -> String {
        let text = plain(meaning)
        return (meaning.hasPrefix("`") ? text : text.prefix(1).uppercased() + text.dropFirst()) + "."
    }

    /// Markdown to plain text: backticks dropped, `[text](link)` as its text.
    static func plain(_ markdown: String) -> String {
        var out = ""
        var rest = markdown[...]
        while let c = rest.popFirst() {
            if c == "`" { continue }
            if c == "]", rest.first == "(", let close = rest.firstIndex(of: ")") {
                rest = rest[rest.index(after: close)...]
                continue
            }
            if c == "[" && rest.contains("](") { continue }
            out.append(c)
        }
        return out
    }
}
