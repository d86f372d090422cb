import Dispatch
import HTTPServer
import Synchronization

/// An answer that may be ready before the handler returns (memory: the engine's
/// completion ran inline) or only later (durable: after the commit). Whichever
/// comes second, the response or the suspended connection's responder, sends it.
final class PendingAnswer: Sendable {
    private enum State {
        case waiting
        case ready(HTTPResponse)
        case responder(DeferredResponder)
        case sent
    }

    private let state = Mutex(State.waiting)

    /// The engine's answer arrived.
    func complete(_ response: HTTPResponse) {
        let responder: DeferredResponder? = state.withLock { s in
            switch s {
            case .waiting:
                s = .ready(response)
                return nil
            case .responder(let r):
                s = .sent
                return r
            case .ready, .sent:
                return nil
            }
        }
        responder?.respond(response)
    }

    /// The answer if it is already here (then no connection needs suspending).
    func takeIfReady() -> HTTPResponse? {
        state.withLock { s in
            guard case .ready(let response) = s else { return nil }
            s = .sent
            return response
        }
    }

    /// The connection is suspended: answer it now if the answer came meanwhile, else when it comes.
    func deliver(to responder: DeferredResponder) {
        let ready: HTTPResponse? = state.withLock { s in
            switch s {
            case .ready(let response):
                s = .sent
                return response
            case .waiting:
                s = .responder(responder)
                return nil
            case .responder, .sent:
                return nil
            }
        }
        if let ready { responder.respond(ready) }
    }
}

/// `/readyz` asking loops to answer: ends (once) when every loop answered, or at
/// the deadline with those that did not.
final class ReadinessProbe: Sendable {
    static let deadline = 1.0

    private struct State {
        var waiting: [String]
        var end: (@Sendable ([String]) -> Void)?
        var ended = false
    }

    private let state: Mutex<State>

    init(loops: [String]) { state = Mutex(State(waiting: loops)) }

    func onEnd(_ end: @escaping @Sendable ([String]) -> Void) { state.withLock { $0.end = end } }

    func answered(_ loop: String) {
        let end = state.withLock { s -> (@Sendable ([String]) -> Void)? in
            s.waiting.removeAll { $0 == loop }
            guard s.waiting.isEmpty, !s.ended else { return nil }
            s.ended = true
            return s.end
        }
        end?([])
    }

    /// Ends now with the loops that have not answered.
    func finish() {
        let (end, missing) = state.withLock { s -> ((@Sendable ([String]) -> Void)?, [String]) in
            guard !s.ended else { return (nil, []) }
            s.ended = true
            return (s.end, s.waiting)
        }
        end?(missing)
    }

    func startDeadline() {
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.deadline) { [self] in finish() }
    }
}
