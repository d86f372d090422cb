import Glibc
import HTTPServer
import HTTPTestSupport
import Testing

/// A temporary web root with a few files, a subdirectory and a symlink that
/// points outside it.
struct WebRoot {
    let root: String
    let outside: String

    init() throws {
        var template = Array("/tmp/jobrunner-www-XXXXXX".utf8CString)
        let base = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        root = base + "/www"
        outside = base + "/secret.txt"
        mkdir(root, 0o755)
        mkdir(root + "/css", 0o755)
        mkdir(root + "/sub", 0o755)
        try Self.write(root + "/index.html", "<h1>home</h1>")
        try Self.write(root + "/css/style.css", "body{}")
        try Self.write(root + "/app.js", "1")
        try Self.write(root + "/data.bin", "xx")
        try Self.write(root + "/sub/index.html", "sub")
        try Self.write(outside, "top secret")
        symlink(outside, root + "/leak.txt")
        symlink(base, root + "/updir")
    }

    static func write(_ path: String, _ text: String) throws {
        guard let f = fopen(path, "w") else { throw TestClientError("cannot write \(path)") }
        fputs(text, f)
        fclose(f)
    }
}

@Suite(.timeLimit(.minutes(10))) struct StaticFilesTests {
    func serve(_ body: (Int) throws -> Void) throws {
        let web = try WebRoot()
        let files = StaticFiles(root: web.root)
        try withServer({ r in r.setFallback { req in try files.respond(req) } }) { server in try body(server.port) }
    }

    @Test func rootServesIndexWithMimeTypes() async throws {
        try await offPool {
            try serve { port in
                let index = try httpRequest(port: port, "GET", "/")
                #expect(index.status == 200)
                #expect(index.text == "<h1>home</h1>")
                #expect(index.header("Content-Type") == "text/html; charset=utf-8")
                #expect(try httpRequest(port: port, "GET", "/css/style.css").header("Content-Type") == "text/css; charset=utf-8")
                #expect(try httpRequest(port: port, "GET", "/app.js").header("Content-Type") == "application/javascript; charset=utf-8")
                #expect(try httpRequest(port: port, "GET", "/data.bin").header("Content-Type") == "application/octet-stream")
                #expect(try httpRequest(port: port, "GET", "/sub/").text == "sub")
                #expect(try httpRequest(port: port, "GET", "/sub").text == "sub")
            }
        }
    }

    @Test func headSendsHeadersOnly() async throws {
        try await offPool {
            try serve { port in
                let c = try TestHTTPConnection(port: port)
                let r = try c.request("HEAD", "/css/style.css")
                #expect(r.status == 200)
                #expect(r.header("Content-Length") == "6")
                #expect(r.body.isEmpty)
                // The connection is still in step: the next response parses.
                #expect(try c.request("GET", "/app.js").text == "1")
            }
        }
    }

    @Test(arguments: ["/../secret.txt", "/%2e%2e/secret.txt", "/css/..%2f..%2fsecret.txt", "/leak.txt", "/updir/secret.txt", "/css/../../secret.txt"])
    func escapingTheRootIsForbidden(_ path: String) async throws {
        try await offPool {
            try serve { port in
                let r = try httpRequest(port: port, "GET", path)
                #expect(r.status == 403)
                #expect(r.text == #"{"error":"Forbidden"}"#)
                #expect(!r.text.contains("secret"))
            }
        }
    }

    @Test func missingFileIs404() async throws {
        try await offPool {
            try serve { port in
                let r = try httpRequest(port: port, "GET", "/nope.html")
                #expect(r.status == 404)
                #expect(r.text == #"{"error":"Not found: /nope.html"}"#)
            }
        }
    }

    @Test func mimeTable() {
        #expect(StaticFiles.mimeType(for: "/a/b.PNG") == "image/png")
        #expect(StaticFiles.mimeType(for: "/a.jpg") == "image/jpeg")
        #expect(StaticFiles.mimeType(for: "/a.gif") == "image/gif")
        #expect(StaticFiles.mimeType(for: "/a.svg") == "image/svg+xml")
        #expect(StaticFiles.mimeType(for: "/favicon.ico") == "image/x-icon")
        #expect(StaticFiles.mimeType(for: "/x.json") == "application/json")
        #expect(StaticFiles.mimeType(for: "/d.ir/file") == "application/octet-stream")
    }
}
