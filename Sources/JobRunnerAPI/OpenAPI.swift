import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `GET /api/openapi.json`: the REST API as an OpenAPI 3.1 document, built from
/// the live job types (built-ins and command types) with the same parameter and
/// option schemas that validate submissions, and each route's access, from
/// `JobRunnerAPI.routes`.
/// Serialized once per set of job types (they change on SIGHUP), never per request.
enum OpenAPI {
    static let specVersion = "3.1.0"

    /// The document for these routes and job types. `signIn`: whether the daemon
    /// has tokens (without them `POST /api/session` has nothing to offer and is left out).
    static func document(routes: [APIRoute] = JobRunnerAPI.routes, registry: JobRegistry, version: String,
                         signIn: Bool = true) -> JSONValue {
        var paths = JSONObject()
        var sockets = JSONObject()
        for route in routes {
            switch route.doc {
            case .webSocket(let describe):
                sockets[route.pattern] = describe()
            case .operation(let make):
                let doc = make(registry)
                guard signIn || doc.id != "signIn" else { continue }
                let path = openAPIPath(route.pattern)
                var item = paths[path]?.objectValue ?? JSONObject()
                item[route.method.lowercased()] = .object(operation(route, doc))
                paths[path] = .object(item)
            }
        }
        return .object([
            "openapi": .string(specVersion),
            "info": .object([
                "title": "JobRunner API",
                "version": .string(version),
                "summary": "Submit, watch and manage jobs of a jobrunnerd daemon.",
                "description": .string(infoDescription),
            ]),
            "tags": .array(tags.map { ["name": .string($0.key), "description": .string($0.value)] }),
            "paths": .object(paths),
            // Not an HTTP operation (a client that follows the paths gets no
            // queue from it): the upgrade, described for readers.
            "x-websockets": .object(sockets),
            "components": .object([
                "schemas": .object(schemas(registry)),
                "securitySchemes": .object([
                    "bearerAuth": ["type": "http", "scheme": "bearer",
                                    "description": "A token from the config file's 'tokens' (jobrunnerd token new NAME --scopes read,submit). The scopes listed on an operation are the token scopes it needs (admin implies all)."],
                    "sessionCookie": ["type": "apiKey", "in": "cookie", "name": .string(Authenticator.cookieName),
                                       "description": "The dashboard's session, made by POST /api/session; it carries the token's scopes."],
                ]),
            ]),
        ])
    }

    static let infoDescription = """
        The REST API of jobrunnerd. Bodies are UTF-8 JSON; times are Unix epoch seconds \
        (numbers with a fraction); job ids are integers. Every error is a JSON object \
        {"error": "..."} with a 4xx status (5xx: nothing changed, retrying is safe). \
        With tokens configured, every operation except health checks and /api/session \
        needs a bearer token or the session cookie with the scope the operation names; \
        a daemon without tokens (open, loopback only) needs neither. Job types and their \
        params are this daemon's own: the document follows its configuration. \
        The per-job SSE stream and the WebSocket protocol (/ws/queue) are described in docs/protocol.md.
        """

    static let tags: KeyValuePairs<String, String> = [
        "jobs": "Submit, list, cancel and retry jobs; their progress stream and log.",
        "job-types": "The job types this daemon runs and their params.",
        "queues": "Named queues: counts, pause and concurrency.",
        "schedules": "Cron schedules that submit jobs.",
        "status": "Counts, worker figures, liveness and readiness.",
        "session": "The dashboard's sign-in with a token.",
        "webhooks": "Deliveries of the webhooks the config file declares.",
        "meta": "This document and its reader (the WebSocket /ws/queue: x-websockets, docs/protocol.md).",
    ]

