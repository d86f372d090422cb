import Glibc

/// Serves files under a web root: `/` and directories map to `index.html`; the
/// MIME type comes from the extension; anything that resolves outside the root
/// (`..`, percent-encoded or not, or a symlink pointing out) is refused with 403.
public struct StaticFiles: Sendable {
    public let root: String
    /// Sent with every file (security headers such as a Content-Security-Policy).
    public let headers: [(name: String, value: String)]
    private let resolvedRoot: String?

    public init(root: String, headers: [(name: String, value: String)] = []) {
        self.root = root
        self.headers = headers
        resolvedRoot = StaticFiles.realPath(root)
    }

    public static let mimeTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "application/javascript; charset=utf-8",
        "json": "application/json",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "svg": "image/svg+xml",
        "ico": "image/x-icon",
    ]

    public static func mimeType(for path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "application/octet-stream" }
        return mimeTypes[path[path.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    public func respond(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw HTTPError(405, "Method not allowed", headers: [("Allow", "GET, HEAD")])
        }
        let path = request.path
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains(where: { $0 == ".." }) || path.contains("\0") || path.contains("\\") {
            throw HTTPError(403, "Forbidden")
        }
        guard let resolvedRoot else { throw HTTPError.notFound(path) }
        var candidate = root + (path.hasPrefix("/") ? path : "/" + path)
        if candidate.hasSuffix("/") { candidate += "index.html" }
        guard var resolved = StaticFiles.realPath(candidate) else { throw HTTPError.notFound(path) }
        guard resolved == resolvedRoot || resolved.hasPrefix(resolvedRoot == "/" ? "/" : resolvedRoot + "/") else {
            throw HTTPError(403, "Forbidden")
        }
        var info = stat()
        guard stat(resolved, &info) == 0 else { throw HTTPError.notFound(path) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            resolved += "/index.html"
            guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                  let again = StaticFiles.realPath(resolved), again.hasPrefix(resolvedRoot + "/") || resolvedRoot == "/" else {
                throw HTTPError.notFound(path)
            }
        } else if (info.st_mode & S_IFMT) != S_IFREG {
            throw HTTPError.notFound(path)
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", StaticFiles.mimeType(for: resolved)),
                                                   ("Cache-Control", "no-cache")] + headers,
                            body: .file(path: resolved))
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
