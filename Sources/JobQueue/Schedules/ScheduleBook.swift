/// The queue's schedules: as committed, as decided (a change on its way), and
/// by their next run. A part of `QueueState`, under the queue's lock.
struct ScheduleBook: ~Copyable {
    /// Schedules as committed (what readers see).
    var committed: [String: Schedule] = [:]
    /// Schedules with a change on its way to the store (working).
    var working: [String: Schedule] = [:]
    /// Schedules being deleted (working) until that commits.
    var deleting: Set<String> = []

    /// Schedules by their next run, earliest first; entries whose schedule moved
    /// on (fired, changed, paused, deleted) are dropped lazily.
    private var due = Heap<(time: Double, name: String)> { $0.time != $1.time ? $0.time < $1.time : $0.name < $1.name }

    /// The newest state of a schedule (nil once its delete is decided).
    func current(_ name: String) -> Schedule? {
        if deleting.contains(name) { return nil }
        return working[name] ?? committed[name]
    }

    /// The names of every schedule, committed or on its way.
    var names: Set<String> { Set(committed.keys).union(working.keys) }

    /// Records a decided change of a schedule until it is applied.
    mutating func stage(_ s: Schedule) {
        working[s.name] = s
        noteDue(s)
    }

    mutating func noteDue(_ s: Schedule) {
        if let t = s.nextRunAt, !s.paused { due.push((t, s.name)) }
    }

    /// The earliest time a schedule is due (paused ones aside).
    mutating func nextDue() -> Double? {
        while let top = due.top {
            if let s = current(top.name), !s.paused, s.nextRunAt == top.time { return top.time }
            due.pop()
        }
        return nil
    }

    /// The names of schedules due at `now` (they leave the heap; firing puts them back).
    mutating func takeDue(now: Double) -> [String] {
        var names: [String] = []
        while let t = nextDue(), t <= now, let top = due.pop() {
            if names.last != top.name { names.append(top.name) }
        }
        return names
    }
}
