@testable import JobRunnerDaemon
import Testing

/// The command line read against the setting table, with ArgumentParser's messages.
@Suite(.timeLimit(.minutes(10))) struct InvocationTests {
    func run(_ arguments: String...) -> Invocation? {
        if case .run(let invocation) = Invocation.parse(arguments) { return invocation }
        return nil
    }

    func refused(_ arguments: String...) -> String? {
        if case .refused(let message) = Invocation.parse(arguments) { return message }
        return nil
    }

    @Test func everySettingIsAFlagWithASpacedOrAttachedValue() {
        let i = run("--port", "0", "--max-body=4096", "--config", "/etc/j.json", "--check-config", "--allowed-origins", "a,b")
        #expect(i?.flags == ["port": "0", "max-body": "4096", "allowed-origins": "a,b"])
        #expect(i?.configFile == "/etc/j.json" && i?.checkConfig == true)
        for setting in SettingTable.all {
            #expect(run(setting.flag, "x")?.flags == [setting.key: "x"])
        }
        #expect(run("--port", "1", "--port", "2")?.flags == ["port": "2"])
        #expect(run()?.flags == [:])
    }

    @Test func badCommandLinesAreOneLine() {
        #expect(refused("--bogus") == "Unknown option '--bogus'")
        #expect(refused("-x") == "Unknown option '-x'")
        #expect(refused("--port") == "Missing value for '--port <port>'")
        #expect(refused("--port", "--host", "h") == "Missing value for '--port <port>'")
        #expect(refused("serve") == "Unexpected argument 'serve'")
        #expect(refused("--", "x") == "Unexpected argument 'x'")
        #expect(refused("--check-config=yes") == "The option '--check-config' does not take any value, but 'yes' was specified.")
    }

    @Test func helpListsEverySettingWithItsDefault() {
        guard case .show(let help) = Invocation.parse(["--help"]) else {
            Issue.record("no help")
            return
        }
        #expect(Invocation.parse(["-h"]) == .show(help))
        let text = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for setting in SettingTable.all {
            #expect(help.contains("  \(setting.flag) <"), "\(setting.key)")
        }
        #expect(text.contains("--port <port> Port; 0 picks a free one and logs it. (default: 8080)"))
        #expect(text.contains("--session-lifetime <session-lifetime> How long a dashboard sign-in lasts, e.g. 12h. (default: 12h)"))
        #expect(text.contains("--threads <threads> Worker threads serving HTTP (libmicrohttpd's). (default: the core count)"))
        #expect(text.contains("--sync <sync> full: every commit is fsynced"))
        #expect(text.contains("or a PostgreSQL URL") || text.contains("postgresql://user@host/db URL (docs/postgresql.md)"))
        #expect(text.contains("jobrunnerd token new NAME --scopes") && text.contains("besides the daemon's own"))
        #expect(help.split(separator: "\n").allSatisfy { $0.count <= 80 || !$0.contains(" ") })
        #expect(Invocation.parse(["--version"]) == .show(jobRunnerVersion))
    }
}
