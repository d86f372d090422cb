import JobEngine
import JobRunnerAPI

extension Daemon {
    /// SIGHUP: reads the settings again (flags, environment, config file) and
    /// applies what can change while running (`ReloadPlan`); a file that cannot
    /// be used changes nothing, and says why.
    public func reload() {
        let fresh: Settings
        do { fresh = try invocation.settings() } catch {
            logger.log(.error, "SIGHUP: configuration not reloaded: \(error.message)")
            return
        }
        let plan = ReloadPlan(running: settings, fresh: fresh, authMode: authMode)
        settings = plan.settings
        logger.reconfigure(minimum: settings.logLevel, path: settings.logFile, accessLog: settings.accessLog)
        if plan.restartPruner {
            pruner?.stop()
            pruner = settings.retainFinished.map { Pruner(engine: engine, rule: $0) }
        }
        switch plan.tokens {
        case .unchanged: break
        case .replace(let tokens, let revoked):
            api.replaceTokens(tokens)
            logger.log(.info, "SIGHUP: \(tokens.count) tokens loaded" + (revoked.isEmpty ? "" : "; revoked: \(revoked.joined(separator: ", "))"))
        case .ignoredUntilRestart:
            logger.log(.warning, "SIGHUP: tokens take effect after a restart (this daemon started without authentication)")
        }
        if let endpoints = plan.webhooks {
            // The queue first: from here on no delivery is made for a removed URL,
            // and those made before are ended by the dispatcher's reconfiguration.
            queue.setWebhooks(endpoints.isEmpty ? nil : webhooks.hook(renderer: JobRunnerAPI.webhookBody, endpoints: endpoints))
            webhooks.replaceEndpoints(endpoints)
            logger.log(.info, "SIGHUP: \(endpoints.count) webhook endpoints loaded")
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
        if !plan.needsRestart.isEmpty {
            logger.log(.warning, "SIGHUP: changed, but applied only at the next start: \(plan.needsRestart.joined(separator: ", "))")
        }
        do {
            let types = try loadRegistry(fresh, configFile: invocation.configFile, runner: runner)
            engine.replaceRegistry(types)
            logger.log(.info, "SIGHUP: \(types.types.count - JobRegistry.builtIn.types.count) command job types loaded")
        } catch {
            logger.log(.error, "SIGHUP: job types not reloaded, the previous ones stay: \(error.message)")
        }
    }
}
