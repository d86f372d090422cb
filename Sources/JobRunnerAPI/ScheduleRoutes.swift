import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `/api/schedules`: list, get, create, upsert, delete, pause, resume, run now.
extension JobRunnerAPI {
    static let scheduleRoutes: [APIRoute] = [
        APIRoute("GET", "/api/schedules", .scope(.read), handle: { api, _ in api.listSchedules() }, doc: OpenAPI.listSchedules),
        APIRoute("POST", "/api/schedules", .scope(.admin), handle: { api, req in try api.saveSchedule(req, name: nil) },
                 doc: OpenAPI.createSchedule),
        APIRoute("GET", "/api/schedules/:name", .scope(.read), handle: { api, req in try api.getSchedule(req) }, doc: OpenAPI.getSchedule),
        APIRoute("PUT", "/api/schedules/:name", .scope(.admin), handle: { api, req in try api.saveSchedule(req, name: req.parameter("name")) },
                 doc: OpenAPI.putSchedule),
        APIRoute("DELETE", "/api/schedules/:name", .scope(.admin), handle: { api, req in try api.deleteSchedule(req) },
                 doc: OpenAPI.deleteSchedule),
        APIRoute("POST", "/api/schedules/:name/pause", .scope(.admin), handle: { api, req in try api.setPaused(req, true) },
                 doc: OpenAPI.pauseSchedule),
        APIRoute("POST", "/api/schedules/:name/resume", .scope(.admin), handle: { api, req in try api.setPaused(req, false) },
                 doc: OpenAPI.resumeSchedule),
        APIRoute("POST", "/api/schedules/:name/run", .scope(.admin), handle: { api, req in try api.runNow(req) }, doc: OpenAPI.runSchedule),
        APIRoute("GET", "/api/cron", .scope(.read), handle: { api, req in try api.previewCron(req) }, doc: OpenAPI.previewCron),
    ]

    /// `GET /api/cron?cron=EXPR&timezone=ZONE`: `{"description": ..., "next": [t1, t2, t3]}`
    /// for a form's preview; 400 naming the field when the expression or zone is bad.
    func previewCron(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard let cron = request.queryValue("cron") else { throw HTTPError(400, "Missing 'cron' parameter") }
        let zone = request.queryValue("timezone") ?? "UTC"
        do {
            let (description, next) = try engine.previewCron(cron, zone: zone, count: 3)
            var w = JSONWriter(capacity: 128)
            w.object { o in
                o.string("description", description)
                o.array("next", next) { $0.double($1) }
            }
            return .json(w.bytes)
        } catch {
            throw HTTPError(400, error.message)
        }
    }

    /// A schedule's JSON, with a human reading of its cron expression.
    func scheduleJSON(_ s: Schedule) -> JSONValue {
        var o = s.json
        if s.reading == nil { o["description"] = engine.describeCron(s.cron).map(JSONValue.string) ?? .null }
        return .object(o)
    }

    func listSchedules() -> HTTPResponse {
        .json(JSONValue.array(engine.schedules().map(scheduleJSON)).serialized())
    }

    func found(_ request: HTTPRequest) throws(HTTPError) -> Schedule {
        let name = request.parameter("name") ?? ""
        guard let s = engine.schedule(name) else { throw HTTPError(404, "Schedule not found: \(name.prefix(100))") }
        return s
    }

    func getSchedule(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        .json(scheduleJSON(try found(request)).serialized())
    }

    /// POST creates (409 if the name is taken); PUT creates or replaces. Nothing
    /// is stored when any field is bad.
    func saveSchedule(_ request: HTTPRequest, name: String?) throws(HTTPError) -> HTTPResponse {
        guard let body = try? JSONValue.parse(request.body, limits: limits), case .object(let object) = body else {
            throw HTTPError(400, "Invalid JSON body")
        }
        let schedule: Schedule
        do { schedule = try engine.scheduleDefinition(object, name: name) } catch { throw HTTPError(400, error.message) }
        let existed = engine.schedule(schedule.name) != nil
        if name == nil && existed { throw HTTPError(409, "Schedule already exists: \(schedule.name)") }
        return try answer({ [engine] done in engine.upsertSchedule(schedule, completion: done) }) { [self] saved in
            .json(scheduleJSON(saved).serialized(), status: existed ? 200 : 201,
                  headers: [("Location", "/api/schedules/\(saved.name)")])
        }
    }

    func deleteSchedule(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let name = request.parameter("name") ?? ""
        return try answer({ [engine] done in engine.deleteSchedule(name, completion: done) }) { deleted throws(HTTPError) in
            guard deleted else { throw HTTPError(404, "Schedule not found: \(name.prefix(100))") }
            var w = JSONWriter(capacity: 32 + name.utf8.count)
            w.object { $0.string("deleted", name) }
            return .json(w.bytes)
        }
    }

