import CommandJobs
import JobEngine
import ProcessRunner

/// What the daemon needs before anything starts: the settings, the process
/// runner of command jobs and the job types. `--check-config` stops here.
public struct Configuration {
    public let invocation: Invocation
    public let settings: Settings
    let runner: ProcessRunner
    public let registry: JobRegistry

    public static func load(_ invocation: Invocation) throws(StartFailure) -> Configuration {
        let settings: Settings
        do { settings = try invocation.settings() } catch { throw StartFailure(error.message, exitCode: 2) }
        let runner: ProcessRunner
        do { runner = try ProcessRunner(killGrace: settings.killGrace, outputBudget: settings.maxLogBytes) } catch {
            throw StartFailure(error.message, exitCode: 1)
        }
        let registry: JobRegistry
        do { registry = try loadRegistry(settings, configFile: invocation.configFile, runner: runner) } catch {
            throw StartFailure(error.message, exitCode: 2)
        }
        return Configuration(invocation: invocation, settings: settings, runner: runner, registry: registry)
    }

    /// `--check-config`'s line.
    public var checked: String {
        let commands = registry.types.count - JobRegistry.builtIn.types.count
        return "configuration OK" + (invocation.configFile.map { " (\($0))" } ?? "") + ", \(commands) command job types"
    }
}

/// The built-in job types plus the operator's command types (config file
/// `job_types` and `--job-types-dir`); a bad definition is an error naming its
/// file and field.
func loadRegistry(_ settings: Settings, configFile: String?, runner: ProcessRunner) throws(DefinitionError) -> JobRegistry {
    var registry = JobRegistry.builtIn
    let builtIn = registry.types.map(\.name)
    let commands = try CommandTypeLoader.load(configTypes: settings.jobTypes, configFile: configFile,
                                              directory: settings.jobTypesDir, runner: runner, builtIn: builtIn)
    for t in commands { registry.register(t) }
    return registry
}
