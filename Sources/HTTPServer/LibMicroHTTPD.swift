import CMicroHTTPD
import Glibc
import Synchronization

// The one file that talks to libmicrohttpd (and to the GnuTLS it brings along:
// hashes, random bytes, the server's certificate): starting and stopping the
// daemon, its C callbacks, turning
// `HTTPResponse`s into its responses, and the connection and upgrade handles
// other files hold. Everything else in HTTPServer sees Swift types only.

// MARK: The daemon

/// A running libmicrohttpd daemon.
///
/// `@unchecked Sendable`: the pointer is only used by `stop`, once, after the
/// server has taken the handle out of the mutex that guards it.
struct MHDDaemon: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// Starts serving `listenFD` on libmicrohttpd's threads, calling into
    /// `connections` (which must outlive the daemon: the C side holds it unretained).
    static func start(listenFD: Int32, configuration: ServerConfiguration, connections: ServerConnections) -> MHDDaemon? {
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_ALLOW_UPGRADE.rawValue
        let cls = Unmanaged.passUnretained(connections).toOpaque()
        var options: [MHD_OptionItem] = [
            MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(listenFD), ptr_value: nil),
            MHD_OptionItem(option: .THREAD_POOL_SIZE, value: max(1, configuration.threads), ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_LIMIT, value: configuration.maxConnections, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.idleTimeoutSeconds, ptr_value: nil),
            MHD_OptionItem(option: .NOTIFY_COMPLETED, value: unsafeBitCast(requestCompleted, to: Int.self), ptr_value: cls),
            MHD_OptionItem(option: .NOTIFY_CONNECTION, value: unsafeBitCast(connectionNotified, to: Int.self), ptr_value: cls),
            MHD_OptionItem(option: .URI_LOG_CALLBACK, value: unsafeBitCast(uriLogged, to: Int.self), ptr_value: nil),
        ]
        if configuration.tls != nil {
            // The certificate comes from the retrieve callback at each handshake
            // (what `TLSCredentials.reload` swaps), not from fixed PEM buffers.
            flags |= MHD_USE_TLS.rawValue
            let callback = unsafeBitCast(certificateCallback, to: Int.self)
            options.append(MHD_OptionItem(option: .HTTPS_CERT_CALLBACK, value: callback,
                                          ptr_value: UnsafeMutableRawPointer(bitPattern: callback)))
        }
        if configuration.maxConnectionsPerIP > 0 {
            options.append(MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT,
                                          value: configuration.maxConnectionsPerIP, ptr_value: nil))
        }
        options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
        let handle = options.withUnsafeMutableBufferPointer {
            CMicroHTTPD_start(flags, accessHandler, cls, $0.baseAddress)
        }
        return handle.map(MHDDaemon.init(pointer:))
    }

    /// Stops the daemon; libmicrohttpd closes the listening socket itself.
    /// (`MHD_quiesce_daemon` would hand it back, but in 0.9.75 it races the
    /// thread pool's workers removing it from their epoll sets, and the loser
    /// aborts the process: "Failed to remove listen FD from epoll set".)
    func stop() {
        MHD_stop_daemon(pointer)
    }
}

// MARK: Handles held elsewhere

/// A libmicrohttpd connection, carried across threads.
///
/// `@unchecked Sendable`: `resume` is the one call libmicrohttpd allows from any
/// thread (and only while the connection is suspended, which keeps it alive);
/// everything else is called on the connection's own thread, inside a callback.
struct MHDConnection: @unchecked Sendable {
    fileprivate let pointer: OpaquePointer

    func suspend() { MHD_suspend_connection(pointer) }
    func resume() { MHD_resume_connection(pointer) }

    /// The connection's socket, or nil if libmicrohttpd does not say.
    func socket() -> Int32? {
        let fd = CMicroHTTPD_connection_fd(pointer)
        return fd >= 0 ? fd : nil
    }

    /// The header-deadline token noted when the connection opened (0: none).
    var deadlineToken: UInt { UInt(bitPattern: CMicroHTTPD_socket_context(pointer)) }

    /// Every header line, duplicates too, names lower-cased, in arrival order.
    func headers() -> [(name: String, value: String)] { values(.HEADER_KIND, lowercaseNames: true) }

