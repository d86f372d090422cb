import CMicroHTTPD
import Glibc
import Synchronization

/// The libmicrohttpd adapter: starts and stops the daemon, turns its C callbacks
/// into `HTTPRequest`s for the router and queues the `HTTPResponse`s that come back.
/// It knows nothing of jobs.
public final class HTTPServer: Sendable {
    public let configuration: ServerConfiguration
    let router: Router

    /// The C side holds an unretained pointer to `core` for as long as the daemon runs.
    private let core: Core
    private let daemon = Mutex<DaemonHandle?>(nil)

    public init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
        self.core = Core(configuration: configuration, router: router)
    }

    /// The port the server listens on (the real one when configured with 0).
    public var port: Int { daemon.withLock { $0?.port ?? 0 } }

    /// Binds and starts serving on libmicrohttpd's threads.
    public func start() throws(ServerError) {
        let fd: Int32
        if let inherited = configuration.listenSocket {
            fd = inherited
        } else {
            fd = try Listener.bind(host: configuration.host, port: configuration.port)
        }
        let flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_ALLOW_UPGRADE.rawValue
        let coreRef = Unmanaged.passUnretained(core).toOpaque()
        var options: [MHD_OptionItem] = [
            MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(fd), ptr_value: nil),
            MHD_OptionItem(option: .THREAD_POOL_SIZE, value: max(1, configuration.threads), ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_LIMIT, value: configuration.maxConnections, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.idleTimeoutSeconds, ptr_value: nil),
            MHD_OptionItem(option: .NOTIFY_COMPLETED,
                           value: unsafeBitCast(requestCompleted, to: Int.self), ptr_value: coreRef),
            MHD_OptionItem(option: .URI_LOG_CALLBACK, value: unsafeBitCast(uriLogged, to: Int.self), ptr_value: nil),
        ]
        if configuration.maxConnectionsPerIP > 0 {
            options.append(MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT,
                                          value: configuration.maxConnectionsPerIP, ptr_value: nil))
        }
        options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
        try core.startWebSockets()
        core.listening.withLock { $0 = Listener.address(fd) }
        let handle = options.withUnsafeMutableBufferPointer {
            CMicroHTTPD_start(flags, accessHandler, coreRef, $0.baseAddress)
        }
        guard let handle else {
            core.stopWebSockets()
            if configuration.listenSocket == nil { close(fd) }
            throw ServerError("libmicrohttpd failed to start (thread or descriptor limits?)")
        }
        let port = Listener.address(fd).port
        daemon.withLock { $0 = DaemonHandle(pointer: handle, port: port, listenFD: fd) }
        core.startHeartbeat()
    }

    /// Ends open streams, answers deferred requests with 503, and stops the daemon.
    public func stop() {
        guard let handle = daemon.withLock({ d -> DaemonHandle? in
            let h = d
            d = nil
            return h
        }) else { return }
        core.shutdown()
        // Quiescing hands the listening socket back, so libmicrohttpd does not
        // close it behind our back (a second close could hit a reused number).
        let fd = MHD_quiesce_daemon(handle.pointer)
        MHD_stop_daemon(handle.pointer)
        if configuration.listenSocket == nil && fd >= 0 { close(fd) }
    }
}

/// `@unchecked Sendable`: the daemon pointer is only used by `stop`, once, after
/// it has been taken out of the mutex that guards it.
struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let port: Int
    let listenFD: Int32
}

// MARK: C callbacks (no captures: they find the server through their `cls`)

private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, version, uploadData, uploadSize, reqCls in
    guard let cls, let connection, let url, let method, let uploadSize, let reqCls else { return .NO }
    let core = Unmanaged<Core>.fromOpaque(cls).takeUnretainedValue()
    return core.handle(connection: connection, url: url, method: method, version: version,
                       uploadData: uploadData, uploadSize: uploadSize, reqCls: reqCls)
}

