import Essentials
import JSON
import JobEngine
import JobQueue

/// Queues named in the config file start with its settings (API changes to them
/// last until the next start; changes to other queues are kept across restarts).
func applyConfiguredQueues(_ queues: [String: QueueConfig], to engine: JobEngine, _ logger: Logger) {
    for (name, q) in queues {
        engine.updateQueue(name, QueueSettings(concurrency: q.concurrency, paused: q.paused)) { result in
            if case .failure(let e) = result { logger.log(.error, "queue \(name): settings not stored: \(e.message)") }
        }
    }
}

/// Schedules of the config file are created or updated (those made through the
/// API stay as they are); a bad one stops the start, naming it and the field.
func applyConfiguredSchedules(_ configured: JSONValue?, configFile: String?, to engine: JobEngine, _ logger: Logger) throws(StartFailure) {
    guard let configured else { return }
    let file = configFile ?? "the config file"
    guard case .array(let items) = configured else { throw StartFailure("'schedules' in \(file) must be an array", exitCode: 2) }
    for (i, item) in items.enumerated() {
        let place = "schedules[\(i)] in \(file)"
        guard case .object(let o) = item else { throw StartFailure("\(place): must be an object", exitCode: 2) }
        let schedule: Schedule
        do { schedule = try engine.scheduleDefinition(o) } catch { throw StartFailure("\(place): \(error.message)", exitCode: 2) }
        engine.upsertSchedule(schedule) { result in
            if case .failure(let e) = result { logger.log(.error, "schedule \(schedule.name): not stored: \(e.message)") }
        }
    }
}
