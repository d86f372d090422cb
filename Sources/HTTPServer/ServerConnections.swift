import Essentials
import Glibc
import Synchronization

/// What libmicrohttpd's callbacks reach: each request's way from its headers to
/// the router and back, and the book of what is still open (streams, deferred
/// answers, WebSockets) so that shutdown can end it all.
final class ServerConnections: Sendable {
    let configuration: ServerConfiguration
    let router: Router
    /// Requests by route and status (nil: not counted).
    let counters: RequestCounters?
    private let live = Mutex(Book())
    private let heartbeat = Mutex<Task<Void, Never>?>(nil)
    private let webSockets = Mutex<WebSocketLoop?>(nil)
    private let peers = Mutex<PeerWatch?>(nil)
    /// Where requests come in, set at start before the first request.
    let listening = Mutex<ListeningAddress?>(nil)
    /// The time a request's head may take (the idle timeout; nil when that is off).
    let headerDeadlines: HeaderDeadlines?

    private struct Book {
        var streams: [ObjectIdentifier: ByteStream] = [:]
        var deferred: [ObjectIdentifier: DeferredResponder] = [:]
        /// Deferred requests not yet completed (answered or not).
        var deferredInFlight = 0
        var stopping = false
    }

    init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
        self.counters = router.counters
        headerDeadlines = configuration.idleTimeoutSeconds > 0 ? HeaderDeadlines(seconds: Double(configuration.idleTimeoutSeconds)) : nil
    }

    // MARK: A request's calls

    /// The first call, headers complete: refuse ambiguous framing before anything
    /// else, then only keep the headers, so that keep-alive and `100 Continue`
    /// work; answer early only for a declared oversize body.
    func begin(_ connection: MHDConnection, _ context: RequestContext, url: UnsafePointer<CChar>,
               method: UnsafePointer<CChar>, version: UnsafePointer<CChar>?) -> Bool {
        context.headers = connection.headers()
        let version = version.map { String(cString: $0) } ?? ""
        if let error = RequestFraming.refusal(version: version, headers: context.headers, nulInTarget: context.nulInTarget) {
            context.answered = true
            if let counters { context.counterSlot = counters.otherSlot(method: String(cString: method)) }
            var response = configuration.renderError(error)
            response.headers.append(("Connection", "close"))
            if configuration.accessLog != nil || configuration.auditLog != nil {
                context.method = String(cString: method)
                context.path = String(cString: url)
                context.address = connection.clientAddress() ?? ""
            }
            return send(response, on: connection, context: context)
        }
        if let length = context.headers.first(where: { $0.name == "content-length" }),
           let declared = Int(length.value), declared > configuration.maxBodyBytes {
            context.tooLarge = true
            context.answered = true
            let response = configuration.renderError(tooLarge())
            if let counters { counters.record(slot: counters.otherSlot(method: String(cString: method)), status: response.status) }
            return connection.queue(response, connections: self)
        }
        return true
    }

    /// A piece of the body.
    func receive(_ chunk: UnsafeRawBufferPointer, _ context: RequestContext) {
        if context.answered || context.tooLarge { return }
        if context.body.count + chunk.count > configuration.maxBodyBytes {
            // A body without a declared length grew past the limit: drop it and
            // answer 413 when the request ends (libmicrohttpd will not queue a
            // response in the middle of a chunked upload).
            context.tooLarge = true
            context.body = []
            return
        }
        context.body.append(contentsOf: chunk)
    }

    /// The body is complete (or the connection was resumed with a deferred answer).
    func complete(_ connection: MHDConnection, _ context: RequestContext,
                  url: UnsafePointer<CChar>, method: UnsafePointer<CChar>) -> Bool {
        if let responder = context.responder {
            context.responder = nil
            let response = responder.take() ?? configuration.renderError(HTTPError(503, "Shutting down"))
            return send(response, on: connection, context: context)
        }
        if context.answered { return true }
        context.answered = true
        if context.tooLarge {
            if let counters { context.counterSlot = counters.otherSlot(method: String(cString: method)) }
            if configuration.accessLog != nil || configuration.auditLog != nil {
                context.method = String(cString: method)
                context.path = String(cString: url)
                context.address = connection.clientAddress() ?? ""
            }
            return send(configuration.renderError(tooLarge()), on: connection, context: context)
        }
        var request = HTTPRequest(method: String(cString: method), path: String(cString: url),
                                  query: connection.queryArguments(), headers: context.headers, body: context.body)
        request.listening = listening.withLock { $0 }
        // The peer's address is looked up only where it is used: requests that
        // change something (audit, rate limit) and upgrades (their commands are).
        let changes = AuditRecord.isStateChanging(request.method)
        if changes || context.headers.contains(where: { $0.name == "upgrade" }) {
            request.remoteAddress = connection.clientAddress()
        }
        request.isSecure = configuration.tls != nil
        context.body = []
        var route: Int?
        let response = dispatch(&request, route: &route)
        if let counters { context.counterSlot = counters.slot(route: route, method: request.method) }
        if configuration.accessLog != nil || (changes && configuration.auditLog != nil) {
            context.method = request.method
            context.path = request.path
            context.address = request.remoteAddress ?? ""
            context.identity = request.identity
        }
        return send(response, on: connection, context: context)
    }

    private func tooLarge() -> HTTPError {
        HTTPError(413, "Request body too large (limit \(configuration.maxBodyBytes) bytes)")
    }

    /// Routes a request; the pre-check may note who is asking on it. `route` is
    /// the index of the route that matched (for the counters).
    func dispatch(_ request: inout HTTPRequest, route: inout Int?) -> HTTPResponse {
        if let refusal = router.refusal(of: &request) {
            // Refused before routing: still counted under the route it asked for.
            if counters != nil { route = router.resolveRoute(method: request.method, path: request.path).route }
            return configuration.renderError(refusal)
        }
        let (resolution, index) = router.resolveRoute(method: request.method, path: request.path)
        route = index
        switch resolution {
        case .handler(let handler, let params):
            var request = request
            request.pathParameters = params
            do {
                return try handler(request)
            } catch let error as HTTPError {
                return configuration.renderError(error)
            } catch {
                configuration.log(.error, "\(request.method) \(request.path): handler failed: \(error)")
                return configuration.renderError(HTTPError(500, "Internal server error"))
            }
        case .methodNotAllowed(let allow):
            return configuration.renderError(HTTPError(405, "Method \(request.method) not allowed on \(request.path)",
                                                       headers: [("Allow", allow.joined(separator: ", "))]))
        case .notFound:
            return configuration.renderError(.notFound(request.path))
        }
    }

    private func send(_ response: HTTPResponse, on connection: MHDConnection, context: RequestContext) -> Bool {
        if case .upgrade(let handler) = response.body { context.upgrade = handler }
        guard case .deferred(let start) = response.body else {
            if let counters, context.counterSlot >= 0 { counters.record(slot: context.counterSlot, status: response.status) }
            configuration.accessLog?(context.method, context.path, response.status, monotonicNow() - context.arrived)
            if let audit = configuration.auditLog, !context.method.isEmpty, AuditRecord.isStateChanging(context.method) {
                audit(AuditRecord(identity: context.identity, address: context.address, method: context.method,
                                  path: context.path, status: response.status))
            }
            return connection.queue(response, connections: self)
        }
        let responder = DeferredResponder(connection: connection) { [weak self] r in
            self?.live.withLock { _ = $0.deferred.removeValue(forKey: ObjectIdentifier(r)) }
        }
        let stopping = live.withLock { l -> Bool in
            if l.stopping { return true }
            l.deferred[ObjectIdentifier(responder)] = responder
            l.deferredInFlight += 1
            return false
        }
        if stopping {
            return connection.queue(configuration.renderError(HTTPError(503, "Shutting down")), connections: self)
        }
        context.responder = responder
        context.wasDeferred = true
        connection.suspend()
        start(responder)
        return true
    }

    func deferredCompleted() {
        live.withLock { $0.deferredInFlight -= 1 }
    }

    // MARK: WebSockets

    func startWebSockets() throws(ServerError) {
        let loop = try WebSocketLoop(limits: configuration.webSocket, log: configuration.log)
        do { try loop.start() } catch { throw ServerError("cannot start the WebSocket thread: \(error)") }
        webSockets.withLock { $0 = loop }
    }

    /// Runs `done` on the WebSocket I/O thread at its next turn; false when it is not running.
    func probeWebSocketLoop(_ done: @escaping @Sendable () -> Void) -> Bool {
        guard let loop = webSockets.withLock({ $0 }) else { return false }
        return loop.probe(done)
    }

    func stopWebSockets() {
        let loop = webSockets.withLock { l -> WebSocketLoop? in
            defer { l = nil }
            return l
        }
        loop?.stop()
    }

    /// Takes over an upgraded socket (on an MHD thread): non-blocking, a small
    /// kernel send buffer so a slow reader backs up into our bounded queue, and
    /// into the I/O loop.
    func adopt(socket fd: Int32, upgrade: UpgradeHandle, extraInput: [UInt8], handler: WebSocketHandler) {
        guard let loop = webSockets.withLock({ $0 }) else {
            upgrade.close()
            return
        }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var sendBuffer: Int32 = 64 * 1024
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        loop.add(WebSocket(fd: fd, upgrade: upgrade, extraInput: extraInput, handler: handler,
                           limits: configuration.webSocket, loop: loop))
    }

    // MARK: Streams and shutdown

    /// Starts the thread that notices clients leaving idle streams.
    func startPeerWatch() throws(ServerError) {
        let watch = try PeerWatch()
        try watch.start()
        peers.withLock { $0 = watch }
    }

    func stopPeerWatch() {
        let watch = peers.withLock { p -> PeerWatch? in
            defer { p = nil }
            return p
        }
        watch?.stop()
    }

    /// The hang-up watch streams register with while suspended (nil when stopped).
    var peerWatch: PeerWatch? { peers.withLock { $0 } }

    func register(_ stream: ByteStream) {
        let id = ObjectIdentifier(stream)
        let stopping = live.withLock { l -> Bool in
            if !l.stopping { l.streams[id] = stream }
            return l.stopping
        }
        if stopping { stream.finish(); return }
        stream.onClose { [weak self] in
            self?.live.withLock { _ = $0.streams.removeValue(forKey: id) }
        }
    }

    /// Sends `: keep-alive` on every open stream each interval: proxies keep the
    /// response open, and a client that went away is found by the failed write.
    func startHeartbeat() {
        let interval = configuration.streamHeartbeatSeconds
        guard interval > 0 else { return }
        let task = Task { [weak self] in
            let comment = Array(": keep-alive\n\n".utf8)
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                guard let self, !Task.isCancelled else { return }
                let streams = self.live.withLock { Array($0.streams.values) }
                for s in streams { s.write(comment, force: true) }
            }
        }
        heartbeat.withLock { $0 = task }
    }

    /// Ends every stream and answers every deferred request, then gives
    /// libmicrohttpd up to `grace` seconds to send those last bytes.
    func shutdown(grace: Double = 2) {
        heartbeat.withLock { $0?.cancel() }
        headerDeadlines?.stop()
        let (streams, deferred) = live.withLock { l in
            l.stopping = true
            return (Array(l.streams.values), Array(l.deferred.values))
        }
        for s in streams { s.finish() }
        for d in deferred { d.respond(configuration.renderError(HTTPError(503, "Shutting down"))) }
        stopWebSockets()
        stopPeerWatch()
        var waited = 0.0
        while waited < grace && live.withLock({ !$0.streams.isEmpty || $0.deferredInFlight > 0 }) {
            usleep(1000)
            waited += 0.001
        }
    }
}
