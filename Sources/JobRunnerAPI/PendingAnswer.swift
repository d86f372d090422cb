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
