import Glibc
import HTTPTestSupport
import JSON
@testable import JobRunnerDaemon
import Testing

/// The Daemon in this process: started from an invocation, serving, reloaded
/// from its config file, drained.
@Suite(.timeLimit(.minutes(10))) struct DaemonLifecycleTests {
    func capacity(_ port: Int) throws -> Int64? {
        let response = try httpRequest(port: port, "GET", "/api/stats")
        return try JSONValue.parse(response.body)["worker"]?["capacity"]?.intValue
    }

    @Test(.timeLimit(.minutes(1))) func startsServesReloadsWhatItCanAndDrains() async throws {
        try await offPool {
            var template = Array("/tmp/jobrunner-daemon-XXXXXX".utf8CString)
            let fd = mkstemp(&template)
            let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            close(fd)
            defer { unlink(path) }
            func config(_ json: String) throws {
                let file = try #require(fopen(path, "w"))
                fputs(json, file)
                fclose(file)
            }
            try config(#"{"concurrency": 2, "log-level": "warning", "www": "/nonexistent-www"}"#)
            var invocation = Invocation()
            invocation.flags = ["port": "0", "db": ":memory:"]
            invocation.configFile = path
            let daemon = try Daemon.start(try Configuration.load(invocation))
            #expect(daemon.port > 0)
            #expect(try capacity(daemon.port) == 2)

            try config(#"{"concurrency": 4, "log-level": "error", "www": "/nonexistent-www"}"#)
            daemon.reload()
            #expect(daemon.settings.logLevel == .error)
            // A new concurrency waits for a restart: the running daemon keeps its two slots.
            #expect(daemon.settings.concurrency == 2)
            #expect(try capacity(daemon.port) == 2)

            try config(#"{"concurrency": "many"}"#)
            daemon.reload()
            #expect(daemon.settings.logLevel == .error)

            daemon.drain(after: SIGTERM, signals: .block())
            #expect(throws: (any Error).self) { try httpRequest(port: daemon.port, "GET", "/api/stats") }
        }
    }

    @Test func aBadSettingStopsTheStartWithExitCode2() {
        var invocation = Invocation()
        invocation.flags = ["port": "70000"]
        #expect(throws: StartFailure.self) { try Configuration.load(invocation) }
        do {
            _ = try Configuration.load(invocation)
        } catch {
            #expect(error.exitCode == 2 && !error.reported)
            #expect(error.message == "invalid --port '70000': must be an integer from 0 to 65535")
        }
    }
}
