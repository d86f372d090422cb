import Glibc

/// A response as read off the wire.
public struct TestResponse: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct TestClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A blocking HTTP/1.1 client over one TCP connection to 127.0.0.1, for tests:
/// it sends exactly the bytes it is told to (malformed ones too) and parses
/// Content-Length, chunked and read-until-close bodies. Every read times out
/// after `timeoutSeconds` so a broken server fails a test instead of hanging it
/// (30 s by default: on 2 cores shared with other builds, under ThreadSanitizer,
/// a daemon's job events took over 10 s to come while the tests were working).
public final class TestHTTPConnection {
    /// -1 once closed: a failed init closes it and deinit must not close the
    /// number again (by then it may be another thread's new socket).
    public private(set) var fd: Int32
    public let port: Int
    private var pending: [UInt8] = []

    public init(port: Int, timeoutSeconds: Int = 30) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestClientError("socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let failure = errno
            close(fd)
            fd = -1
            throw TestClientError("connect to port \(port) failed: errno \(failure)")
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestClientError("send failed: errno \(errno)") }
            offset += n
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// `Host` as a browser sends it.
    public var host: String { "127.0.0.1:\(port)" }

    /// Sends a request with `Host`, `Content-Length` (when there is a body) and the extra headers.
    public func request(_ method: String, _ path: String, body: [UInt8]? = nil,
                        headers: [(String, String)] = []) throws -> TestResponse {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for (n, v) in headers { head += "\(n): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + (body ?? []))
        return try readResponse(method: method)
    }

    public func request(_ method: String, _ path: String, json: String, headers: [(String, String)] = []) throws -> TestResponse {
        try request(method, path, body: Array(json.utf8), headers: [("Content-Type", "application/json")] + headers)
    }

    /// Reads more bytes; returns false at end of stream.
    public func fill() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw TestClientError("recv failed or timed out: errno \(errno)") }
        if n == 0 { return false }
        pending.append(contentsOf: buffer[0..<n])
        return true
    }

    /// Reads up to and including the next `delimiter`, or nil at end of stream.
    public func readUntil(_ delimiter: [UInt8]) throws -> [UInt8]? {
        while true {
            if let r = find(delimiter) {
                let out = Array(pending[..<r.upperBound])
                pending.removeFirst(r.upperBound)
                return out
            }
            if try !fill() { return nil }
        }
    }

    public func readExactly(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            if try !fill() { throw TestClientError("connection closed with \(pending.count) of \(count) bytes") }
        }
        let out = Array(pending[..<count])
        pending.removeFirst(count)
        return out
    }

    /// Everything until the server closes the connection.
    public func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { pending = [] }
        return pending
    }

    public func readResponse(method: String = "GET") throws -> TestResponse {
        guard let head = try readUntil(Array("\r\n\r\n".utf8)) else { throw TestClientError("connection closed before a response") }
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
              let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw TestClientError("bad status line: \(lines.first ?? "")")
        }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingSpaces))
        }
        let response = { (body: [UInt8]) in TestResponse(status: status, headers: headers, body: body) }
        let lookup = { (name: String) in headers.first { $0.0.lowercased() == name }?.1 }
        if method == "HEAD" || status == 204 || status == 304 || status == 101 { return response([]) }
        if let te = lookup("transfer-encoding"), te.lowercased().contains("chunked") {
            var body: [UInt8] = []
            while true {
                guard let sizeLine = try readUntil([13, 10]) else { throw TestClientError("closed inside chunked body") }
                let hex = String(decoding: sizeLine.dropLast(2), as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(hex.trimmingSpaces, radix: 16) else { throw TestClientError("bad chunk size") }
                if size == 0 {
                    _ = try readUntil([13, 10])
                    return response(body)
                }
                body += try readExactly(size)
                _ = try readExactly(2)
            }
        }
        if let length = lookup("content-length").flatMap({ Int($0) }) {
            return response(try readExactly(length))
        }
        return response(try readToEnd())
    }

    private func find(_ needle: [UInt8]) -> Range<Int>? {
        guard pending.count >= needle.count else { return nil }
        var i = 0
        while i + needle.count <= pending.count {
            if pending[i] == needle[0] && Array(pending[i..<(i + needle.count)]) == needle { return i..<(i + needle.count) }
            i += 1
        }
        return nil
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// One request on a fresh connection.
public func httpRequest(port: Int, _ method: String, _ path: String, body: String? = nil,
                        headers: [(String, String)] = []) throws -> TestResponse {
    let c = try TestHTTPConnection(port: port)
    if let body { return try c.request(method, path, json: body, headers: headers) }
    return try c.request(method, path, headers: headers)
}
