/// Log lines on their way: a part of `QueueState`, under the queue's lock.
struct LogBook: ~Copyable {
    /// Lines of running jobs not yet emitted (their previous batch is still on
    /// its way to the store).
    var pending: [Int64: PendingLog] = [:]
    /// The jobs with a batch on its way.
    var inFlight: Set<Int64> = []
    /// Jobs' logs, kept here only when there is no store (a store keeps them).
    var kept: [Int64: JobLog] = [:]
}