/// What the URI logger leaves in `*req_cls` for a target containing `%00`
/// (never dereferenced; the access handler's first call replaces it).
private var nulInTargetMarker: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: 1)! }

/// Sees the raw target before libmicrohttpd decodes it (a decoded `%00` would
/// silently cut the path short); its result becomes the request's `*req_cls`.
private let uriLogged: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?) -> UnsafeMutableRawPointer? = { _, uri, _ in
    guard let uri, RequestFraming.hasEncodedNUL(uri) else { return nil }
    return nulInTargetMarker
}

private let requestCompleted: MHD_RequestCompletedCallback = { cls, _, reqCls, _ in
    guard let reqCls, let raw = reqCls.pointee else { return }
    guard raw != nulInTargetMarker else {
        reqCls.pointee = nil
        return
    }
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
    reqCls.pointee = nil
    if context.wasDeferred, let cls {
        Unmanaged<Core>.fromOpaque(cls).takeUnretainedValue().deferredCompleted()
    }
}

private let streamReader: MHD_ContentReaderCallback = { cls, _, buffer, max in
    guard let cls, let buffer else { return -2 }
    let stream = Unmanaged<ByteStream>.fromOpaque(cls).takeUnretainedValue()
    return stream.read(into: buffer, max: max)
}

private let streamFreed: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    let stream = Unmanaged<ByteStream>.fromOpaque(cls).takeRetainedValue()
    stream.released()
}

private let upgraded: MHD_UpgradeHandler = { cls, _, reqCls, extraIn, extraInSize, sock, urh in
    guard let cls, let urh else { return }
    let core = Unmanaged<Core>.fromOpaque(cls).takeUnretainedValue()
    guard let reqCls, let handler = Unmanaged<RequestContext>.fromOpaque(reqCls).takeUnretainedValue().upgrade else {
        CMicroHTTPD_upgrade_close(urh)
        return
    }
    let extra: [UInt8] = extraIn.map { p in
        p.withMemoryRebound(to: UInt8.self, capacity: extraInSize) { Array(UnsafeBufferPointer(start: $0, count: extraInSize)) }
    } ?? []
    core.adopt(socket: sock, urh: urh, extraInput: extra, handler: handler)
}

private let collectValue: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let box = Unmanaged<PairBox>.fromOpaque(cls).takeUnretainedValue()
    let name = String(cString: key)
    box.pairs.append((box.lowercaseNames ? name.lowercased() : name, value.map { String(cString: $0) } ?? ""))
    return .YES
}

/// Collects key/value pairs from `MHD_get_connection_values` during one call.
private final class PairBox {
    var pairs: [(name: String, value: String)] = []
    let lowercaseNames: Bool
    init(lowercaseNames: Bool) { self.lowercaseNames = lowercaseNames }
}

// MARK: The Swift side of the callbacks

/// What the C callbacks reach through their `cls` pointer.
final class Core: Sendable {
    let configuration: ServerConfiguration
    let router: Router
    private let live = Mutex(LiveConnections())
    private let heartbeat = Mutex<Task<Void, Never>?>(nil)
    private let webSockets = Mutex<WebSocketLoop?>(nil)
    /// Where requests come in, set once at start before the first request.
    let listening = Mutex<ListeningAddress?>(nil)

    private struct LiveConnections {
        var streams: [ObjectIdentifier: ByteStream] = [:]
        var deferred: [ObjectIdentifier: DeferredResponder] = [:]
        /// Deferred requests not yet completed (answered or not).
        var deferredInFlight = 0
        var stopping = false
    }

