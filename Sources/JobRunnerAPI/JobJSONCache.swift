import JSON
import JobQueue
import Synchronization

/// Serialised JSON of finished jobs, which never change again: dashboards and
/// scripts that poll a finished job get the same bytes without re-encoding them.
/// Keyed by id and sequence number, bounded, and dropped whole when full.
final class JobJSONCache: Sendable {
    static let capacity = 4096
    private let entries = Mutex<[Int64: (sequence: UInt64, bytes: [UInt8])]>([:])

    func bytes(for job: Job) -> [UInt8] {
        guard job.status.isFinished else { return Self.encode(job) }
        if let hit = entries.withLock({ $0[job.id] }), hit.sequence == job.sequence { return hit.bytes }
        let bytes = Self.encode(job)
        entries.withLock { e in
            if e.count >= Self.capacity { e.removeAll(keepingCapacity: true) }
            e[job.id] = (job.sequence, bytes)
        }
        return bytes
    }

    static func encode(_ job: Job) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.job(job)
        return w.bytes
    }
}
