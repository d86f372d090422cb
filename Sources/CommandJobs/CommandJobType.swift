import JSON
import JobEngine
import JobQueue
import ProcessRunner
import Synchronization

/// A job type an operator defined: a program run with the job's params in its
/// argv (no shell), its output kept as the job's log, fd 3 for progress.
public struct CommandJobType: JobType {
    public let name: String
    public let description: String
    public let parameters: [ParameterSpec]
    /// argv with `{param}` placeholders, parsed once.
    let template: [ArgumentTemplate]
    /// The program (`command[0]`), an absolute path.
    public let path: String
    /// The type's own environment variables, added to the base environment.
    public let environment: [(String, String)]
    public let directory: String?
    /// Seconds before a job of this type is stopped as timed out.
    public let timeout: Double?
    /// Jobs of this type running at once (nil: no limit of its own).
    public let concurrency: Int?
    /// Attempts before a failure is final (1: no retry).
    public let maxAttempts: Int
    /// Where it was defined (a file, or the config file's `job_types`), for messages.
    public let source: String
    let runner: ProcessRunner
    /// `PATH`, `LANG` and `HOME` as the job sees them.
    let base: [(String, String)]

    public var defaults: JobDefaults {
        JobDefaults(timeout: timeout, maxAttempts: maxAttempts, concurrency: concurrency)
    }

    public func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue {
        // The job's timeout (its own, else this type's) is kept by the engine, which
        // cancels the attempt: every process of the job then gets SIGTERM, SIGKILL later.
        let command = Command(path: path, arguments: template.map { $0.render(params) },
                              environment: environment(for: context.jobID, params), directory: directory)
        if let problem = ArgumentLimits.problem(arguments: command.arguments, templates: template, environment: command.environment,
                                                params: params, extra: runner.supervisorArguments(command)) {
            throw JobFailure("Cannot start \(path): \(problem)")
        }
        let run = CommandRun(context: context)
        let end: (ProcessEnd, StopReason?) = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                run.start(runner, command) { end, reason in continuation.resume(returning: (end, reason)) }
            }
        } onCancel: {
            run.terminate()
        }
        return try run.outcome(end.0, end.1, timeout: timeout)
    }

    /// The job's whole environment: the base, the type's `env`, then the job's own.
    func environment(for id: Int64, _ params: JSONObject) -> [String] {
        var names = Set<String>()
        var out: [String] = []
        let own = [("JOBRUNNER_JOB_ID", String(id)), ("JOBRUNNER_PARAMS", JSONValue.object(params).jsonString),
                   ("JOBRUNNER_PROGRESS_FD", "3")]
        for (name, value) in (own + environment + base) where names.insert(name).inserted {
            out.append("\(name)=\(value)")
        }
        return out
    }
}

/// One running job's process: its handle, its fd-3 protocol state and the
/// stderr line that explains a failure.
final class CommandRun: Sendable {
    private struct State {
        var handle: ProcessHandle?
        var cancelled = false
        var result: JSONValue?
        var lastError: String?
    }

    private let state = Mutex(State())
    private let context: JobContext
    /// Longest progress message kept.
    static let maxMessage = 1000

    init(context: JobContext) {
        self.context = context
    }

    func start(_ runner: ProcessRunner, _ command: Command, ended: @escaping @Sendable (ProcessEnd, StopReason?) -> Void) {
        let context = self.context
        let events = ProcessEvents(
            output: { [self] stream, lines, dropped in
                if stream == .stderr, let last = lines.last(where: { !$0.allSatisfy(\.isWhitespace) }) {
                    state.withLock { $0.lastError = last }
                }
                context.log(stream == .stdout ? .stdout : .stderr, lines, dropped: dropped)
            },
            progress: { [self] lines in
                for line in lines { protocolLine(line) }
            },
            ended: ended)
        let handle = runner.start(command, events: events)
        let cancelled = state.withLock { s in
            s.handle = handle
            return s.cancelled
        }
        if cancelled { handle.terminate() }
    }

    func terminate() {
        let handle = state.withLock { s in
            s.cancelled = true
            return s.handle
        }
        handle?.terminate()
    }

    /// One line of the progress protocol: `{"progress": 0-100, "message": "..."}`
    /// or `{"result": ...}` (once). Anything else is noted in the log, never fatal.
    private func protocolLine(_ line: String) {
        guard !line.allSatisfy(\.isWhitespace) else { return }
        let parsed = try? JSONValue.parse(Array(line.utf8), limits: JSONLimits(maxBytes: 64 * 1024, maxDepth: 32))
        guard case .object(let object)? = parsed else { return note("ignored a malformed progress line (not a JSON object): \(line.prefix(200))") }
        if let result = object["result"] {
            let first = state.withLock { s -> Bool in
                guard s.result == nil else { return false }
                s.result = result
                return true
            }
            if !first { note("ignored a second result line") }
            return
        }
        guard let raw = object["progress"] else { return note("ignored a progress line with neither 'progress' nor 'result': \(line.prefix(200))") }
        let percent: Double
        switch raw {
        case .int(let i): percent = Double(i)
        case .double(let d) where d.isFinite: percent = d
        default: return note("ignored a progress line whose 'progress' is not a number: \(line.prefix(200))")
        }
        guard (0...100).contains(percent) else { return note("ignored a progress line with 'progress' outside 0-100: \(line.prefix(200))") }
        var message = ""
        if let m = object["message"] {
            guard case .string(let text) = m else { return note("ignored a progress line whose 'message' is not a string: \(line.prefix(200))") }
            message = String(text.prefix(Self.maxMessage))
        }
        context.progress(Int(percent.rounded(.down)), message)
    }

    private func note(_ text: String) {
        context.log(.jobrunner, [text])
    }

    /// The job's result, or the error that fails it (SPEC's wording), or a
    /// cancellation when the daemon stopped it on request.
    func outcome(_ end: ProcessEnd, _ reason: StopReason?, timeout: Double?) throws -> JSONValue {
        switch reason {
        case .terminated?:
            throw CancellationError()
        case .timedOut?:
            throw JobFailure("Timed out after \(Self.seconds(timeout ?? 0)) seconds")
        case nil:
            break
        }
        let (result, lastError) = state.withLock { ($0.result, $0.lastError) }
        switch end {
        case .exited(0):
            return result ?? ["exit_code": 0]
        case .exited(let code):
            throw JobFailure("Exited with status \(code)" + (lastError.map { ": \($0.prefix(500))" } ?? ""))
        case .signaled(let signal):
            throw JobFailure("Killed by signal \(signal) (\(signalName(signal)))")
        case .couldNotStart(let why):
            throw JobFailure(why)
        }
    }

    /// `3600`, or `0.5` for a fraction.
    static func seconds(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
