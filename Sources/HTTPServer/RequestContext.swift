import Essentials

/// Per-request state kept in libmicrohttpd's `*req_cls` between calls of the
/// access handler: the body as it arrives, and a deferred answer once suspended.
///
/// `@unchecked Sendable`: libmicrohttpd calls the access handler for one request
/// on one thread at a time (the thread that owns the connection); `responder`
/// hands its own state across threads behind a mutex.
final class RequestContext: @unchecked Sendable {
    /// Every header line (duplicates too), names lower-cased, collected on the first call.
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    /// For the access log.
    var method = ""
    var path = ""
    /// For the audit log: the peer and who the pre-check said it is.
    var address = ""
    var identity: String?
    let arrived = monotonicNow()
    var tooLarge = false
    var answered = false
    var responder: DeferredResponder?
    /// The raw target held `%00` (seen by the URI logger before decoding).
    let nulInTarget: Bool
    /// Counted in the server's in-flight deferred requests until completed.
    var wasDeferred = false
    /// Set when a 101 was queued: what serves the upgraded connection.
    var upgrade: WebSocketHandler?
    /// Where the response counts in `RequestCounters` (-1: not known yet).
    var counterSlot = -1

    init(nulInTarget: Bool) { self.nulInTarget = nulInTarget }
}
