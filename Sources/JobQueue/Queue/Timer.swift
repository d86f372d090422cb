/// The one timer for the earliest delayed job or schedule.
extension JobQueue {
    /// Sets the timer for the earliest delayed job (after any change).
    func rearm() {
        let next: Double?? = state.withLock { l in
            let due = [l.q.scheduler.nextDue, l.q.book.nextDue()].compactMap { $0 }.min()
            guard due != l.q.scheduler.armedAt else { return .none }
            l.q.scheduler.armedAt = due
            return .some(due)
        }
        guard case .some(let time) = next else { return }
        clock.wake(at: time) { [weak self] in self?.timerFired() }
    }

    /// The earliest delayed job's time came: move what is due to the ready
    /// heaps, tell the worker, set the timer for the next.
    func timerFired() {
        let now = clock.now()
        let moved = state.withLock { l in
            l.q.scheduler.armedAt = nil
            return l.q.promoteDue(now: now)
        }
        fireDueSchedules(now: now)
        rearm()
        if moved > 0 { announceAvailable() }
    }
}
