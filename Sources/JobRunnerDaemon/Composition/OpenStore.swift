import Essentials
import Glibc
import JobQueue
import JobRunnerAPI
import JobStorePostgres
import JobStoreSQLite
import Webhooks

/// Opens the durable store (SQLite, creating its directory, or PostgreSQL for a
/// `postgresql://` URL) or the in-memory queue, with the webhook dispatcher over
/// the store's outbox (or one in memory). A store that cannot be used is exit code 1.
func openQueue(_ settings: Settings, _ logger: Logger) throws(StartFailure) -> (JobQueue, (any JobStore)?, WebhookDispatcher) {
    let log: @Sendable (LogLevel, String) -> Void = { level, message in logger.log(level, message) }
    guard settings.db != ":memory:" else {
        let dispatcher = WebhookDispatcher(outbox: MemoryWebhookOutbox(), endpoints: settings.webhooks, log: log)
        let queue = JobQueue(maxLogBytes: settings.maxLogBytes)
        if !settings.webhooks.isEmpty { queue.setWebhooks(dispatcher.hook(renderer: JobRunnerAPI.webhookBody)) }
        return (queue, nil, dispatcher)
    }
    do throws(StoreError) {
        let store = try openStore(settings)
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
        throw logged(error.message, exitCode: 1, settings, logger)
    }
}

private func openStore(_ settings: Settings) throws(StoreError) -> any JobStore {
    if PostgresJobStore.accepts(settings.db) {
        return try PostgresJobStore(url: settings.db, synchronousCommit: settings.sync != "normal",
                                    nodeID: settings.nodeID ?? PostgresCluster.defaultNodeID(port: settings.port),
                                    nodeTimeout: settings.nodeTimeout)
    }
    let directory = settings.db.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    if !directory.isEmpty && access(directory, F_OK) != 0 {
        var prefix = ""
        for part in directory.split(separator: "/") {
            prefix += (directory.hasPrefix("/") || !prefix.isEmpty ? "/" : "") + part
            mkdir(prefix, 0o750)
        }
    }
    return try SQLiteJobStore(path: settings.db, sync: settings.sync == "normal" ? .normal : .full)
}

/// Where jobs are kept, as the log shows it (a PostgreSQL URL without its password).
func storeDescription(_ settings: Settings) -> String {
    if settings.db == ":memory:" { return "memory" }
    return PostgresJobStore.accepts(settings.db) ? PostgresJobStore.redacted(settings.db) : settings.db
}
