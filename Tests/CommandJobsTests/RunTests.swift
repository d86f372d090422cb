@testable import CommandJobs
import JSON
import JobEngine
import JobQueue
import Synchronization
import Testing

/// Runs command types through a real engine (in memory) and real processes.
@Suite(.timeLimit(.minutes(10))) struct RunTests {
    func engine(_ scripts: [String: String], timeout: Double? = nil) throws -> JobEngine {
        var registry = JobRegistry()
        for (name, script) in scripts {
            var json = #"{"name": "\#(name)", "command": ["/bin/sh", "-c", \#(JSONValue.string(script).jsonString), "sh", "{arg}"], "params": {"arg": {"type": "string", "default": "x"}}"#
            if let timeout { json += #", "timeout": \#(timeout)"# }
            registry.register(try CommandTypeLoader.parse(try definition(json + "}"), source: "test", runner: sharedRunner))
        }
        return JobEngine(queue: JobQueue(maxLogBytes: 4096), registry: registry, capacity: 4)
    }

    /// Submits and waits for the job's final event; returns the job and every event of it.
    func run(_ engine: JobEngine, _ type: String, _ params: JSONValue = [:]) async throws -> (Job, [QueueEvent]) {
        let events = Mutex<[QueueEvent]>([])
        let done = AsyncStream<Void>.makeStream()
        let id = Mutex<Int64>(0)
        let token = engine.subscribe { e in
            guard e.jobID == id.withLock({ $0 }) || id.withLock({ $0 }) == 0 else { return }
            events.withLock { $0.append(e) }
            if e.isFinal { done.continuation.yield() }
        }
        defer { engine.unsubscribe(token) }
        let job = try engine.submit(type: type, params: params)
        id.withLock { $0 = job.id }
        for await _ in done.stream { break }
        return (try #require(engine.job(job.id)), events.withLock { $0.filter { $0.jobID == job.id } })
    }

    @Test func progressResultAndLog() async throws {
        let e = try engine(["ok": #"echo "arg=$1"; echo '{"progress": 40, "message": "half"}' >&3; echo warn >&2; echo '{"result": {"n": 7}}' >&3"#])
        let (job, events) = try await run(e, "ok", ["arg": "; rm -rf /"])
        #expect(job.status == .completed)
        #expect(job.result == ["n": 7])
        #expect(events.contains { if case .progress(let p) = $0.kind { p.percent == 40 && p.message == "half" } else { false } })
        let log = try #require(try e.log(job.id))
        #expect(log.lines.map(\.text).contains("arg=; rm -rf /"))
        #expect(log.lines.first { $0.text == "warn" }?.stream == .stderr)
        // Sequence numbers continue the job's events and only grow.
        let seqs = log.lines.map(\.seq)
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
    }

    @Test func withoutAResultLineTheResultIsTheExitCode() async throws {
        let e = try engine(["quiet": "exec 3>&-; true"])
        #expect(try await run(e, "quiet").0.result == ["exit_code": 0])
    }

    @Test func failureTexts() async throws {
        // Only the slow type has the short timeout: a loaded machine (or strace)
        // can take longer than 0.3 s to start and end even `exit 3`.
        let e = try engine([
            "exit3": "echo first >&2; echo 'the reason' >&2; echo >&2; exit 3",
            "exit4": "exit 4",
            "killed": "kill -KILL $$",
        ])
        let timed = try engine(["slow": "sleep 30"], timeout: 0.3)
        #expect(try await run(e, "exit3").0.error == "Exited with status 3: the reason")
        #expect(try await run(e, "exit4").0.error == "Exited with status 4")
        #expect(try await run(e, "killed").0.error == "Killed by signal 9 (SIGKILL)")
        #expect(try await run(timed, "slow").0.error == "Timed out after 0.3 seconds")
    }

    @Test func malformedProtocolLinesAreNotedNotFatal() async throws {
        let e = try engine(["noisy": #"echo 'not json' >&3; echo '{"progress": 500}' >&3; echo '[1]' >&3; echo '{"result": 1}' >&3; echo '{"result": 2}' >&3"#])
        let (job, _) = try await run(e, "noisy")
        #expect(job.status == .completed)
        #expect(job.result == 1)
        let notes = try #require(try e.log(job.id)).lines.filter { $0.stream == .jobrunner }.map(\.text)
        #expect(notes.count == 4)
        #expect(notes[0].hasPrefix("ignored a malformed progress line"))
        #expect(notes[1].hasPrefix("ignored a progress line with 'progress' outside 0-100"))
        #expect(notes[3] == "ignored a second result line")
    }

    @Test func theLogIsBoundedAndSaysHowManyLinesWentAndIsValidUTF8() async throws {
        let e = try engine(["chatty": #"seq 1 5000; printf '\377\376bad\n'"#])
        let (job, _) = try await run(e, "chatty")
        let log = try #require(try e.log(job.id))
        #expect(log.bytes <= 4096)
        #expect(log.dropped > 0)
        #expect(log.lines.count + log.dropped == 5001)
        #expect(log.lines.last?.text == "\u{FFFD}\u{FFFD}bad")
    }

    @Test func cancelStopsTheProcessGroup() async throws {
        let e = try engine(["forever": "trap '' TERM; sleep 100"])
        let started = AsyncStream<Int64>.makeStream()
        let token = e.subscribe { ev in if case .started = ev.kind { started.continuation.yield(ev.jobID) } }
        defer { e.unsubscribe(token) }
        let job = try e.submit(type: "forever", params: nil)
        for await _ in started.stream { break }
        let idle = AsyncStream<Void>.makeStream()
        e.observeWorker { stats in if stats.active == 0 { idle.continuation.yield() } }
        #expect(e.cancel(job.id) == .cancelled(wasRunning: true))
        // The slot frees once the group is gone (SIGKILL after the 0.5 s grace).
        for await _ in idle.stream { break }
        #expect(e.stats.active == 0)
        #expect(e.job(job.id)?.status == .cancelled)
    }
}

@Suite(.timeLimit(.minutes(10))) struct JobLogTests {
    func lines(_ texts: [String], from seq: UInt64 = 1) -> [LogLine] {
        texts.enumerated().map { LogLine(seq: seq + UInt64($0.offset), ts: 0, stream: .stdout, text: $0.element) }
    }

    @Test func trimsToThreeQuartersOfTheBudgetAndCounts() {
        var log = JobLog()
        log.append(lines(Array(repeating: "123456789", count: 10)), maxBytes: 100)  // 10 bytes each
        #expect(log.bytes == 100 && log.dropped == 0)
        log.append(lines(["123456789"], from: 11), maxBytes: 100)
        #expect(log.bytes <= 75)
        #expect(log.dropped == 4)
        #expect(log.lines.first?.seq == 5)
        #expect(log.after(9).lines.map(\.seq) == [10, 11])
        #expect(log.after(11).lines.isEmpty)
    }
}
