import CommandJobs
import Dispatch
import Essentials
import Glibc
import HTTPServer
import JobEngine
import JobQueue
import JobRunnerDaemon
import JobRunnerAPI
import JobStorePostgres
import JobStoreSQLite
import ProcessRunner
import Systemd
import Webhooks

/// Reads the command line; a bad flag is one clear line on stderr and exit code 2.
func parseOptions() -> Invocation {
    switch Invocation.parse(CommandLine.arguments.dropFirst()) {
    case .run(let invocation): return invocation
    case .show(let text):
        print(text)
        exit(0)
    case .refused(let message):
        writeStderr("jobrunnerd: \(message) (see --help)\n")
        exit(2)
    }
}

func loadSettings(_ options: Invocation) throws(ConfigError) -> Settings {
    try options.settings()
}

/// The default web root: the installed share directory next to the binary's
/// prefix if it exists, else `./www`.
func defaultWebRoot() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if n > 0 {
        let exe = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let parts = exe.split(separator: "/", omittingEmptySubsequences: false)
        let prefix = parts.dropLast(2).joined(separator: "/")
        let share = prefix + "/share/jobrunner/www"
        if access(share + "/index.html", R_OK) == 0 { return share }
    }
    return "./www"
}

/// Where jobs are kept, as the log shows it (a PostgreSQL URL without its password).
func storeDescription(_ settings: Settings) -> String {
    if settings.db == ":memory:" { return "memory" }
    return PostgresJobStore.accepts(settings.db) ? PostgresJobStore.redacted(settings.db) : settings.db
}

/// Opens the durable store (SQLite, creating its directory, or PostgreSQL for a
/// `postgresql://` URL) or the in-memory queue, with the webhook dispatcher over
/// the store's outbox (or one in memory).
func openQueue(_ settings: Settings, _ logger: Logger) -> (JobQueue, (any JobStore)?, WebhookDispatcher) {
    let log: @Sendable (LogLevel, String) -> Void = { level, message in logger.log(level, message) }
    guard settings.db != ":memory:" else {
        let dispatcher = WebhookDispatcher(outbox: MemoryWebhookOutbox(), endpoints: settings.webhooks, log: log)
        let queue = JobQueue(maxLogBytes: settings.maxLogBytes)
        if !settings.webhooks.isEmpty { queue.setWebhooks(dispatcher.hook(renderer: JobRunnerAPI.webhookBody)) }
        return (queue, nil, dispatcher)
    }
    do throws(StoreError) {
        let store: any JobStore
        if PostgresJobStore.accepts(settings.db) {
            store = try PostgresJobStore(url: settings.db, synchronousCommit: settings.sync != "normal",
                                         nodeID: settings.nodeID ?? PostgresCluster.defaultNodeID(port: settings.port),
                                         nodeTimeout: settings.nodeTimeout)
        } else {
            let directory = settings.db.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            if !directory.isEmpty && access(directory, F_OK) != 0 {
                var prefix = ""
                for part in directory.split(separator: "/") {
                    prefix += (directory.hasPrefix("/") || !prefix.isEmpty ? "/" : "") + part
                    mkdir(prefix, 0o750)
                }
            }
            store = try SQLiteJobStore(path: settings.db, sync: settings.sync == "normal" ? .normal : .full)
        }
        store.onFailureChange { failure in
            if let failure {
                logger.log(.error, "storage failing, changes are refused with 503 until it recovers: \(failure.message)")
            } else {
                logger.log(.info, "storage recovered: commits succeed again")
            }
        }
        let outbox: any WebhookOutbox = (store as? any WebhookOutboxStore).map { StoreWebhookOutbox(store: $0) } ?? MemoryWebhookOutbox()
        let dispatcher = WebhookDispatcher(outbox: outbox, endpoints: settings.webhooks, log: log)
        let hook = settings.webhooks.isEmpty ? nil : dispatcher.hook(renderer: JobRunnerAPI.webhookBody)
        return (try JobQueue(store: store, maxLogBytes: settings.maxLogBytes, webhooks: hook), store, dispatcher)
    } catch {
        logger.log(.error, error.message)
        if settings.logFile != nil { writeStderr("jobrunnerd: \(error.message)\n") }
        exit(1)
    }
}

/// The built-in job types plus the operator's command types (config file
/// `job_types` and `--job-types-dir`); a bad definition is an error naming its
/// file and field.
func loadRegistry(_ settings: Settings, _ options: Invocation, runner: ProcessRunner) throws(DefinitionError) -> JobRegistry {
    var registry = JobRegistry.builtIn
    let builtIn = registry.types.map(\.name)
    let commands = try CommandTypeLoader.load(configTypes: settings.jobTypes, configFile: options.configFile,
                                              directory: settings.jobTypesDir, runner: runner, builtIn: builtIn)
    for t in commands { registry.register(t) }
    return registry
}

