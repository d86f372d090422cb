import Glibc
import Synchronization

/// The server's certificate chain and key (PEM files), served over TLS and
/// reloadable while the listener stays open: libmicrohttpd asks for the
/// certificate at every handshake (`LibMicroHTTPD.swift`), so after `reload`
/// new connections get the new one and open connections keep theirs.
public final class TLSCredentials: Sendable {
    public let certificateFile: String
    public let keyFile: String
    private let current: Mutex<TLSIdentity>

    /// Reads and checks both files (the key must match the certificate).
    public init(certificateFile: String, keyFile: String) throws(ServerError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        current = Mutex(try Self.load(certificateFile, keyFile))
    }

    /// Reads both files again; on any error the served certificate stays.
    public func reload() throws(ServerError) {
        let fresh = try Self.load(certificateFile, keyFile)
        current.withLock { $0 = fresh }
        if servedIdentity.withLock({ $0 != nil }) { install() }
    }

    /// Makes this certificate the one handshakes present.
    func install() {
        let identity = current.withLock { $0 }
        servedIdentity.withLock { $0 = identity }
    }

    private static func load(_ certificateFile: String, _ keyFile: String) throws(ServerError) -> TLSIdentity {
        let certificate = try contents(certificateFile, what: "TLS certificate")
        let key = try contents(keyFile, what: "TLS key")
        do {
            return try TLSIdentity.load(certificate: certificate, key: key)
        } catch {
            throw ServerError("cannot use TLS certificate \(certificateFile) with key \(keyFile): \(error.message)")
        }
    }

    private static func contents(_ path: String, what: String) throws(ServerError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ServerError("cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ServerError("cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > 1 << 20 { throw ServerError("\(what) \(path) is larger than 1 MiB") }
        }
        return bytes
    }
}
