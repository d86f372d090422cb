import JSON
@testable import JobQueue
import Testing

/// How another node's committed rows become events here, without a database:
/// the pure half of `applyRemote`.
@Suite(.timeLimit(.minutes(1))) struct ReconcileTests {
    let here = "node-a"
    let there = "node-b"

    func row(_ status: JobStatus, sequence: UInt64, node: String? = nil, attempt: Int = 1) -> Job {
        var job = Job(id: 7, type: "t", params: ["n": 1], createdAt: 100)
        job.status = status
        job.sequence = sequence
        job.node = node
        job.attempt = attempt
        if status != .pending { job.startedAt = 101 }
        if status.isFinished { job.completedAt = 102 }
        return job
    }

    func line(_ seq: UInt64, _ text: String) -> LogLine { LogLine(seq: seq, ts: 101, stream: .stdout, text: text) }

    /// The kinds of a step's events, by name, in order (with their sequence numbers).
    func kinds(_ step: RemoteStep?) -> [String] {
        (step?.events ?? []).map { event in
            let name = switch event.kind {
            case .created: "created"
            case .started: "started"
            case .progress: "progress"
            case .completed: "completed"
            case .failed: "failed"
            case .cancelled: "cancelled"
            case .retrying: "retrying"
            case .retried: "retried"
            case .log(let lines): "log\(lines.map(\.seq))"
            default: "other"
            }
            return "\(name)@\(event.sequence)"
        }
    }

    @Test func aRowSeenFirstIsCreatedAsPendingThenMovesOn() {
        let step = Reconcile.step(old: nil, stored: row(.running, sequence: 2, node: there), lines: [], node: here, now: 200)
        #expect(kinds(step) == ["created@1", "started@2"])
        #expect(step?.created?.status == .pending)
        #expect(step?.created?.sequence == 1)
        #expect(step?.fresh.status == .running)
        #expect(step?.joined == true)
        #expect(step?.stopsTask == false)
    }

    @Test func aRowThatShowsNothingNewIsNoStep() {
        let old = row(.running, sequence: 2, node: there)
        var same = old
        same.sequence = 3
        #expect(Reconcile.step(old: old, stored: same, lines: [], node: here, now: 200) == nil)
        // The same row with log lines is a step: they are published.
        #expect(kinds(Reconcile.step(old: old, stored: same, lines: [line(3, "x")], node: here, now: 200)) == ["log[3]@3"])
    }

    /// A job that started and ended between two reads: its start is published
    /// first, with the number it had on its node, then lines before the end, then the end.
    @Test func aStartMissedBetweenReadsIsPublishedBeforeTheEnd() {
        let old = row(.pending, sequence: 1)
        var done = row(.completed, sequence: 5, node: there)
        done.result = .object(["ok": .bool(true)])
        let step = Reconcile.step(old: old, stored: done, lines: [line(4, "b"), line(3, "a")], node: here, now: 200)
        #expect(kinds(step) == ["started@2", "log[3, 4]@4", "completed@5"])
        #expect(step?.fresh.sequence == 5)
        #expect(step?.joined == false)
    }

    /// Lines numbered after the row's own change follow its event; the job
    /// shown takes the highest number seen.
    @Test func laterLinesFollowTheTransition() {
        let old = row(.running, sequence: 2, node: there)
        var progressed = old
        progressed.sequence = 3
        progressed.progress = JobProgress(percent: 50, message: "half")
        let step = Reconcile.step(old: old, stored: progressed, lines: [line(4, "after")], node: here, now: 200)
        #expect(kinds(step) == ["progress@3", "log[4]@4"])
        #expect(step?.fresh.sequence == 4)
    }

    /// A job this node runs that another node cancelled, or took over: the
    /// task here is stopped. One still running here is not.
    @Test func aJobRunningHereEndedElsewhereStopsItsTask() {
        let mine = row(.running, sequence: 2, node: here)
        #expect(Reconcile.step(old: mine, stored: row(.cancelled, sequence: 3, node: here), lines: [], node: here, now: 200)?.stopsTask == true)
        #expect(Reconcile.step(old: mine, stored: row(.running, sequence: 3, node: there, attempt: 2), lines: [], node: here, now: 200)?.stopsTask == true)
        var progressed = row(.running, sequence: 3, node: here)
        progressed.progress = JobProgress(percent: 10, message: "")
        #expect(Reconcile.step(old: mine, stored: progressed, lines: [], node: here, now: 200)?.stopsTask == false)
        let theirs = row(.running, sequence: 2, node: there)
        #expect(Reconcile.step(old: theirs, stored: row(.cancelled, sequence: 3, node: there), lines: [], node: here, now: 200)?.stopsTask == false)
    }

    @Test func retriesAndAttemptsBecomeTheirEvents() {
        var failedOnce = row(.pending, sequence: 4, attempt: 2)
        failedOnce.errors = [AttemptError(attempt: 1, error: "boom", at: 101)]
        failedOnce.runAt = 150
        // Running here before: back to pending for another attempt.
        #expect(kinds(Reconcile.step(old: row(.running, sequence: 2, node: there), stored: failedOnce, lines: [], node: here, now: 200)) == ["retrying@4"])
        // An attempt that started and failed between two reads.
        #expect(kinds(Reconcile.step(old: row(.pending, sequence: 1), stored: failedOnce, lines: [], node: here, now: 200)) == ["retrying@4"])
        // A finished job put back by hand.
        let retried = Reconcile.step(old: row(.failed, sequence: 3), stored: row(.pending, sequence: 4), lines: [], node: here, now: 200)
        #expect(kinds(retried) == ["retried@4"])
        #expect(retried?.joined == true)
    }

    @Test func logsAloneMoveTheSequenceToTheirLast() {
        let job = row(.running, sequence: 2, node: there)
        let only = Reconcile.logOnly(job, lines: [line(5, "b"), line(3, "a")])
        #expect(only?.fresh.sequence == 5)
        #expect(only?.event.sequence == 5)
        #expect(Reconcile.logOnly(job, lines: []) == nil)
    }
}
