import HTTPServer
import JSON
import JobEngine

/// One route of the API, declared once: its method and pattern, who may call
/// it, whether it counts against `--rate-limit`, its handler and its OpenAPI
/// operation. The router (`makeRouter`), the scope policy (`AuthPolicy`) and
/// the document (`OpenAPI.document`) all read `JobRunnerAPI.routes`.
struct APIRoute: Sendable {
    let method: String
    /// A route pattern (`/api/jobs/:id`).
    let pattern: String
    let access: AuthPolicy.Access
    /// Counts against `--rate-limit`.
    let rateLimited: Bool
    let handle: @Sendable (JobRunnerAPI, HTTPRequest) throws -> HTTPResponse
    let doc: Doc

    enum Doc: Sendable {
        /// An operation of the document's `paths`, made for the job types in place.
        case operation(@Sendable (JobRegistry) -> OpenAPI.Doc)
        /// A WebSocket upgrade: no HTTP operation, described under `x-websockets`.
        case webSocket(@Sendable () -> JSONValue)
    }

    init(_ method: String, _ pattern: String, _ access: AuthPolicy.Access, rateLimited: Bool = false,
         handle: @escaping @Sendable (JobRunnerAPI, HTTPRequest) throws -> HTTPResponse,
         doc: @escaping @Sendable (JobRegistry) -> OpenAPI.Doc) {
        self.init(method, pattern, access, rateLimited: rateLimited, handle: handle, doc: .operation(doc))
    }

    init(_ method: String, _ pattern: String, _ access: AuthPolicy.Access, rateLimited: Bool = false,
         handle: @escaping @Sendable (JobRunnerAPI, HTTPRequest) throws -> HTTPResponse, doc: Doc) {
        self.method = method
        self.pattern = pattern
        self.access = access
        self.rateLimited = rateLimited
        self.handle = handle
        self.doc = doc
    }

    var rule: AuthPolicy.Rule { AuthPolicy.Rule(method: method, pattern: pattern, access: access, rateLimited: rateLimited) }
}

extension JobRunnerAPI {
    /// Every route of the API, by feature, in the order the document lists them.
    static let routes: [APIRoute] = jobRoutes + statusRoutes + queueRoutes + sessionRoutes + webhookRoutes + metaRoutes
        + scheduleRoutes + socketRoutes
}
