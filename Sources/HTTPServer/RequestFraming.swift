/// Requests whose framing or target two HTTP parsers could read differently are
/// refused before anything else sees them (400, and the connection is closed so
/// no trailing bytes are ever read as another request):
///
/// - `Content-Length` together with `Transfer-Encoding`, or more than one
///   `Content-Length` (request smuggling);
/// - any `Transfer-Encoding` but a single `chunked` (libmicrohttpd would wait for
///   the connection to close to find the body's end);
/// - `%00` anywhere in the target (it would truncate the path it matches);
/// - HTTP/1.1 without exactly one `Host`;
/// - a WebSocket upgrade over HTTP/1.0 (which cannot upgrade).
///
/// A `Content-Length` that is not a decimal number below 2^64 never gets here:
/// libmicrohttpd answers it itself (400 or 413) and closes the connection.
enum RequestFraming {
    /// The error to answer with, or nil. `headers` holds every header line
    /// (duplicates too) with lower-cased names.
    static func refusal(version: String, headers: [(name: String, value: String)], nulInTarget: Bool) -> HTTPError? {
        if nulInTarget { return HTTPError(400, "Bad request: NUL (%00) in the request target") }
        var hosts = 0
        var lengths: [String] = []
        var encodings: [String] = []
        var webSocket = false
        for header in headers {
            switch header.name {
            case "host": hosts += 1
            case "content-length": lengths.append(header.value)
            case "transfer-encoding": encodings.append(header.value)
            case "upgrade": webSocket = webSocket || header.value.lowercased().contains("websocket")
            default: break
            }
        }
        let http10 = version == "HTTP/1.0"
        if hosts > 1 { return HTTPError(400, "Bad request: more than one Host header") }
        if hosts == 0 && !http10 { return HTTPError(400, "Bad request: HTTP/1.1 requires a Host header") }
        if lengths.count > 1 { return HTTPError(400, "Bad request: more than one Content-Length") }
        if !encodings.isEmpty {
            if !lengths.isEmpty { return HTTPError(400, "Bad request: both Content-Length and Transfer-Encoding") }
            guard encodings.count == 1, encodings[0].trimmingCharacters().lowercased() == "chunked", !http10 else {
                return HTTPError(400, "Bad request: unsupported Transfer-Encoding (only chunked, over HTTP/1.1)")
            }
        }
        if let length = lengths.first?.trimmingCharacters(),
           length.isEmpty || !length.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return HTTPError(400, "Bad request: invalid Content-Length")
        }
        if webSocket && http10 { return HTTPError(400, "WebSocket upgrade needs HTTP/1.1") }
        return nil
    }

    /// Whether a raw (still percent-encoded) request target contains `%00`.
    static func hasEncodedNUL(_ target: UnsafePointer<CChar>) -> Bool {
        var p = target
        while p.pointee != 0 {
            if p.pointee == 0x25, p[1] == 0x30, p[2] == 0x30 { return true }
            p += 1
        }
        return false
    }
}
