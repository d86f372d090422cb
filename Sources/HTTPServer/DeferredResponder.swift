import CMicroHTTPD
import Synchronization

/// Completes a deferred response from any thread: the connection was suspended
/// when the handler returned, and `respond` resumes it with the answer. Only the
/// first call counts.
///
/// `@unchecked Sendable`: the connection pointer is used only for
/// `MHD_resume_connection`, which libmicrohttpd allows from any thread, and only
/// once (guarded by `state`), while the connection is still suspended and so alive.
public final class DeferredResponder: @unchecked Sendable {
    enum State {
        case suspended
        case ready(HTTPResponse)
        case taken
    }

    private let connection: OpaquePointer
    let state = Mutex<State>(.suspended)
    private let onResume: @Sendable (DeferredResponder) -> Void

    init(connection: OpaquePointer, onResume: @escaping @Sendable (DeferredResponder) -> Void) {
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
        MHD_resume_connection(connection)
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
