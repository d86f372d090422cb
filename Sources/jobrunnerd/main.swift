import Glibc
import JobRunnerDaemon

// Signals are taken by `sigwait` on the main thread, so block them before any
// other thread exists (threads inherit the mask).
let signals = Signals.block()

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "token" {
    TokenCommand.main(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

// A bad flag is one clear line on stderr and exit code 2.
let invocation: Invocation
switch Invocation.parse(CommandLine.arguments.dropFirst()) {
case .run(let given): invocation = given
case .show(let text):
    print(text)
    exit(0)
case .refused(let message):
    writeStderr("jobrunnerd: \(message) (see --help)\n")
    exit(2)
}

let daemon: Daemon
do {
    let configuration = try Configuration.load(invocation)
    if invocation.checkConfig {
        print(configuration.checked)
        exit(0)
    }
    daemon = try Daemon.start(configuration)
} catch {
    if !error.reported { writeStderr("jobrunnerd: \(error.message)\n") }
    exit(error.exitCode)
}

// Serve until SIGTERM or SIGINT; SIGHUP reloads what can be reloaded.
var received = signals.wait()
while received == SIGHUP {
    daemon.reload()
    received = signals.wait()
}
daemon.drain(after: received, signals: signals)
exit(0)