    /// `/api/jobs/:id` → `/api/jobs/{id}`.
    static func openAPIPath(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{" + segment.dropFirst() + "}" : String(segment)
        }.joined(separator: "/")
    }

    // MARK: Operations

    /// What a route's entry says of its operation; `operation` adds its
    /// security and the errors every operation of its kind can answer.
    struct Doc {
        var id: String
        var tag: String
        var summary: String
        var description: String? = nil
        var parameters: [JSONValue] = []
        var body: JSONValue? = nil
        var responses: JSONObject
    }

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func nullable(_ type: String) -> JSONValue { ["type": [.string(type), "null"]] }

    static func jsonContent(_ schema: JSONValue) -> JSONValue { ["application/json": ["schema": schema]] }

    static func response(_ description: String, _ schema: JSONValue? = nil, headers: JSONObject? = nil) -> JSONValue {
        var o: JSONObject = ["description": .string(description)]
        if let headers { o["headers"] = .object(headers) }
        if let schema { o["content"] = jsonContent(schema) }
        return .object(o)
    }

    static func error(_ description: String, headers: JSONObject? = nil) -> JSONValue {
        response(description, ref("Error"), headers: headers)
    }

    static func header(_ description: String, _ schema: JSONValue, required: Bool = false) -> JSONValue {
        var o: JSONObject = ["description": .string(description), "schema": schema]
        if required { o["required"] = true }
        return .object(o)
    }

    static func pathParameter(_ name: String, _ schema: JSONValue, _ description: String) -> JSONValue {
        ["name": .string(name), "in": "path", "required": true, "schema": schema, "description": .string(description)]
    }

    static func queryParameter(_ name: String, _ schema: JSONValue, _ description: String, extra: JSONObject = [:]) -> JSONValue {
        var o: JSONObject = ["name": .string(name), "in": "query", "schema": schema, "description": .string(description)]
        for m in extra { o[m.key] = m.value }
        return .object(o)
    }

    static let jobID = pathParameter("id", ["type": "integer", "minimum": 1, "maximum": .int(largestID)], "The job's id.")
    static let queueName = pathParameter("name", ["type": "string", "pattern": "^[a-z0-9_-]{1,64}$"], "The queue's name.")
    static let scheduleName = pathParameter("name", ["type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"], "The schedule's name.")
    static let sequence: JSONValue = ["type": "integer", "minimum": 0, "maximum": .int(largestID)]
    /// Ids and sequence numbers go up to 2^63-1; the document says 2^53-1, the
    /// largest integer JavaScript (and so many clients) reads exactly.
    static let largestID: Int64 = 9_007_199_254_740_991

    /// One operation: the route's access and the errors every operation of its
    /// kind can answer besides its own.
    static func operation(_ route: APIRoute, _ doc: Doc) -> JSONObject {
        var o: JSONObject = ["operationId": .string(doc.id), "tags": [.string(doc.tag)], "summary": .string(doc.summary)]
        if let description = doc.description { o["description"] = .string(description) }
        if !doc.parameters.isEmpty { o["parameters"] = .array(doc.parameters) }
        if let body = doc.body {
            o["requestBody"] = ["required": true, "content": jsonContent(body)]
        }
        var all = doc.responses
        let changes = route.method != "GET"
        switch route.access {
        case .open:
            o["security"] = [[:]]
            o["x-scope"] = "open"
        case .scope(let scope):
            let s = JSONValue.string(scope.rawValue)
            o["security"] = [["bearerAuth": [s]], ["sessionCookie": [s]]]
            o["x-scope"] = s
            if all["401"] == nil {
                all["401"] = error("Tokens are required and none was given (or it is unknown, or the session ended).",
                                   headers: ["WWW-Authenticate": header("Bearer", ["type": "string"], required: true)])
            }
            if all["403"] == nil {
                all["403"] = error(changes ? "The token lacks the '\(scope.rawValue)' scope, or a browser's cross-site request was refused."
                                           : "The token lacks the '\(scope.rawValue)' scope.")
            }
        }
        if changes && all["403"] == nil { all["403"] = error("A browser's cross-site request was refused.") }
        if doc.body != nil && all["413"] == nil { all["413"] = error("The body is over the daemon's --max-body.") }
        if route.rateLimited {
            all["429"] = error("Over --rate-limit: wait as long as Retry-After says.",
                               headers: ["Retry-After": header("Seconds to wait.", ["type": "integer"], required: true)])
        }
        if changes && all["503"] == nil && route.access != .open {
            all["503"] = error("The store could not commit, or the daemon is shutting down: nothing changed, retrying is safe.")
        }
        var sorted = JSONObject()
        for m in all.sorted(by: { $0.key < $1.key }) { sorted[m.key] = m.value }
        o["responses"] = .object(sorted)
        return o
    }
}
