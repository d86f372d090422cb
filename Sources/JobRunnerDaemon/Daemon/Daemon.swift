import Essentials
import HTTPServer
import JobEngine
import JobQueue
import JobRunnerAPI
import ProcessRunner
import Webhooks

/// The running daemon: the parts `start` composed (store, queue, engine, API,
/// server, webhooks), and the settings in effect, which `reload` (SIGHUP)
/// changes and `drain` (SIGTERM, SIGINT) ends with.
///
/// Used from the main thread only (start, the signal loop, drain), so it is not
/// Sendable; the parts it holds are, and their own threads use them.
public final class Daemon {
    let invocation: Invocation
    let runner: ProcessRunner
    let logger: Logger
    let queue: JobQueue
    let store: (any JobStore)?
    let webhooks: WebhookDispatcher
    let engine: JobEngine
    let api: JobRunnerAPI
    let server: HTTPServer
    let tls: TLSCredentials?
    let authMode: Authenticator.Mode
    let notifier: ServiceNotifier
    /// The settings in effect: those of the start, with what SIGHUP applied since.
    public internal(set) var settings: Settings
    var pruner: Pruner?

    /// The port it serves on (the one picked, for `--port 0`).
    public var port: Int { server.port }

    init(_ configuration: Configuration, logger: Logger, queue: JobQueue, store: (any JobStore)?, webhooks: WebhookDispatcher,
         engine: JobEngine, api: JobRunnerAPI, server: HTTPServer, tls: TLSCredentials?, authMode: Authenticator.Mode) {
        invocation = configuration.invocation
        runner = configuration.runner
        settings = configuration.settings
        self.logger = logger
        self.queue = queue
        self.store = store
        self.webhooks = webhooks
        self.engine = engine
        self.api = api
        self.server = server
        self.tls = tls
        self.authMode = authMode
        pruner = settings.retainFinished.map { Pruner(engine: engine, rule: $0) }
        notifier = ServiceNotifier(engine: engine)
    }
}

/// Why the daemon did not start, and the exit code that says so (2: a setting
/// or definition cannot be used, 1: the store or a thread cannot be had).
public struct StartFailure: Error {
    public let message: String
    public let exitCode: Int32
    /// Already logged (and copied to stderr when logs go to a file): nothing more to print.
    public let reported: Bool

    init(_ message: String, exitCode: Int32, reported: Bool = false) {
        self.message = message
        self.exitCode = exitCode
        self.reported = reported
    }
}