    /// The peer's IP address as text, or nil if libmicrohttpd does not know it.
    func clientAddress() -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN) + 1) { text -> String? in
            guard CMicroHTTPD_client_address_text(pointer, text.baseAddress, text.count) == 0 else { return nil }
            return String(cString: text.baseAddress!)
        }
    }

    /// Decoded query arguments in order.
    func queryArguments() -> [(name: String, value: String)] { values(.GET_ARGUMENT_KIND, lowercaseNames: false) }

    private func values(_ kind: MHD_ValueKind, lowercaseNames: Bool) -> [(name: String, value: String)] {
        let box = PairBox(lowercaseNames: lowercaseNames)
        MHD_get_connection_values(pointer, kind, collectValue, Unmanaged.passUnretained(box).toOpaque())
        return box.pairs
    }

    /// Turns a response into libmicrohttpd's and queues it; false if it refused.
    /// Streams are registered with `connections` so shutdown can end them.
    func queue(_ response: HTTPResponse, connections: ServerConnections) -> Bool {
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
            guard fd >= 0 && fstat(fd, &info) == 0 else {
                // Gone since StaticFiles checked it; the file-system path stays private.
                if fd >= 0 { close(fd) }
                return queue(connections.configuration.renderError(HTTPError(404, "Not found")), connections: connections)
            }
            mhd = MHD_create_response_from_fd(Int(info.st_size), fd)
        case .stream(let stream):
            let streamRef = Unmanaged.passRetained(stream).toOpaque()
            mhd = MHD_create_response_from_callback(UInt64.max, 16 * 1024, streamReader, streamRef, streamFreed)
            if mhd == nil {
                Unmanaged<ByteStream>.fromOpaque(streamRef).release()
            } else {
                stream.attach(self, peers: connections.peerWatch)
                connections.register(stream)
                // The kernel's share bounded too (as for WebSockets): a client
                // that does not read backs up into the stream's bounded buffer
                // within 64 KiB, not into megabytes of an autotuned send buffer.
                if let fd = socket() {
                    var sendBuffer: Int32 = 64 * 1024
                    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
                }
            }
        case .upgrade:
            mhd = MHD_create_response_for_upgrade(upgraded, Unmanaged.passUnretained(connections).toOpaque())
        case .deferred:
            connections.configuration.log(.error, "a deferred response answered with another deferred response")
            return queue(connections.configuration.renderError(HTTPError(500, "Internal server error")), connections: connections)
        }
        guard let mhd else { return false }
        for (name, value) in response.headers { MHD_add_response_header(mhd, name, value) }
        // No response is meant to be sniffed: a job's log served as text stays
        // text, whatever bytes the job wrote.
        if !response.headers.contains(where: { $0.name.lowercased() == "x-content-type-options" }) {
            MHD_add_response_header(mhd, "X-Content-Type-Options", "nosniff")
        }
        let result = MHD_queue_response(pointer, UInt32(response.status), mhd)
        MHD_destroy_response(mhd)
        return result == .YES
    }
}

/// The handle of an upgraded (WebSocket) connection.
///
/// `@unchecked Sendable`: it is closed once, by the WebSocket I/O thread that owns
/// the connection (or on the MHD thread that upgraded it, if nobody takes it over).
struct UpgradeHandle: @unchecked Sendable {
    fileprivate let pointer: OpaquePointer

    /// Ends the upgraded connection and gives its socket back to libmicrohttpd.
    func close() { _ = CMicroHTTPD_upgrade_close(pointer) }
}

/// SHA-1 through GnuTLS (for `Sec-WebSocket-Accept`).
func sha1(_ input: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 20)
    _ = input.withUnsafeBytes { src in
        digest.withUnsafeMutableBytes { CMicroHTTPD_sha1(src.baseAddress, src.count, $0.baseAddress) }
    }
    return digest
}

/// SHA-256 through GnuTLS (token and session hashes).
public func sha256(_ input: some Collection<UInt8>) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    let bytes = Array(input)
    _ = bytes.withUnsafeBytes { src in
        digest.withUnsafeMutableBytes { CMicroHTTPD_sha256(src.baseAddress, src.count, $0.baseAddress) }
    }
    return digest
}

/// `count` bytes from GnuTLS's key generator (seeded by getrandom), or nil if
/// it failed (never silently weaker bytes).
public func secureRandomBytes(_ count: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    let rc = bytes.withUnsafeMutableBytes { CMicroHTTPD_random($0.baseAddress, $0.count) }
    return rc == 0 ? bytes : nil
}

// MARK: TLS identity

/// A certificate chain and its key, parsed by GnuTLS.
///
/// `@unchecked Sendable`: immutable once loaded, and never freed: GnuTLS uses
/// what the retrieve callback hands out (without copying) for as long as a
/// session lives, and nothing tells us when the last session of an old identity
/// ends. Reloads are rare (SIGHUP), and each keeps a few KB.
struct TLSIdentity: @unchecked Sendable {
    fileprivate let pointer: UnsafeMutablePointer<CMicroHTTPD_TLSIdentity>

    /// Parses PEM text; the error says what GnuTLS found wrong.
    static func load(certificate: [UInt8], key: [UInt8]) throws(ServerError) -> TLSIdentity {
        var out: UnsafeMutablePointer<CMicroHTTPD_TLSIdentity>?
        let rc = certificate.withUnsafeBytes { c in
            key.withUnsafeBytes { k in CMicroHTTPD_tls_load(c.baseAddress, c.count, k.baseAddress, k.count, &out) }
        }
        guard rc == 0, let out else { throw ServerError(String(cString: gnutls_strerror(rc))) }
        return TLSIdentity(pointer: out)
    }
}

/// The identity handshakes present now (one per process: the daemon has one
/// listener); swapped by `TLSCredentials`.
let servedIdentity = Mutex<TLSIdentity?>(nil)

// MARK: C callbacks (no captures: they find the server through their `cls`)

