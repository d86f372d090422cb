import Glibc

/// Why the server could not start.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Opening the listening socket ourselves (rather than letting libmicrohttpd bind)
/// gives clear errors, any host name or address family, port 0 read back, and the
/// same path for an inherited socket-activation descriptor.
enum Listener {
    static func bind(host: String, port: Int, backlog: Int32 = 1024) throws(ServerError) -> Int32 {
        guard (0...65535).contains(port) else { throw ServerError("invalid port \(port)") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else {
            throw ServerError("cannot resolve host '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var node: UnsafeMutablePointer<addrinfo>? = list
        while let ai = node {
            node = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
            if fd < 0 { lastError = errno; continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 && listen(fd, backlog) == 0 {
                return fd
            }
            lastError = errno
            close(fd)
        }
        throw ServerError("cannot listen on \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    /// The address and port a listening socket is bound to.
    static func address(_ fd: Int32) -> ListeningAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return ListeningAddress(port: 0, host: "", isLoopback: false) }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { p -> ListeningAddress in
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if family == sa_family_t(AF_INET6) {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    var addr = a.pointee.sin6_addr
                    inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                    let bytes = withUnsafeBytes(of: addr) { Array($0) }
                    let loopback = bytes == [UInt8](repeating: 0, count: 15) + [1]
                        || (bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127)
                    return ListeningAddress(port: Int(UInt16(bigEndian: a.pointee.sin6_port)),
                                            host: "[" + Self.string(text) + "]", isLoopback: loopback)
                }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
                var addr = a.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                let firstOctet = UInt32(bigEndian: addr.s_addr) >> 24
                return ListeningAddress(port: Int(UInt16(bigEndian: a.pointee.sin_port)),
                                        host: Self.string(text), isLoopback: firstOctet == 127)
            }
        }
    }

    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
