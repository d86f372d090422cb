import Dispatch
import Glibc
@testable import HTTPServer
import HTTPTestSupport
import JSON
import JobEngine
@testable import JobQueue
@testable import JobRunnerAPI
import Synchronization
import Testing

/// Writes what the test tells it to, one step at a time: `step` returns once the
/// job has done it (in memory its events are delivered by then).
final class Script: Sendable {
    enum Command: Sendable {
        case log([String])
        case progress(Int)
        case finish
    }

    private let commands = AsyncStream<Command>.makeStream()
    private let done = DispatchSemaphore(value: 0)

    /// A step not taken within the deadline fails the test there (the job's
    /// task runs on the cooperative pool, which a busy test process may hold
    /// for seconds; a step takes milliseconds).
    func step(_ command: Command) throws {
        commands.continuation.yield(command)
        try #require(done.wait(timeout: .now() + 30) == .success, "the job did not take the step")
    }

    func run(_ context: JobContext) async -> JSONValue {
        for await command in commands.stream {
            switch command {
            case .log(let lines): context.log(.stdout, lines)
            case .progress(let p): context.progress(p, "at \(p)")
            case .finish:
                done.signal()
                return ["ok": true]
            }
            done.signal()
        }
        return .null
    }
}

struct ScriptedJob: JobType {
    let script: Script
    let name = "scripted"
    let description = "does what the test says"
    let parameters: [ParameterSpec] = []
    func run(_ params: JSONObject, _ context: JobContext) async throws -> JSONValue { await script.run(context) }
}

