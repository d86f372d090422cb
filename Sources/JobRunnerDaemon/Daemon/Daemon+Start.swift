import Dispatch
import Essentials
import Glibc
import HTTPServer
import JobEngine
import JobRunnerAPI
import JobStorePostgres
import Systemd

extension Daemon {
    /// Opens the store, starts the engine with the config file's queues and
    /// schedules, then serves: the API and the dashboard on the HTTP server, the
    /// webhook thread, the pruner and the systemd notifier. Logs where it listens
    /// and tells systemd it is ready.
    public static func start(_ configuration: Configuration) throws(StartFailure) -> Daemon {
        let settings = configuration.settings
        let logger = Logger(minimum: settings.logLevel, path: settings.logFile, accessLog: settings.accessLog,
                            journal: Systemd.stderrIsJournal)
        raiseDescriptorLimit()
        let webRoot = settings.www ?? defaultWebRoot()
        if access(webRoot + "/index.html", R_OK) != 0 {
            logger.log(.warning, "no dashboard at \(webRoot) (index.html missing): the API works, / answers 404; set --www")
        }
        let (queue, store, webhooks) = try openQueue(settings, logger)
        let engine = JobEngine(queue: queue, registry: configuration.registry, capacity: settings.concurrency)
        applyConfiguredQueues(settings.queues, to: engine, logger)
        // The cron arithmetic first: stored schedules catch up, and the config file's
        // get their next run as they are stored.
        engine.startSchedules()
        try applyConfiguredSchedules(settings.schedules, configFile: configuration.invocation.configFile, to: engine, logger)
        // Serve only once the config file's queues and schedules are committed.
        let configured = DispatchSemaphore(value: 0)
        engine.whenDurable { _ in configured.signal() }
        configured.wait()

        // Authentication (docs/security.md): tokens when the config lists any (or
        // --auth tokens), else open, which only a loopback address allows.
        let authMode: Authenticator.Mode = settings.auth ?? (settings.tokens.isEmpty ? .open : .tokens)
        let audit: @Sendable (AuditRecord) -> Void = { record in logger.log(.info, AuthAudit.line(record)) }
        var tls: TLSCredentials?
        if let cert = settings.tlsCert, let key = settings.tlsKey {
            do { tls = try TLSCredentials(certificateFile: cert, keyFile: key) } catch { throw StartFailure(error.message, exitCode: 2) }
        }
        let api = JobRunnerAPI(engine: engine, configuration: apiConfiguration(settings, webRoot: webRoot, authMode: authMode,
                                                                               audit: audit, webhooks: webhooks))
        let inherited = Systemd.listenFDs()
        let server = HTTPServer(configuration: serverConfiguration(settings, listenSocket: inherited.first, tls: tls, audit: audit, logger),
                                router: api.makeRouter())
        api.setEventLoopProbe { [server] done in server.probeEventLoop(done) }
        do { try server.start() } catch { throw logged(error.message, exitCode: 2, settings, logger) }
        // Safe by default: without authentication only this machine may connect.
        if authMode == .open && settings.auth == nil && server.listening?.isLoopback != true {
            let message = "refusing to serve \(server.listening?.host ?? settings.host) without authentication: no tokens are configured. "
                + "Add a \"tokens\" section to the config file (jobrunnerd token new NAME --scopes read,submit), "
                + "listen on a loopback address, or pass --auth none to let anyone who can connect do anything"
            throw logged(message, exitCode: 2, settings, logger)
        }
        api.start()
        engine.resume()
        do { try webhooks.start() } catch {
            logger.log(.error, "cannot start the webhook thread: \(error)")
            throw StartFailure("cannot start the webhook thread: \(error)", exitCode: 1, reported: true)
        }
        let daemon = Daemon(configuration, logger: logger, queue: queue, store: store, webhooks: webhooks, engine: engine,
                            api: api, server: server, tls: tls, authMode: authMode)
        daemon.announce(webRoot: webRoot, inherited: !inherited.isEmpty)
        return daemon
    }

    /// The line saying where it listens, READY=1, and warnings about how it is open.
    private func announce(webRoot: String, inherited: Bool) {
        let shownHost = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        let scheme = tls == nil ? "http" : "https"
        let place = inherited ? "an inherited socket (port \(server.port), \(scheme))" : "\(scheme)://\(shownHost):\(server.port)"
        var node = ""
        if let shared = store as? PostgresJobStore {
            shared.setAddress("\(shownHost):\(server.port)")
            node = " as node \(shared.nodeID) (node timeout \(settings.nodeTimeout) s)"
        }
        let auth = authMode == .open ? "none" : "tokens (\(settings.tokens.count))"
        logger.log(.info, "listening on \(place) (web root \(webRoot), \(settings.concurrency) job slots, \(workerThreads(settings)) threads, "
            + "jobs in \(storeDescription(settings))\(node), auth \(auth), \(settings.webhooks.count) webhook endpoints)")
        Systemd.notify("READY=1")
        if authMode == .open && !settings.tokens.isEmpty {
            logger.log(.warning, "--auth none: the \(settings.tokens.count) configured tokens are ignored; anyone who can connect may do anything")
        }
        if authMode == .tokens && tls == nil && server.listening?.isLoopback != true {
            logger.log(.warning, "tokens and session cookies cross the network in clear text: serve TLS with --tls-cert and --tls-key")
        }
    }
}

/// A failure logged as an error, and copied to stderr when the log goes to a file
/// (so whoever started the daemon sees it too).
func logged(_ message: String, exitCode: Int32, _ settings: Settings, _ logger: Logger) -> StartFailure {
    logger.log(.error, message)
    if settings.logFile != nil { writeStderr("jobrunnerd: \(message)\n") }
    return StartFailure(message, exitCode: exitCode, reported: true)
}