    init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
    }

    func handle(connection: OpaquePointer, url: UnsafePointer<CChar>, method: UnsafePointer<CChar>,
                version: UnsafePointer<CChar>?, uploadData: UnsafePointer<CChar>?, uploadSize: UnsafeMutablePointer<Int>,
                reqCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> MHD_Result {
        guard let raw = reqCls.pointee, raw != nulInTargetMarker else {
            // First call, headers complete: refuse ambiguous framing before
            // anything else, then only set up the context, so that keep-alive
            // and `100 Continue` work; answer early only for a declared oversize body.
            let nulInTarget = reqCls.pointee != nil
            let context = RequestContext()
            reqCls.pointee = Unmanaged.passRetained(context).toOpaque()
            context.headers = collect(connection, .HEADER_KIND, lowercaseNames: true)
            let version = version.map { String(cString: $0) } ?? ""
            if let error = RequestFraming.refusal(version: version, headers: context.headers, nulInTarget: nulInTarget) {
                context.answered = true
                var response = configuration.renderError(error)
                response.headers.append(("Connection", "close"))
                if configuration.accessLog != nil {
                    context.method = String(cString: method)
                    context.path = String(cString: url)
                }
                return send(response, on: connection, context: context)
            }
            if let length = context.headers.first(where: { $0.name == "content-length" }),
               let declared = Int(length.value), declared > configuration.maxBodyBytes {
                context.tooLarge = true
                context.answered = true
                return queue(configuration.renderError(tooLarge()), on: connection)
            }
            return .YES
        }
        let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
        if uploadSize.pointee > 0 {
            let size = uploadSize.pointee
            uploadSize.pointee = 0
            if context.answered || context.tooLarge { return .YES }
            if context.body.count + size > configuration.maxBodyBytes {
                // A body without a declared length grew past the limit: drop it
                // and answer 413 when the request ends (libmicrohttpd will not
                // queue a response in the middle of a chunked upload).
                context.tooLarge = true
                context.body = []
                return .YES
            }
            if let uploadData {
                uploadData.withMemoryRebound(to: UInt8.self, capacity: size) {
                    context.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                }
            }
            return .YES
        }
        if let responder = context.responder {
            // Resumed after a deferred answer.
            context.responder = nil
            let response = responder.take() ?? configuration.renderError(HTTPError(503, "Shutting down"))
            return send(response, on: connection, context: context)
        }
        if context.answered { return .YES }
        context.answered = true
        if context.tooLarge {
            if configuration.accessLog != nil {
                context.method = String(cString: method)
                context.path = String(cString: url)
            }
            return send(configuration.renderError(tooLarge()), on: connection, context: context)
        }
        let request = makeRequest(connection: connection, url: url, method: method, context: context)
        context.body = []
        if configuration.accessLog != nil {
            context.method = request.method
            context.path = request.path
        }
        return send(dispatch(request), on: connection, context: context)
    }

    private func tooLarge() -> HTTPError {
        HTTPError(413, "Request body too large (limit \(configuration.maxBodyBytes) bytes)")
    }

    private func makeRequest(connection: OpaquePointer, url: UnsafePointer<CChar>,
                             method: UnsafePointer<CChar>, context: RequestContext) -> HTTPRequest {
        let query = collect(connection, .GET_ARGUMENT_KIND, lowercaseNames: false)
        var request = HTTPRequest(method: String(cString: method), path: String(cString: url),
                                  query: query, headers: context.headers, body: context.body)
        request.listening = listening.withLock { $0 }
        return request
    }

    /// Every value of one kind, duplicates included, in arrival order.
    private func collect(_ connection: OpaquePointer, _ kind: MHD_ValueKind, lowercaseNames: Bool) -> [(name: String, value: String)] {
        let box = PairBox(lowercaseNames: lowercaseNames)
        MHD_get_connection_values(connection, kind, collectValue, Unmanaged.passUnretained(box).toOpaque())
        return box.pairs
    }

    func dispatch(_ request: HTTPRequest) -> HTTPResponse {
        if let refusal = router.refusal(of: request) { return configuration.renderError(refusal) }
        switch router.resolve(method: request.method, path: request.path) {
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

    private func send(_ response: HTTPResponse, on connection: OpaquePointer, context: RequestContext) -> MHD_Result {
        if case .upgrade(let handler) = response.body { context.upgrade = handler }
        guard case .deferred(let start) = response.body else {
            configuration.accessLog?(context.method, context.path, response.status, monotonicNow() - context.arrived)
            return queue(response, on: connection)
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
        if stopping { return queue(configuration.renderError(HTTPError(503, "Shutting down")), on: connection) }
        context.responder = responder
        context.wasDeferred = true
        MHD_suspend_connection(connection)
        start(responder)
        return .YES
    }

    /// Turns a response into libmicrohttpd's and queues it.
    func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
        let mhd: OpaquePointer?
        switch response.body {
        case .empty:
            mhd = MHD_create_response_from_buffer(0, nil, .RESPMEM_PERSISTENT)
        case .bytes(let bytes):
            mhd = bytes.withUnsafeBytes {
                MHD_create_response_from_buffer($0.count, UnsafeMutableRawPointer(mutating: $0.baseAddress), .RESPMEM_MUST_COPY)
            }
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            var info = stat()
            if fd >= 0 && fstat(fd, &info) == 0 {
                mhd = MHD_create_response_from_fd(Int(info.st_size), fd)
            } else {
                // Gone since StaticFiles checked it; the file-system path stays private.
                if fd >= 0 { close(fd) }
                return queue(configuration.renderError(HTTPError(404, "Not found")), on: connection)
            }
        case .stream(let stream):
            let streamRef = Unmanaged.passRetained(stream).toOpaque()
            mhd = MHD_create_response_from_callback(UInt64.max, 16 * 1024, streamReader, streamRef, streamFreed)
            if mhd == nil {
                Unmanaged<ByteStream>.fromOpaque(streamRef).release()
            } else {
                stream.attach(connection)
                register(stream)
            }
        case .upgrade:
            mhd = MHD_create_response_for_upgrade(upgraded, Unmanaged.passUnretained(self).toOpaque())
        case .deferred:
            configuration.log(.error, "a deferred response answered with another deferred response")
            return queue(configuration.renderError(HTTPError(500, "Internal server error")), on: connection)
        }
        guard let mhd else { return .NO }
        for (name, value) in response.headers { MHD_add_response_header(mhd, name, value) }
        let result = MHD_queue_response(connection, UInt32(response.status), mhd)
        MHD_destroy_response(mhd)
        return result
    }

    // MARK: WebSockets

    func startWebSockets() throws(ServerError) {
        let loop = try WebSocketLoop(limits: configuration.webSocket, log: configuration.log)
        loop.start()
        webSockets.withLock { $0 = loop }
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
    func adopt(socket fd: Int32, urh: OpaquePointer, extraInput: [UInt8], handler: WebSocketHandler) {
        guard let loop = webSockets.withLock({ $0 }) else {
            CMicroHTTPD_upgrade_close(urh)
            return
        }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var sendBuffer: Int32 = 64 * 1024
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        loop.add(WebSocket(fd: fd, urh: urh, extraInput: extraInput, handler: handler,
                           limits: configuration.webSocket, loop: loop))
    }

    // MARK: Streams and shutdown

    private func register(_ stream: ByteStream) {
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

    func deferredCompleted() {
        live.withLock { $0.deferredInFlight -= 1 }
    }

    /// Ends every stream and answers every deferred request, then gives
    /// libmicrohttpd up to `grace` seconds to send those last bytes.
    func shutdown(grace: Double = 2) {
        heartbeat.withLock { $0?.cancel() }
        let (streams, deferred) = live.withLock { l in
            l.stopping = true
            return (Array(l.streams.values), Array(l.deferred.values))
        }
        for s in streams { s.finish() }
        for d in deferred { d.respond(configuration.renderError(HTTPError(503, "Shutting down"))) }
        stopWebSockets()
        var waited = 0.0
        while waited < grace && live.withLock({ !$0.streams.isEmpty || $0.deferredInFlight > 0 }) {
            usleep(1000)
            waited += 0.001
        }
    }
}