/// Prunes by `--retain-finished` now and every minute (reloadable on SIGHUP).
final class Pruner: Sendable {
    private let task: Task<Void, Never>

    init(engine: JobEngine, rule: Retention) {
        task = Task.detached {
            while !Task.isCancelled {
                switch rule {
                case .olderThan(let seconds): engine.pruneFinished(before: epochNow() - seconds, keep: nil)
                case .keepNewest(let n): engine.pruneFinished(before: nil, keep: n)
                }
                try? await Task.sleep(for: .seconds(60))
            }
        }
    }

    func stop() { task.cancel() }
}

// Signals are taken by `sigwait` on the main thread, so block them before any
// other thread exists (threads inherit the mask).
var signals = sigset_t()
sigemptyset(&signals)
for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, s) }
pthread_sigmask(SIG_BLOCK, &signals, nil)
signal(SIGPIPE, SIG_IGN)
// A file-size limit makes writes fail (EFBIG, reported as a storage error), not kill us.
signal(SIGXFSZ, SIG_IGN)

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "token" {
    TokenCommand.main(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

let options = parseOptions()
var settings: Settings
do {
    settings = try loadSettings(options)
} catch {
    writeStderr("jobrunnerd: \(error.message)\n")
    exit(2)
}
let runner: ProcessRunner
do {
    runner = try ProcessRunner(killGrace: settings.killGrace, outputBudget: settings.maxLogBytes)
} catch {
    writeStderr("jobrunnerd: \(error.message)\n")
    exit(1)
}
let registry: JobRegistry
do {
    registry = try loadRegistry(settings, options, runner: runner)
} catch {
    writeStderr("jobrunnerd: \(error.message)\n")
    exit(2)
}
if options.checkConfig {
    let commands = registry.types.count - JobRegistry.builtIn.types.count
    print("configuration OK" + (options.configFile.map { " (\($0))" } ?? "") + ", \(commands) command job types")
    exit(0)
}

let logger = Logger(minimum: settings.logLevel, path: settings.logFile, accessLog: settings.accessLog,
                    journal: Systemd.stderrIsJournal)

// Streams and WebSockets each hold a descriptor: allow as many as the hard limit.
var limit = rlimit()
if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}

let webRoot = settings.www ?? defaultWebRoot()
if access(webRoot + "/index.html", R_OK) != 0 {
    logger.log(.warning, "no dashboard at \(webRoot) (index.html missing): the API works, / answers 404; set --www")
}
let (queue, store, webhooks) = openQueue(settings, logger)
let engine = JobEngine(queue: queue, registry: registry, capacity: settings.concurrency)
// Queues named in the config file start with its settings (API changes to them
// last until the next start; changes to other queues are kept across restarts).
for (name, q) in settings.queues {
    engine.updateQueue(name, QueueSettings(concurrency: q.concurrency, paused: q.paused)) { result in
        if case .failure(let e) = result { logger.log(.error, "queue \(name): settings not stored: \(e.message)") }
    }
}

// The cron arithmetic first: stored schedules catch up, and the config file's
// get their next run as they are stored.
engine.startSchedules()
// Schedules of the config file are created or updated (those made through the
// API stay as they are); a bad one stops the start, naming it and the field.
if let configured = settings.schedules {
    guard case .array(let items) = configured else {
        writeStderr("jobrunnerd: 'schedules' in \(options.configFile ?? "the config file") must be an array\n")
        exit(2)
    }
    for (i, item) in items.enumerated() {
        let place = "schedules[\(i)] in \(options.configFile ?? "the config file")"
        guard case .object(let o) = item else {
            writeStderr("jobrunnerd: \(place): must be an object\n")
            exit(2)
        }
        let schedule: Schedule
        do { schedule = try engine.scheduleDefinition(o) } catch {
            writeStderr("jobrunnerd: \(place): \(error.message)\n")
            exit(2)
        }
        engine.upsertSchedule(schedule) { result in
            if case .failure(let e) = result { logger.log(.error, "schedule \(schedule.name): not stored: \(e.message)") }
        }
    }
}
// Serve only once the config file's queues and schedules are committed.
let configured = DispatchSemaphore(value: 0)
engine.whenDurable { _ in configured.signal() }
configured.wait()

var apiConfiguration = APIConfiguration(webRoot: webRoot)
apiConfiguration.nodeName = settings.nodeID ?? PostgresCluster.defaultNodeID(port: settings.port)
apiConfiguration.version = jobRunnerVersion
apiConfiguration.maxBodyBytes = settings.maxBody
apiConfiguration.maxWebSocketMessageBytes = settings.wsMaxMessage
apiConfiguration.allowedOrigins = settings.allowedOrigins
apiConfiguration.pingIntervalSeconds = settings.wsPingInterval
// Authentication (docs/security.md): tokens when the config lists any (or
// --auth tokens), else open, which only a loopback address allows.
let authMode: Authenticator.Mode = settings.auth ?? (settings.tokens.isEmpty ? .open : .tokens)
apiConfiguration.authenticator = Authenticator(mode: authMode, tokens: settings.tokens, sessionLifetime: settings.sessionLifetime)
apiConfiguration.rateLimiter = settings.rateLimit.map { RateLimiter(perSecond: $0) }
let audit: @Sendable (AuditRecord) -> Void = { record in logger.log(.info, AuthAudit.line(record)) }
apiConfiguration.audit = audit
apiConfiguration.webhookDeliveries = { [outbox = webhooks.outbox] limit, before throws(StoreError) in
    try outbox.recent(limit: limit, before: before)
}
apiConfiguration.metrics = settings.metrics
var tls: TLSCredentials?
if let cert = settings.tlsCert, let key = settings.tlsKey {
    do { tls = try TLSCredentials(certificateFile: cert, keyFile: key) } catch {
        writeStderr("jobrunnerd: \(error.message)\n")
        exit(2)
    }
}
let api = JobRunnerAPI(engine: engine, configuration: apiConfiguration)

var configuration = ServerConfiguration()
configuration.host = settings.host
configuration.port = settings.port
let inherited = Systemd.listenFDs()
configuration.listenSocket = inherited.first
configuration.threads = settings.threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
configuration.maxBodyBytes = settings.maxBody
configuration.maxConnections = settings.maxConnections
configuration.maxConnectionsPerIP = settings.maxConnectionsPerIP
configuration.idleTimeoutSeconds = settings.idleTimeout
configuration.streamHeartbeatSeconds = settings.sseHeartbeat
configuration.webSocket.maxMessageBytes = settings.wsMaxMessage
configuration.webSocket.maxQueuedBytes = settings.wsMaxQueue
configuration.webSocket.pingIntervalSeconds = settings.wsPingInterval
configuration.renderError = JobRunnerAPI.renderError
configuration.auditLog = audit
configuration.tls = tls
configuration.log = { level, message in logger.log(level, message) }
configuration.accessLog = { method, path, status, seconds in
    if logger.accessLogEnabled {
        logger.log(.info, "\(method) \(path) \(status) \(Int((seconds * 1_000_000).rounded())) µs")
    }
}

let server = HTTPServer(configuration: configuration, router: api.makeRouter())
api.setEventLoopProbe { [server] done in server.probeEventLoop(done) }
do {
    try server.start()
} catch {
    // One line on stderr (and in the log file, if there is one).
    logger.log(.error, error.message)
    if settings.logFile != nil { writeStderr("jobrunnerd: \(error.message)\n") }
    exit(2)
}
// Safe by default: without authentication only this machine may connect.
if authMode == .open && settings.auth == nil && server.listening?.isLoopback != true {
    let message = "refusing to serve \(server.listening?.host ?? settings.host) without authentication: no tokens are configured. "
        + "Add a \"tokens\" section to the config file (jobrunnerd token new NAME --scopes read,submit), "
        + "listen on a loopback address, or pass --auth none to let anyone who can connect do anything"
    logger.log(.error, message)
    if settings.logFile != nil { writeStderr("jobrunnerd: \(message)\n") }
    exit(2)
}
api.start()
engine.resume()
do { try webhooks.start() } catch {
    logger.log(.error, "cannot start the webhook thread: \(error)")
    exit(1)
}
var pruner = settings.retainFinished.map { Pruner(engine: engine, rule: $0) }
let notifier = ServiceNotifier(engine: engine)

let shownHost = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
let scheme = tls == nil ? "http" : "https"
let place = inherited.isEmpty ? "\(scheme)://\(shownHost):\(server.port)" : "an inherited socket (port \(server.port), \(scheme))"
var node = ""
if let shared = store as? PostgresJobStore {
    shared.setAddress("\(shownHost):\(server.port)")
    node = " as node \(shared.nodeID) (node timeout \(settings.nodeTimeout) s)"
}
logger.log(.info, "listening on \(place) (web root \(webRoot), \(settings.concurrency) job slots, \(configuration.threads) threads, jobs in \(storeDescription(settings))\(node), auth \(authMode == .open ? "none" : "tokens (\(settings.tokens.count))"), \(settings.webhooks.count) webhook endpoints)")
Systemd.notify("READY=1")
if authMode == .open && !settings.tokens.isEmpty {
    logger.log(.warning, "--auth none: the \(settings.tokens.count) configured tokens are ignored; anyone who can connect may do anything")
}
if authMode == .tokens && tls == nil && server.listening?.isLoopback != true {
    logger.log(.warning, "tokens and session cookies cross the network in clear text: serve TLS with --tls-cert and --tls-key")
}

// Serve until SIGTERM or SIGINT; SIGHUP reloads what can be reloaded.
var received: Int32 = 0
while sigwait(&signals, &received) == 0 {
    if received == SIGHUP {
        do {
            let fresh = try loadSettings(options)
            logger.reconfigure(minimum: fresh.logLevel, path: fresh.logFile, accessLog: fresh.accessLog)
            if fresh.retainFinished != settings.retainFinished {
                pruner?.stop()
                pruner = fresh.retainFinished.map { Pruner(engine: engine, rule: $0) }
            }
            settings.logLevel = fresh.logLevel
            settings.logFile = fresh.logFile
            settings.accessLog = fresh.accessLog
            settings.retainFinished = fresh.retainFinished
            if authMode == .tokens {
                let revoked = settings.tokens.filter { old in !fresh.tokens.contains { $0.hash == old.hash } }.map(\.name)
                api.replaceTokens(fresh.tokens)
                settings.tokens = fresh.tokens
                logger.log(.info, "SIGHUP: \(fresh.tokens.count) tokens loaded" + (revoked.isEmpty ? "" : "; revoked: \(revoked.joined(separator: ", "))"))
            } else if !fresh.tokens.isEmpty && settings.auth == nil {
                logger.log(.warning, "SIGHUP: tokens take effect after a restart (this daemon started without authentication)")
            }
            if fresh.webhooks != settings.webhooks {
                // The queue first: from here on no delivery is made for a removed URL,
                // and those made before are ended by the dispatcher's reconfiguration.
                queue.setWebhooks(fresh.webhooks.isEmpty ? nil : webhooks.hook(renderer: JobRunnerAPI.webhookBody, endpoints: fresh.webhooks))
                webhooks.replaceEndpoints(fresh.webhooks)
                settings.webhooks = fresh.webhooks
                logger.log(.info, "SIGHUP: \(fresh.webhooks.count) webhook endpoints loaded")
            }
            if let tls {
                do {
                    try tls.reload()
                    logger.log(.info, "SIGHUP: TLS certificate reloaded from \(tls.certificateFile)")
                } catch {
                    logger.log(.error, "SIGHUP: TLS certificate not reloaded, the previous one stays: \(error.message)")
                }
            }
            logger.log(.info, "SIGHUP: reloaded log-level, log-file, access-log and retain-finished; logs reopened")
            do {
                let types = try loadRegistry(fresh, options, runner: runner)
                engine.replaceRegistry(types)
                logger.log(.info, "SIGHUP: \(types.types.count - JobRegistry.builtIn.types.count) command job types loaded")
            } catch {
                logger.log(.error, "SIGHUP: job types not reloaded, the previous ones stay: \(error.message)")
            }
        } catch {
            logger.log(.error, "SIGHUP: configuration not reloaded: \(error.message)")
        }
        continue
    }
    break
}

// Drain: refuse new work, let running jobs finish for the grace period, then
// cancel what is left (recorded as interrupted), end streams and sockets, exit 0.
Systemd.notify("STOPPING=1")
logger.log(.info, "signal \(received): draining (up to \(settings.shutdownGrace) s for \(engine.stats.active) running jobs)")
api.beginShutdown()
engine.pause()
let deadline = monotonicNow() + settings.shutdownGrace
var quick = timespec(tv_sec: 0, tv_nsec: 50_000_000)
while engine.stats.active > 0 && monotonicNow() < deadline {
    // A second SIGTERM or SIGINT ends the grace period at once.
    let again = sigtimedwait(&signals, nil, &quick)
    if again == SIGTERM || again == SIGINT { break }
}
let leftover = engine.stats.active
if leftover > 0 { logger.log(.warning, "cancelling \(leftover) jobs still running after the grace period") }
engine.stop()
let cancelDeadline = monotonicNow() + 2
while engine.stats.active > 0 && monotonicNow() < cancelDeadline {
    _ = sigtimedwait(&signals, nil, &quick)
}
pruner?.stop()
notifier.stop()
// Attempts under way are abandoned (sent again after the next start).
webhooks.stop()
// The store first: a change still waiting for its commit is committed and
// answered truly (never a 503 for a change that then happens anyway).
store?.close()
api.stop()
server.stop()
logger.log(.info, "stopped")
exit(0)
