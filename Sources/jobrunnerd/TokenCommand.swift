import ArgumentParser
import Glibc
import JobRunnerAPI
import JobRunnerDaemon

/// `jobrunnerd token new NAME --scopes read,submit`: prints a fresh token and the
/// config entry that admits it. The daemon itself only ever sees the hash.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobrunnerd token",
        abstract: "Make API tokens.",
        subcommands: [New.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Print a new random token (first line) and its entry for the config file's \"tokens\" array (second line)."
        )

        @Argument(help: "The token's name, shown in logs and errors: letters, digits, '.', '_' or '-'.") var name: String
        @Option(help: "Comma-separated scopes: read, submit, admin (admin implies the others).") var scopes: String

        func validate() throws {
            guard TokenEntry.isValidName(name) else {
                throw ValidationError("the name must be 1 to 64 letters, digits, '.', '_' or '-'")
            }
            _ = try parsedScopes()
        }

        func parsedScopes() throws -> [Scope] {
            let names = scopes.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw ValidationError("--scopes needs at least one of read, submit, admin") }
            var out: [Scope] = []
            for n in names {
                guard let scope = Scope(rawValue: n) else { throw ValidationError("unknown scope '\(n)': use read, submit, admin") }
                if !out.contains(scope) { out.append(scope) }
            }
            return out.sorted()
        }

        func run() throws {
            guard let token = Tokens.generate() else {
                writeStderr("jobrunnerd: no random bytes to be had; no token made\n")
                throw ExitCode(1)
            }
            let list = try parsedScopes().map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            print(token)
            print("{\"name\": \"\(name)\", \"sha256\": \"\(Tokens.hashHex(token))\", \"scopes\": [\(list)]}")
            writeStderr("""
                The first line is the token: give it to the client (Authorization: Bearer TOKEN, or the \
                dashboard's sign-in); it is not stored anywhere and is shown only now. Add the second line to \
                the "tokens" array of the config file, then reload the daemon (SIGHUP).

                """)
        }
    }
}
