import HTTPServer
import JSON
import JobEngine

/// The API's contract and the page that reads it: what anybody may learn
/// from the dashboard's own scripts anyway (job types included).
extension JobRunnerAPI {
    static let metaRoutes: [APIRoute] = [
        APIRoute("GET", "/api/openapi.json", .open, handle: { api, _ in .json(api.openAPIBytes()) }, doc: OpenAPI.getOpenAPI),
        APIRoute("GET", "/api/docs", .open, handle: { api, req in try api.apiDocsPage(req) }, doc: OpenAPI.getAPIDocs),
    ]

    /// The OpenAPI document for the job types in place now: made once per set of
    /// types (they change on SIGHUP), outside the lock.
    func openAPIBytes() -> [UInt8] {
        let (registry, version) = engine.versionedRegistry
        if let cached = openAPIDocument.withLock({ $0 }), cached.version == version { return cached.bytes }
        let bytes = OpenAPI.document(routes: routes, registry: registry, version: configuration.version, signIn: gate.authenticator.mode == .tokens).serialized()
        openAPIDocument.withLock { current in
            if (current?.version ?? 0) <= version { current = (version, bytes) }
        }
        return bytes
    }

    /// `GET /api/docs`: the dashboard's page that renders `/api/openapi.json`.
    func apiDocsPage(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard let staticFiles else { throw HTTPError.notFound(request.path) }
        return try staticFiles.respond(HTTPRequest(method: request.method, path: "/api-docs.html"))
    }
}

extension OpenAPI {
    static func getOpenAPI(_: JobRegistry) -> Doc {
        Doc(id: "getOpenAPI", tag: "meta", summary: "This document",
            responses: ["200": response("OpenAPI 3.1, with this daemon's job types.", ["type": "object"])])
    }

    static func getAPIDocs(_: JobRegistry) -> Doc {
        Doc(id: "getAPIDocs", tag: "meta", summary: "A page that renders this document",
            responses: ["200": ["description": "The page.", "content": ["text/html": ["schema": ["type": "string"]]]],
                        "404": error("The daemon serves no web root.")])
    }
}
