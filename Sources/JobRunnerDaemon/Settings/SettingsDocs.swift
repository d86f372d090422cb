/// The README's table of flags ("## Flags"), from the setting table; a test
/// compares the README with it, so a setting is documented where it is declared.
public enum SettingsDocs {
    public static let header = [
        "| flag | default | meaning | on SIGHUP |",
        "|---|---|---|---|",
    ]

    /// The table's lines: the command's own options, then every setting.
    public static func table() -> [String] {
        var rows = header
        for option in Invocation.commandOptions where option.inDocs {
            let flag = option.flag + (option.placeholder.map { " \($0)" } ?? "")
            rows.append(row("`\(flag)`", option.placeholder == nil ? "" : "none", option.meaning, ""))
        }
        for setting in SettingTable.all {
            let flag = setting.flag + (setting.placeholder.map { " \($0)" } ?? "")
            let shown = setting.shownDefault
            rows.append(row("`\(flag)`", shown.literal ? "`\(shown.text)`" : shown.text, setting.meaning, sighup(setting.reload)))
        }
        return rows
    }

    static func row(_ cells: String...) -> String {
        "|" + cells.map { $0.isEmpty ? " " : " \($0) " }.joined(separator: "|") + "|"
    }

    static func sighup(_ reload: Reload) -> String {
        switch reload {
        case .live: "applied"
        case .rereadsFile: "file read again"
        case .restart: "restart"
        }
    }
}