/// GnuTLS asks for the server's certificate at each handshake: the identity
/// served now, read under its lock (a pointer copy, nothing else).
private let certificateCallback: CMicroHTTPD_cert_retrieve = { _, _, _, _, _, pcert, pcertLength, pkey in
    guard let identity = servedIdentity.withLock({ $0 }) else { return -1 }
    return CMicroHTTPD_tls_select(identity.pointer, pcert, pcertLength, pkey)
}


private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, version, uploadData, uploadSize, reqCls in
    guard let cls, let connection, let url, let method, let uploadSize, let reqCls else { return .NO }
    let connections = Unmanaged<ServerConnections>.fromOpaque(cls).takeUnretainedValue()
    let handle = MHDConnection(pointer: connection)
    guard let raw = reqCls.pointee, raw != nulInTargetMarker else {
        // First call: the headers are complete, nothing of the body is read yet.
        connections.headerDeadlines?.headComplete(handle.deadlineToken)
        let context = RequestContext(nulInTarget: reqCls.pointee != nil)
        reqCls.pointee = Unmanaged.passRetained(context).toOpaque()
        return connections.begin(handle, context, url: url, method: method, version: version) ? .YES : .NO
    }
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeUnretainedValue()
    let size = uploadSize.pointee
    if size > 0 {
        uploadSize.pointee = 0
        connections.receive(UnsafeRawBufferPointer(start: UnsafeRawPointer(uploadData), count: uploadData == nil ? 0 : size),
                            context)
        return .YES
    }
    return connections.complete(handle, context, url: url, method: method) ? .YES : .NO
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

private let requestCompleted: MHD_RequestCompletedCallback = { cls, connection, reqCls, _ in
    guard let cls else { return }
    let connections = Unmanaged<ServerConnections>.fromOpaque(cls).takeUnretainedValue()
    var context: RequestContext?
    if let reqCls, let raw = reqCls.pointee {
        reqCls.pointee = nil
        if raw != nulInTargetMarker { context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue() }
    }
    if let context, context.wasDeferred { connections.deferredCompleted() }
    // The connection waits for its next request's head, unless it was handed
    // over (a WebSocket), which has no more heads.
    if context?.upgrade == nil, let connection {
        connections.headerDeadlines?.requestEnded(MHDConnection(pointer: connection).deadlineToken)
    }
}

/// A connection opened or closed: its header deadline is armed or forgotten
/// (the close notice comes before libmicrohttpd closes the socket).
private let connectionNotified: MHD_NotifyConnectionCallback = { cls, connection, socketContext, code in
    guard let cls, let connection, let socketContext else { return }
    let connections = Unmanaged<ServerConnections>.fromOpaque(cls).takeUnretainedValue()
    guard let deadlines = connections.headerDeadlines else { return }
    switch code {
    case .CONNECTION_NOTIFY_STARTED:
        guard let fd = MHDConnection(pointer: connection).socket() else { return }
        socketContext.pointee = UnsafeMutableRawPointer(bitPattern: deadlines.opened(fd: fd))
    case .CONNECTION_NOTIFY_CLOSED:
        if let token = socketContext.pointee {
            deadlines.closed(UInt(bitPattern: token))
            socketContext.pointee = nil
        }
    @unknown default:
        break
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
    let connections = Unmanaged<ServerConnections>.fromOpaque(cls).takeUnretainedValue()
    let upgrade = UpgradeHandle(pointer: urh)
    guard let reqCls, let handler = Unmanaged<RequestContext>.fromOpaque(reqCls).takeUnretainedValue().upgrade else {
        upgrade.close()
        return
    }
    let extra: [UInt8] = extraIn.map { p in
        p.withMemoryRebound(to: UInt8.self, capacity: extraInSize) { Array(UnsafeBufferPointer(start: $0, count: extraInSize)) }
    } ?? []
    connections.adopt(socket: sock, upgrade: upgrade, extraInput: extra, handler: handler)
}

private let collectValue: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let box = Unmanaged<PairBox>.fromOpaque(cls).takeUnretainedValue()
    let name = box.lowercaseNames ? asciiLowercased(key) : String(cString: key)
    box.pairs.append((name, value.map { String(cString: $0) } ?? ""))
    return .YES
}

/// Collects key/value pairs from `MHD_get_connection_values` during one call.
private final class PairBox {
    var pairs: [(name: String, value: String)] = []
    let lowercaseNames: Bool
    init(lowercaseNames: Bool) { self.lowercaseNames = lowercaseNames }
}

/// A header name in lower case, converted byte by byte (names are ASCII tokens;
/// most arrive lower-case already, and then nothing is converted).
private func asciiLowercased(_ key: UnsafePointer<CChar>) -> String {
    let count = strlen(key)
    return key.withMemoryRebound(to: UInt8.self, capacity: count) { p in
        let bytes = UnsafeBufferPointer(start: p, count: count)
        guard bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return String(decoding: bytes, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: count) { out in
            for i in 0..<count { out[i] = bytes[i] >= 0x41 && bytes[i] <= 0x5A ? bytes[i] | 0x20 : bytes[i] }
            return count
        }
    }
}
