import ArgumentParser
import Glibc
import HTTPServer
import JobEngine
import JobQueue
import JobRunnerAPI
import JobStoreSQLite

/// Parses flags; a bad flag is one clear line on stderr and exit code 2.
func parseOptions() -> Options {
    do {
        return try Options.parse()
    } catch {
        let code = Options.exitCode(for: error)
        if code == .success {
            print(Options.fullMessage(for: error))
            exit(0)
        }
        let message = Options.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
        writeStderr("jobrunnerd: \(message) (see --help)\n")
        exit(2)
    }
}

/// The default web root: the installed share directory next to the binary's
/// prefix if it exists, else `./www`.
func defaultWebRoot() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if n > 0 {
        let exe = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let bin = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let prefix = bin.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let share = prefix + "/share/jobrunner/www"
        if access(share + "/index.html", R_OK) == 0 { return share }
    }
    return "./www"
}

// Signals are taken by `sigwait` on the main thread, so block them before any
// other thread exists (threads inherit the mask).
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &signals, nil)
signal(SIGPIPE, SIG_IGN)
// A file-size limit makes writes fail (EFBIG, reported as a storage error), not kill us.
signal(SIGXFSZ, SIG_IGN)

let options = parseOptions()
let logger = Logger(minimum: Logger.level(named: options.logLevel) ?? .info)

// Streams and WebSockets each hold a descriptor: allow as many as the hard limit.
var limit = rlimit()
if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}

/// Opens the durable store (creating its directory) or the in-memory queue.
func openQueue() -> (JobQueue, SQLiteJobStore?) {
    guard options.db != ":memory:" else { return (JobQueue(), nil) }
    let directory = options.db.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    if !directory.isEmpty && access(directory, F_OK) != 0 {
        var prefix = ""
        for part in directory.split(separator: "/") {
            prefix += (directory.hasPrefix("/") || !prefix.isEmpty ? "/" : "") + part
            mkdir(prefix, 0o750)
        }
    }
    do {
        let store = try SQLiteJobStore(path: options.db, sync: options.sync == "normal" ? .normal : .full)
        return (try JobQueue(store: store), store)
    } catch {
        writeStderr("jobrunnerd: \(error.message)\n")
        exit(1)
    }
}

let webRoot = options.www ?? defaultWebRoot()
let (queue, store) = openQueue()
let engine = JobEngine(queue: queue, capacity: options.concurrency)
var apiConfiguration = APIConfiguration(webRoot: webRoot)
apiConfiguration.maxBodyBytes = options.maxBody
apiConfiguration.maxWebSocketMessageBytes = options.wsMaxMessage
apiConfiguration.allowedOrigins = options.origins
apiConfiguration.pingIntervalSeconds = options.wsPingInterval
let api = JobRunnerAPI(engine: engine, configuration: apiConfiguration)

var configuration = ServerConfiguration()
configuration.host = options.host
configuration.port = options.port
configuration.threads = options.threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
configuration.maxBodyBytes = options.maxBody
configuration.maxConnections = options.maxConnections
configuration.maxConnectionsPerIP = options.maxConnectionsPerIP
configuration.idleTimeoutSeconds = options.idleTimeout
configuration.streamHeartbeatSeconds = options.sseHeartbeat
configuration.webSocket.maxMessageBytes = options.wsMaxMessage
configuration.webSocket.maxQueuedBytes = options.wsMaxQueue
configuration.webSocket.pingIntervalSeconds = options.wsPingInterval
configuration.renderError = JobRunnerAPI.renderError
configuration.log = { level, message in logger.log(level, message) }

let server = HTTPServer(configuration: configuration, router: api.makeRouter())
do {
    try server.start()
} catch {
    writeStderr("jobrunnerd: \(error.message)\n")
    exit(2)
}
api.start()
engine.resume()

// `--retain-finished`: prune now and then every minute, off the request threads.
let pruner: Task<Void, Never>? = options.retainFinished.flatMap(Retention.init).map { rule in
    Task.detached {
        while !Task.isCancelled {
            switch rule {
            case .olderThan(let seconds): queue.pruneFinished(before: epochNow() - seconds, keep: nil)
            case .keepNewest(let n): queue.pruneFinished(before: nil, keep: n)
            }
            try? await Task.sleep(for: .seconds(60))
        }
    }
}
let shownHost = options.host.contains(":") ? "[\(options.host)]" : options.host
logger.log(.info, "listening on http://\(shownHost):\(server.port) (web root \(webRoot), \(options.concurrency) job slots, \(configuration.threads) threads, jobs in \(store == nil ? "memory" : options.db))")

var received: Int32 = 0
while sigwait(&signals, &received) == 0 {
    if received == SIGINT || received == SIGTERM { break }
}
logger.log(.info, "signal \(received): shutting down")
pruner?.cancel()
engine.stop()
api.stop()
server.stop()
store?.close()
logger.log(.info, "stopped")
exit(0)