/// The SSE replay of a resuming client (`Replay`), read the way libmicrohttpd
/// reads a stream: chunk by chunk from the reader callback.
@Suite(.timeLimit(.minutes(1))) struct ReplayTests {
    /// An in-memory engine running one scripted job, and the streams watching it.
    final class Fixture {
        let script = Script()
        let engine: JobEngine
        let streams = ProgressStreams()
        let finals = DispatchSemaphore(value: 0)
        let id: Int64

        init() throws {
            var registry = JobRegistry.builtIn
            registry.register(ScriptedJob(script: script))
            engine = JobEngine(registry: registry, capacity: 1)
            _ = engine.subscribe { [streams, finals] event in
                streams.deliver(event)
                if event.isFinal { finals.signal() }
            }
            id = try engine.submit(type: "scripted", params: nil).id
            let deadline = ContinuousClock.now + .seconds(10)
            while engine.job(id)?.status != .running && ContinuousClock.now < deadline { usleep(1000) }
            try #require(engine.job(id)?.status == .running)
        }

        deinit { engine.stop() }

        /// `count` lines of about `width` bytes, numbered from `from`.
        func log(_ from: Int, _ count: Int, width: Int = 100) throws {
            try script.step(.log((from..<from + count).map { "line \($0) " + String(repeating: "x", count: width) }))
        }

        func storedLines() throws -> [LogLine] { try #require(try engine.log(id)).lines }
    }

    /// Reads a stream as the server does; `largest` is the most it ever held.
    final class Reader {
        let stream: ByteStream
        var bytes: [UInt8] = []
        var largest = 0
        var ended = false

        init(_ stream: ByteStream) { self.stream = stream }

        /// Reads until the stream has nothing more for now (or ends).
        func drain() {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while !ended {
                largest = max(largest, stream.buffered)
                let n = chunk.withUnsafeMutableBytes { stream.read(into: $0.baseAddress!, max: $0.count) }
                if n < 0 { end() } else if n == 0 { return } else { bytes += chunk[0..<n] }
            }
        }

        /// Reads at most `limit` bytes (a client that reads a little, then stops).
        func read(upTo limit: Int) {
            var chunk = [UInt8](repeating: 0, count: limit)
            let n = chunk.withUnsafeMutableBytes { stream.read(into: $0.baseAddress!, max: $0.count) }
            largest = max(largest, stream.buffered)
            if n > 0 { bytes += chunk[0..<n] } else if n < 0 { end() }
        }

        /// What libmicrohttpd does once the reader says the end: lets go of the stream.
        private func end() {
            ended = true
            stream.released()
        }

        /// The events so far: (id, name, data) with nil for no `id:`.
        var events: [(id: UInt64?, name: String, data: String)] {
            var out: [(UInt64?, String, String)] = []
            for block in String(decoding: bytes, as: UTF8.self).split(separator: "\n\n", omittingEmptySubsequences: true) {
                var id: UInt64?
                var name: String?
                var data = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("id: ") { id = UInt64(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                }
                if let name { out.append((id, name, data)) }
            }
            return out
        }
    }

    @Test func aReadingClientGetsEveryLineOnceInOrderThenLiveEvents() async throws {
        try await offPool {
            let f = try Fixture()
            // About 0.9 MB of log (under the 1 MiB budget): many pages, many buffers.
            for batch in 0..<32 { try f.log(batch * 250, 250) }
            let stored = try f.storedLines()
            #expect(stored.count == 8000)
            let reader = Reader(try #require(f.streams.open(jobID: f.id, engine: f.engine, resumeAfter: 0)))
            reader.read(upTo: 4096)
            // Events while the replay is under way wait behind it, in order.
            try f.script.step(.progress(10))
            try f.log(8000, 3)
            try f.script.step(.progress(20))
            try f.script.step(.progress(30))
            try f.log(8003, 2)
            reader.drain()
            #expect(!reader.ended)
            try f.script.step(.progress(40))
            try f.script.step(.finish)
            #expect(f.finals.wait(timeout: .now() + 10) == .success)
            reader.drain()
            #expect(reader.ended)

            let events = reader.events
            #expect(events.first?.name == "status")
            #expect(events.first?.id == nil, "a status followed by a replay has no id")
            let all = try f.storedLines()
            let logs = events.filter { $0.name == "log" }
            #expect(logs.map(\.id) == all.map { Optional($0.seq) }, "every line once, in order")
            let ids = events.compactMap(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count)
            // Progress held during the replay is coalesced to the newest (30), sent
            // after the lines before it; 40 came live.
            let progress = events.filter { $0.name == "progress" }.map(\.data)
            #expect(progress.count == 2 && progress[0].contains("30") && progress[1].contains("40"))
            #expect(events.last?.name == "complete")
            // Never more buffered than the 64 KiB bound plus one line.
            #expect(reader.largest <= ProgressStreams.maxBuffered + 1024)
            #expect(f.streams.count == 0)
        }
    }

    @Test func aClientThatDoesNotReadHoldsOneBufferAndLogOverflowEndsTheStreamAfterTheReplay() async throws {
        try await offPool {
            let f = try Fixture()
            for batch in 0..<20 { try f.log(batch * 250, 250) }
            let before = try f.storedLines()
            let stream = try #require(f.streams.open(jobID: f.id, engine: f.engine, resumeAfter: 0))
            let reader = Reader(stream)
            reader.read(upTo: 100)
            // The client stops reading: the replay waits, its buffer within bounds.
            #expect(stream.buffered <= ProgressStreams.maxBuffered + 1024)
            // More new lines than the hold budget arrive meanwhile.
            for batch in 0..<8 { try f.log(5000 + batch * 100, 100) }
            #expect(stream.buffered <= ProgressStreams.maxBuffered + 1024)
            reader.drain()
            #expect(reader.ended, "the stream ends after the replay")
            let logs = reader.events.filter { $0.name == "log" }
            #expect(logs.map(\.id) == before.map { Optional($0.seq) }, "the replay is whole; the held lines are not sent")

            // The client resumes from the last line it got and misses nothing.
            let last = try #require(logs.last?.id)
            let again = Reader(try #require(f.streams.open(jobID: f.id, engine: f.engine, resumeAfter: last)))
            again.drain()
            let rest = again.events.filter { $0.name == "log" }.map(\.id)
            #expect(rest == (try f.storedLines()).filter { $0.seq > last }.map { Optional($0.seq) })
            #expect(rest.count == 800)
            try f.script.step(.finish)
            #expect(f.finals.wait(timeout: .now() + 10) == .success)
            again.drain()
            #expect(again.ended && again.events.last?.name == "complete")
        }
    }

    @Test func aFinishedJobsReplayEndsWithItsFinalEvent() async throws {
        try await offPool {
            let f = try Fixture()
            try f.log(0, 700)
            try f.script.step(.finish)
            #expect(f.finals.wait(timeout: .now() + 10) == .success)
            let all = try f.storedLines()
            let reader = Reader(try #require(f.streams.open(jobID: f.id, engine: f.engine, resumeAfter: all[2].seq)))
            reader.drain()
            #expect(reader.ended)
            let events = reader.events
            #expect(events.map(\.name) == ["status"] + Array(repeating: "log", count: 697) + ["complete"])
            #expect(events.dropFirst().dropLast().map(\.id) == all.dropFirst(3).map { Optional($0.seq) })
            #expect(f.streams.count == 0)
        }
    }

    @Test func aResumeWithNothingToReplayKeepsTheStatusID() async throws {
        try await offPool {
            let f = try Fixture()
            try f.log(0, 5)
            let last = try #require(try f.storedLines().last?.seq)
            try f.script.step(.progress(50))
            let reader = Reader(try #require(f.streams.open(jobID: f.id, engine: f.engine, resumeAfter: last)))
            reader.drain()
            let status = try #require(reader.events.first)
            #expect(status.name == "status" && status.id == f.engine.job(f.id)?.sequence)
            #expect(reader.events.count == 1)
            try f.script.step(.finish)
            #expect(f.finals.wait(timeout: .now() + 10) == .success)
        }
    }

    @Test func aStorePageIsBoundedByItsLimit() async throws {
        try await offPool {
            let f = try Fixture()
            try f.log(0, 300)
            let all = try f.storedLines()
            let page = try #require(try f.engine.log(f.id, after: all[99].seq, limit: 50))
            #expect(page.lines == Array(all[100..<150]))
            #expect(try f.engine.log(f.id, after: all[299].seq, limit: 50)?.lines == [])
            #expect(try f.engine.log(f.id, after: 0, limit: 0)?.lines == [])
            try f.script.step(.finish)
            #expect(f.finals.wait(timeout: .now() + 10) == .success)
        }
    }
}
