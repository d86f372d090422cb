import JSON
import JobRunnerAPI
@testable import JobRunnerDaemon
import Testing
import Webhooks

/// The SIGHUP diff: what is applied live, what waits for a restart, and what
/// becomes of tokens and webhooks, from the running and the fresh settings alone.
@Suite(.timeLimit(.minutes(10))) struct ReloadPlanTests {
    func settings(_ flags: [String: String] = [:]) -> Settings {
        try! Settings(flags: flags, environment: [:], configFile: nil)
    }

    func token(_ name: String, _ byte: UInt8) -> TokenEntry {
        TokenEntry(name: name, hash: [UInt8](repeating: byte, count: 32), scopes: [.read])
    }

    @Test func nothingChangedIsNothingToDo() {
        let plan = ReloadPlan(running: settings(["port": "0"]), fresh: settings(["port": "0"]), authMode: .open)
        #expect(plan.needsRestart.isEmpty && !plan.restartPruner && plan.tokens == .unchanged && plan.webhooks == nil)
        #expect(plan.settings.port == 0)
    }

    @Test func liveSettingsAreAppliedAndTheRestAreReported() {
        let running = settings(["port": "8081", "concurrency": "2", "log-level": "info"])
        let fresh = settings(["port": "9000", "concurrency": "2", "log-level": "debug", "access-log": "true",
                              "retain-finished": "7d", "max-body": "4096", "job-types-dir": "/tmp/types"])
        let plan = ReloadPlan(running: running, fresh: fresh, authMode: .open)
        #expect(plan.settings.logLevel == .debug && plan.settings.accessLog && plan.settings.retainFinished == .olderThan(seconds: 7 * 86400))
        #expect(plan.settings.jobTypesDir == "/tmp/types")
        #expect(plan.restartPruner)
        // In effect still: the port and body limit the daemon started with.
        #expect(plan.settings.port == 8081 && plan.settings.maxBody == 1 << 20)
        #expect(plan.needsRestart == ["port", "max-body"])
    }

    @Test func aNewCertificatePathWaitsForARestart() {
        let running = settings(["tls-cert": "a.pem", "tls-key": "a.key"])
        let plan = ReloadPlan(running: running, fresh: settings(["tls-cert": "b.pem", "tls-key": "a.key"]), authMode: .tokens)
        #expect(plan.needsRestart == ["tls-cert"] && plan.settings.tlsCert == "a.pem")
        let same = ReloadPlan(running: running, fresh: running, authMode: .tokens)
        #expect(same.needsRestart.isEmpty)
    }

    @Test func tokensAreReplacedAndRevokedOnesNamedWhenTokensAreOn() {
        var running = settings()
        running.tokens = [token("ci", 1), token("ops", 2)]
        var fresh = settings()
        fresh.tokens = [token("ops", 2), token("new", 3)]
        let plan = ReloadPlan(running: running, fresh: fresh, authMode: .tokens)
        #expect(plan.tokens == .replace(fresh.tokens, revoked: ["ci"]))
        #expect(plan.settings.tokens == fresh.tokens)
    }

    @Test func tokensAddedToAnOpenDaemonWaitForARestartUnlessAuthNoneWasGiven() {
        var fresh = settings()
        fresh.tokens = [token("ci", 1)]
        let plan = ReloadPlan(running: settings(), fresh: fresh, authMode: .open)
        #expect(plan.tokens == .ignoredUntilRestart && plan.settings.tokens.isEmpty)
        var explicit = settings(["auth": "none"])
        explicit.tokens = [token("ci", 1)]
        #expect(ReloadPlan(running: settings(["auth": "none"]), fresh: explicit, authMode: .open).tokens == .unchanged)
    }

    @Test func webhooksAreReplacedOnlyWhenTheyChanged() throws {
        let section = try JSONValue.parse(Array(#"[{"url": "https://example.com/h", "events": ["job_failed"], "secret": "s"}]"#.utf8))
        let endpoints = try WebhookEndpoint.parseSection(section)
        var fresh = settings()
        fresh.webhooks = endpoints
        let plan = ReloadPlan(running: settings(), fresh: fresh, authMode: .open)
        #expect(plan.webhooks == endpoints && plan.settings.webhooks == endpoints)
        #expect(ReloadPlan(running: fresh, fresh: fresh, authMode: .open).webhooks == nil)
    }

    @Test func queuesAndSchedulesOfTheFileWaitForARestart() {
        var fresh = settings()
        fresh.queues = ["email": QueueConfig(concurrency: 2, paused: false)]
        fresh.schedules = .array([])
        let plan = ReloadPlan(running: settings(), fresh: fresh, authMode: .open)
        #expect(plan.needsRestart == ["queues", "schedules"])
        #expect(plan.settings.queues.isEmpty && plan.settings.schedules == nil)
    }
}