    func setPaused(_ request: HTTPRequest, _ paused: Bool) throws(HTTPError) -> HTTPResponse {
        var s = try found(request)
        s.paused = paused
        let changed = s
        return try answer({ [engine] done in engine.upsertSchedule(changed, completion: done) }) { [self] saved in
            .json(scheduleJSON(saved).serialized())
        }
    }

    func runNow(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard !shuttingDown.load(ordering: .relaxed) else { throw HTTPError(503, "Shutting down") }
        let name = request.parameter("name") ?? ""
        return try answer({ [engine] done in engine.runScheduleNow(name, completion: done) }) { job throws(HTTPError) in
            guard let job else { throw HTTPError(404, "Schedule not found: \(name.prefix(100))") }
            return Self.created(job)
        }
    }
}

extension OpenAPI {
    static let scheduleNotFound = error("No such schedule.")

    static func listSchedules(_: JobRegistry) -> Doc {
        Doc(id: "listSchedules", tag: "schedules", summary: "Every schedule",
            responses: ["200": response("The schedules.", ["type": "array", "items": ref("Schedule")])])
    }

    static func createSchedule(_: JobRegistry) -> Doc {
        Doc(id: "createSchedule", tag: "schedules", summary: "Create a schedule",
            body: ref("NewSchedule"),
            responses: ["201": response("The new schedule.", ref("Schedule"),
                                         headers: ["Location": header("The schedule's URL.", ["type": "string"], required: true)]),
                        "400": error("A field is invalid (the message names it): bad cron, unknown zone or type, invalid params."),
                        "409": error("A schedule of that name exists.")])
    }

    static func getSchedule(_: JobRegistry) -> Doc {
        Doc(id: "getSchedule", tag: "schedules", summary: "One schedule",
            parameters: [scheduleName], responses: ["200": response("The schedule.", ref("Schedule")), "404": scheduleNotFound])
    }

    static func putSchedule(_: JobRegistry) -> Doc {
        Doc(id: "putSchedule", tag: "schedules", summary: "Create or replace a schedule",
            parameters: [scheduleName], body: ref("ScheduleDefinition"),
            responses: ["200": response("Replaced.", ref("Schedule"),
                                         headers: ["Location": header("The schedule's URL.", ["type": "string"], required: true)]),
                        "201": response("Created.", ref("Schedule"),
                                         headers: ["Location": header("The schedule's URL.", ["type": "string"], required: true)]),
                        "400": error("A field is invalid (the message names it), or 'name' differs from the path.")])
    }

    static func deleteSchedule(_: JobRegistry) -> Doc {
        Doc(id: "deleteSchedule", tag: "schedules", summary: "Delete a schedule",
            parameters: [scheduleName],
            responses: ["200": response("Deleted.", ["type": "object", "required": ["deleted"], "properties": ["deleted": ["type": "string"]]]),
                        "404": scheduleNotFound])
    }

    static func pauseSchedule(_: JobRegistry) -> Doc {
        Doc(id: "pauseSchedule", tag: "schedules", summary: "Pause a schedule",
            parameters: [scheduleName], responses: ["200": response("The schedule, paused.", ref("Schedule")), "404": scheduleNotFound])
    }

    static func resumeSchedule(_: JobRegistry) -> Doc {
        Doc(id: "resumeSchedule", tag: "schedules", summary: "Resume a schedule",
            parameters: [scheduleName], responses: ["200": response("The schedule, running.", ref("Schedule")), "404": scheduleNotFound])
    }

    static func runSchedule(_: JobRegistry) -> Doc {
        Doc(id: "runSchedule", tag: "schedules", summary: "Submit the schedule's job now",
            parameters: [scheduleName],
            responses: ["201": response("The job it made.", ref("Job"),
                                         headers: ["Location": header("The job's URL.", ["type": "string"], required: true)]),
                        "404": scheduleNotFound])
    }

    static func previewCron(_: JobRegistry) -> Doc {
        Doc(id: "previewCron", tag: "schedules", summary: "What a cron expression means, and its next times",
            parameters: [queryParameter("cron", ref("Cron"), "A five-field cron expression or an @-shortcut.",
                                        extra: ["required": true, "example": "30 3 * * *"]),
                         queryParameter("timezone", ref("TimeZone"), "An IANA time zone name (UTC if not given).")],
            responses: ["200": response("A human reading and the next three times (epoch seconds).", ref("CronPreview")),
                        "400": error("The expression or zone is invalid, or 'cron' is missing.")])
    }
}
