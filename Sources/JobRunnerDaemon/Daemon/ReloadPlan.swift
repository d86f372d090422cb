import JobRunnerAPI
import Webhooks

/// What SIGHUP does, decided from the settings in effect and those just read,
/// without doing any of it: the settings in effect afterwards, what to apply,
/// and what changed that only a restart applies (reported, not applied).
/// Logs are always reopened, TLS files read again and job types reloaded.
public struct ReloadPlan {
    /// The settings in effect afterwards: the running ones with every live
    /// setting, and the sections applied, taken from the fresh ones.
    public var settings: Settings
    /// `--retain-finished` changed: the pruner restarts with the new rule.
    public var restartPruner = false
    public var tokens = Tokens.unchanged
    /// The webhook endpoints, when they changed.
    public var webhooks: [WebhookEndpoint]?
    /// Keys and sections whose new value waits for a restart, in table order.
    public var needsRestart: [String] = []

    public enum Tokens: Equatable {
        case unchanged
        /// The API checks against these from now on; `revoked` names those gone.
        case replace([TokenEntry], revoked: [String])
        /// Tokens were added to a daemon started without authentication.
        case ignoredUntilRestart
    }

    public init(running: Settings, fresh: Settings, authMode: Authenticator.Mode) {
        settings = running
        for setting in SettingTable.all where !setting.same(running, fresh) {
            switch setting.reload {
            case .live: settings.values[setting.key] = fresh.values[setting.key]
            case .rereadsFile, .restart: needsRestart.append(setting.key)
            }
        }
        restartPruner = fresh.retainFinished != running.retainFinished
        if authMode == .tokens {
            let revoked = running.tokens.filter { old in !fresh.tokens.contains { $0.hash == old.hash } }.map(\.name)
            tokens = .replace(fresh.tokens, revoked: revoked)
            settings.tokens = fresh.tokens
        } else if !fresh.tokens.isEmpty && running.auth == nil {
            tokens = .ignoredUntilRestart
        }
        if fresh.webhooks != running.webhooks {
            webhooks = fresh.webhooks
            settings.webhooks = fresh.webhooks
        }
        settings.jobTypes = fresh.jobTypes
        if fresh.queues != running.queues { needsRestart.append("queues") }
        if fresh.schedules != running.schedules { needsRestart.append("schedules") }
    }
}
