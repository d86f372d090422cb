import Synchronization

/// Queue events in order, to every subscriber, never under the queue's lock.
///
/// Events are recorded (numbered and put in the outbox) while the change they
/// describe is applied; `deliver` then hands them out after the caller unlocked.
/// One thread delivers at a time, so subscribers see events in exactly the order
/// they were recorded; events recorded meanwhile are picked up by the same loop.
final class EventHub: Sendable {
    typealias Subscriber = @Sendable (QueueEvent) -> Void

    private struct State {
        var outbox: [QueueEvent] = []
        /// Position of the newest event recorded.
        var position: UInt64 = 0
        var delivering = false
        var subscribers: [(token: Int, handler: Subscriber)] = []
        var nextToken = 0
    }

    private let state = Mutex(State())

    /// Numbers an event and queues it for delivery. Called under the queue's lock,
    /// so positions follow the order of applied changes.
    func record(_ event: QueueEvent) {
        state.withLock { s in
            var event = event
            s.position += 1
            event.position = s.position
            s.outbox.append(event)
        }
    }

    /// The position of the newest recorded event (read under the queue's lock, it
    /// matches the visible state).
    var position: UInt64 { state.withLock { $0.position } }

    func subscribe(_ handler: @escaping Subscriber) -> SubscriptionToken {
        state.withLock { s in
            s.nextToken += 1
            s.subscribers.append((s.nextToken, handler))
            return SubscriptionToken(raw: s.nextToken)
        }
    }

    func unsubscribe(_ token: SubscriptionToken) {
        state.withLock { s in s.subscribers.removeAll { $0.token == token.raw } }
    }

    /// Delivers queued events in order; call with no lock held.
    func deliver() {
        while true {
            let batch: (events: [QueueEvent], subscribers: [Subscriber])? = state.withLock { s in
                guard !s.delivering, !s.outbox.isEmpty else { return nil }
                s.delivering = true
                let events = s.outbox
                s.outbox.removeAll(keepingCapacity: true)
                return (events, s.subscribers.map(\.handler))
            }
            guard let batch else { return }
            for event in batch.events {
                for handler in batch.subscribers { handler(event) }
            }
            state.withLock { $0.delivering = false }
        }
    }
}
