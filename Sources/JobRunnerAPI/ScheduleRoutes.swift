import HTTPServer
import JSON
import JobEngine
import JobQueue

/// `/api/schedules`: list, get, create, upsert, delete, pause, resume, run now.
extension JobRunnerAPI {
    func addScheduleRoutes(_ r: inout Router) {
        r.get("/api/schedules") { [self] _ in listSchedules() }
        r.post("/api/schedules") { [self] req in try saveSchedule(req, name: nil) }
        r.get("/api/schedules/:name") { [self] req in try getSchedule(req) }
        r.put("/api/schedules/:name") { [self] req in try saveSchedule(req, name: req.parameter("name")) }
        r.delete("/api/schedules/:name") { [self] req in try deleteSchedule(req) }
        r.post("/api/schedules/:name/pause") { [self] req in try setPaused(req, true) }
        r.post("/api/schedules/:name/resume") { [self] req in try setPaused(req, false) }
        r.post("/api/schedules/:name/run") { [self] req in try runNow(req) }
        r.get("/api/cron") { [self] req in try previewCron(req) }
    }

    /// `GET /api/cron?cron=EXPR&timezone=ZONE`: `{"description": ..., "next": [t1, t2, t3]}`
    /// for a form's preview; 400 naming the field when the expression or zone is bad.
    func previewCron(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        guard let cron = request.queryValue("cron") else { throw HTTPError(400, "Missing 'cron' parameter") }
        let zone = request.queryValue("timezone") ?? "UTC"
        do {
            let (description, next) = try engine.previewCron(cron, zone: zone, count: 3)
            return .json(JSONValue.object(JSONObject([("description", .string(description)),
                                                      ("next", .array(next.map(JSONValue.double)))])).serialized())
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
            return .json(JSONValue.object(["deleted": .string(name)]).serialized())
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
