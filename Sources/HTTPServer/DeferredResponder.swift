import Synchronization

/// Completes a deferred response from any thread: the connection was suspended
/// when the handler returned, and `respond` resumes it with the answer. Only the
/// first call counts.
///
/// The connection is resumed only once (guarded by `state`), while it is still
/// suspended and so alive.
public final class DeferredResponder: Sendable {
    enum State {
        case suspended
        case ready(HTTPResponse)
        case taken
    }

    private let connection: MHDConnection
    let state = Mutex<State>(.suspended)
    private let onResume: @Sendable (DeferredResponder) -> Void

    init(connection: MHDConnection, onResume: @escaping @Sendable (DeferredResponder) -> Void) {
        self.connection = connection
        self.onResume = onResume
    }

    /// Answers the suspended request. Later calls are ignored.
    public func respond(_ response: HTTPResponse) {
        let resumed = state.withLock { s -> Bool in
            guard case .suspended = s else { return false }
            s = .ready(response)
            return true
        }
        guard resumed else { return }
        onResume(self)
        connection.resume()
    }

    /// The response, once, on the resumed access-handler call.
    func take() -> HTTPResponse? {
        state.withLock { s in
            guard case .ready(let r) = s else { return nil }
            s = .taken
            return r
        }
    }
}
