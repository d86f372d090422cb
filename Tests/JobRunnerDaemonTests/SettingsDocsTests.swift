import Essentials
import JobRunnerDaemon
import Testing

/// The README's "## Flags" table is the setting table's: a setting added to
/// the table and not to the README (or changed in one only) fails here.
@Suite(.timeLimit(.minutes(10))) struct SettingsDocsTests {
    static let readme = String(#filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")) + "/README.md"

    /// The README's lines from the table's header to its last row (none without the header).
    func documentedTable() throws -> [String] {
        let text = String(decoding: try readSmallFile(Self.readme), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: SettingsDocs.header[0]) else { return [] }
        return Array(lines[start...].prefix { $0.hasPrefix("|") })
    }

    @Test func theReadmeTableIsTheSettingTable() throws {
        let documented = try documentedTable()
        let expected = SettingsDocs.table()
        let missing = expected.filter { !documented.contains($0) }
        let extra = documented.filter { !expected.contains($0) }
        #expect(missing.isEmpty && extra.isEmpty && documented == expected,
                "README.md's table of flags should read:\n\(expected.joined(separator: "\n"))")
    }

    @Test func everySettingHasItsRow() {
        let rows = SettingsDocs.table()
        for setting in SettingTable.all {
            #expect(rows.contains { $0.hasPrefix("| `\(setting.flag)` |") || $0.hasPrefix("| `\(setting.flag) ") }, "\(setting.key)")
        }
    }
}
