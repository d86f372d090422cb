import CPostgres
import CProcess
import Glibc
import Synchronization

/// Why the throwaway cluster could not be used.
public struct TestPostgresError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A throwaway PostgreSQL cluster for tests: `scripts/pg-throwaway` (initdb in a
/// temporary directory as an unprivileged user, a Unix socket there, no TCP),
/// held by a pipe to its standard input. However this process ends, the pipe
/// closes and the script stops the server and removes the directory.
///
/// `@unchecked Sendable`: every stored property is a constant except what
/// `stop()`/`start()` exchange over the pipe, which only the test that made a
/// private cluster calls, from one thread at a time.
public final class TestPostgres: @unchecked Sendable {
    /// The socket directory (the `host` of every URL).
    public let socketDirectory: String
    private let commands: Int32
    private let replies: Int32
    private let pid: pid_t
    private let databases = Atomic<Int>(0)

    /// One cluster per test process, started on first use; each test takes its
    /// own database from it (`newDatabase()`).
    public static let shared: Result<TestPostgres, TestPostgresError> = Result { () throws(TestPostgresError) in try TestPostgres() }

    /// The cluster for this process's tests (throws if PostgreSQL cannot start).
    public static func cluster() throws(TestPostgresError) -> TestPostgres { try shared.get() }

    /// Starts a new cluster of its own (for tests that stop and start the server).
    public init() throws(TestPostgresError) {
        let script = Self.repositoryRoot() + "/scripts/pg-throwaway"
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard pipe2(&input, O_CLOEXEC) == 0, pipe2(&output, O_CLOEXEC) == 0 else {
            throw TestPostgresError("pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        // Nothing else of this process's: a test's socket or pipe without
        // close-on-exec would otherwise stay open in the server for as long as
        // it runs, and the test would wait in vain for its peer to see it close.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup(script), nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawn(&child, "/bin/sh", &actions, nil, argv, environ)
        close(input[0])
        close(output[1])
        guard rc == 0 else {
            close(input[1])
            close(output[0])
            throw TestPostgresError("cannot run \(script): \(String(cString: strerror(rc)))")
        }
        pid = child
        commands = input[1]
        replies = output[0]
        let line = Self.readLine(replies)
        guard line.hasPrefix("ready ") else {
            close(commands)
            close(replies)
            var status: Int32 = 0
            waitpid(child, &status, 0)
            throw TestPostgresError("the throwaway PostgreSQL did not start (see stderr)")
        }
        socketDirectory = String(line.dropFirst(6))
    }

    deinit {
        // End of input: the script stops the server and removes its directory.
        close(commands)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(replies)
    }

    /// A URL for a database of the cluster.
    public func url(database: String) -> String {
        "postgresql:///\(database)?host=\(socketDirectory)&user=jobrunner"
    }

    /// A new, empty database of its own for one test.
    public func newDatabase() throws(TestPostgresError) -> String {
        let name = "jobs_\(getpid())_\(databases.wrappingAdd(1, ordering: .relaxed).newValue)"
        try execute(url(database: "postgres"), "CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs SQL on a database of the cluster (set-up and tampering in tests).
    public func execute(_ url: String, _ sql: String) throws(TestPostgresError) {
        guard let conn = PQconnectdb(url) else { throw TestPostgresError("out of memory") }
        defer { PQfinish(conn) }
        guard PQstatus(conn) == CONNECTION_OK else { throw TestPostgresError(String(cString: PQerrorMessage(conn))) }
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw TestPostgresError(String(cString: PQerrorMessage(conn)))
        }
    }

    /// A connection a test holds open (a transaction that keeps a lock, say).
    public func session(_ url: String) throws(TestPostgresError) -> Session { try Session(url) }

    /// One open connection; `execute` runs SQL on it.
    ///
    /// `@unchecked Sendable`: used by one test from one thread at a time.
    public final class Session: @unchecked Sendable {
        private let conn: OpaquePointer

        init(_ url: String) throws(TestPostgresError) {
            guard let c = PQconnectdb(url) else { throw TestPostgresError("out of memory") }
            guard PQstatus(c) == CONNECTION_OK else {
                let message = String(cString: PQerrorMessage(c))
                PQfinish(c)
                throw TestPostgresError(message)
            }
            conn = c
        }

        deinit { PQfinish(conn) }

        public func execute(_ sql: String) throws(TestPostgresError) {
            let result = PQexec(conn, sql)
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
                throw TestPostgresError(String(cString: PQerrorMessage(conn)))
            }
        }
    }

    /// Fast shutdown (clients are disconnected); returns once the server is gone.
    public func stop() throws(TestPostgresError) {
        try command("stop", expect: "stopped")
    }

    /// Starts the server again; returns once it accepts connections.
    public func start() throws(TestPostgresError) {
        try command("start", expect: "ready ")
    }

    private func command(_ word: String, expect: String) throws(TestPostgresError) {
        let bytes = Array((word + "\n").utf8)
        guard write(commands, bytes, bytes.count) == bytes.count else { throw TestPostgresError("the cluster's script is gone") }
        let reply = Self.readLine(replies)
        guard reply.hasPrefix(expect) else { throw TestPostgresError("'\(word)' failed: \(reply)") }
    }

    /// One line from the script (blocking; empty at end of output).
    private static func readLine(_ fd: Int32) -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// The checkout this file is in (Sources/PostgresTestSupport/ is two levels down).
    private static func repositoryRoot(_ file: String = #filePath) -> String {
        file.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
    }
}
