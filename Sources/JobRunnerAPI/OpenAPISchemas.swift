import JSON
import JobEngine
import JobQueue

/// The document's `components.schemas`: the wire shapes of docs/protocol.md,
/// and per job type its params, submission and schedule definition.
extension OpenAPI {
    static func object(_ properties: KeyValuePairs<String, JSONValue>, required: [String]? = nil, description: String? = nil) -> JSONValue {
        var o: JSONObject = ["type": "object"]
        if let description { o["description"] = .string(description) }
        o["required"] = .array((required ?? properties.map(\.key)).map(JSONValue.string))
        var members = JSONObject()
        for (k, v) in properties { members[k] = v }
        o["properties"] = .object(members)
        return .object(o)
    }

    static let timestamp: JSONValue = ["type": "number", "description": "Epoch seconds."]
    static let optionalTimestamp: JSONValue = ["type": ["number", "null"], "description": "Epoch seconds, or null."]
    static let count: JSONValue = ["type": "integer", "minimum": 0]

    static func schemas(_ registry: JobRegistry) -> JSONObject {
        var s = JSONObject()
        s["Error"] = object(["error": ["type": "string"], "job_id": ["type": "integer"]], required: ["error"],
                            description: "Every error's body.")
        s["ProgressEvent"] = OpenAPIRules.progressEvent()
        s["Cron"] = OpenAPIRules.cron
        s["TimeZone"] = OpenAPIRules.zone
        s["Progress"] = object(["percent": ["type": "integer", "minimum": 0, "maximum": 100], "message": ["type": "string"]])
        s["Job"] = object([
            "id": ["type": "integer", "minimum": 1],
            "type": ["type": "string"],
            "params": ["type": "object", "description": "The validated params, defaults filled in."],
            "status": ["type": "string", "enum": .array(JobStatus.allCases.map { .string($0.rawValue) })],
            "progress": ref("Progress"),
            "result": ["description": "The type's result once completed, else null."],
            "error": nullable("string"),
            "created_at": timestamp, "started_at": optionalTimestamp, "completed_at": optionalTimestamp,
            "queue": ["type": "string"],
            "priority": ["type": "integer", "minimum": -100, "maximum": 100],
            "run_at": optionalTimestamp,
            "attempt": count, "max_attempts": ["type": "integer", "minimum": 1],
            "timeout": ["type": ["number", "null"], "description": "Seconds an attempt may run, or null."],
            "idempotency_key": nullable("string"),
            "schedule": ["type": ["string", "null"], "description": "The schedule that made the job, or null."],
            "node": ["type": ["string", "null"], "description": "On PostgreSQL: the node that runs (or last ran) the job; null before it first starts, and with SQLite or in memory."],
            "errors": ["type": "array", "items": object(["attempt": ["type": "integer"], "error": ["type": "string"], "at": timestamp])],
        ], required: ["id", "type", "params", "status", "progress", "result", "error", "created_at", "started_at", "completed_at",
                      "queue", "priority", "run_at", "attempt", "max_attempts", "timeout", "idempotency_key", "schedule", "node", "errors"],
           description: "A job (docs/protocol.md, the job model).")
        s["Cancelled"] = object(["success": ["const": true], "job_id": ["type": "integer"]])
        s["Node"] = object(["id": ["type": "string"], "address": ["type": "string"], "pid": ["type": "integer"],
                            "started_at": timestamp, "heartbeat_at": timestamp, "running": count,
                            "leader": ["type": "boolean"], "self": ["type": "boolean"], "alive": ["type": "boolean"]],
                           description: "A daemon sharing the store (docs/cluster.md).")
        s["Cleared"] = object(["cleared": count])
        s["LogLine"] = object(["seq": count, "ts": timestamp,
                               "stream": ["type": "string", "enum": .array(LogStream.allCases.map { .string($0.rawValue) })],
                               "line": ["type": "string"]])
        s["QueueStats"] = object(["pending": count, "running": count, "completed": count, "failed": count, "cancelled": count, "total": count])
        s["WorkerStats"] = object(["active": count, "capacity": ["type": "integer", "minimum": 1], "processed": count,
                                   "is_running": ["type": "boolean"]])
        s["Stats"] = object(["queue": ref("QueueStats"), "worker": ref("WorkerStats"),
                             "clients": object(["sse": count, "websocket": count])], required: ["queue", "worker"])
        let optionalTime: JSONValue = ["type": ["number", "null"]]
        s["WebhookDelivery"] = object(["seq": ["type": "integer"], "id": ["type": "string"], "url": ["type": "string"],
                                       "event": ["type": "string", "enum": .array(WebhookEvent.allCases.map { .string($0.rawValue) })],
                                       "job_id": ["type": ["integer", "null"]], "schedule": ["type": ["string", "null"]],
                                       "status": ["type": "string", "enum": .array(WebhookDeliveryStatus.allCases.map { .string($0.rawValue) })],
                                       "attempts": count, "created_at": ["type": "number"], "last_attempt_at": optionalTime,
                                       "next_attempt_at": optionalTime, "last_status": ["type": ["integer", "null"]],
                                       "last_error": ["type": ["string", "null"]]])
        s["Readiness"] = object(["status": ["type": "string", "enum": ["ready", "not ready"]], "error": ["type": "string"],
                                 "reasons": ["type": "array", "items": ["type": "string"]]], required: ["status"])
        s["Queue"] = object(["name": ["type": "string"], "paused": ["type": "boolean"],
                             "concurrency": ["type": ["integer", "null"], "minimum": 1], "counts": ref("QueueStats")],
                            required: ["name", "paused", "concurrency"], description: "A queue; `counts` in the list only.")
        var update = object(["paused": ["type": "boolean"],
                             "concurrency": ["type": ["integer", "null"], "minimum": 1, "maximum": 10_000, "description": "null: no limit of its own."]],
                            required: [])
        if case .object(var o) = update { o["additionalProperties"] = false; update = .object(o) }
        s["QueueUpdate"] = update
        s["Session"] = object(["auth": ["type": "string", "enum": ["none", "tokens"]], "name": nullable("string"),
                               "scopes": ["type": "array", "items": ["type": "string", "enum": .array(Scope.allCases.map { .string($0.rawValue) })]],
                               "via": ["type": ["string", "null"], "enum": ["token", "session", .null]],
                               "expires_in": ["type": "integer", "description": "Seconds the new session lasts (sign-in only)."]],
                              required: ["auth", "name", "scopes", "via"])
        s["CronPreview"] = object(["description": ["type": "string"], "next": ["type": "array", "items": timestamp]])
        s["ParamInfo"] = object([
            "name": ["type": "string"],
            "type": ["type": "string", "enum": ["integer", "number", "string", "boolean"]],
            "default": ["description": "null when the param has none."],
            "min": ["type": "number"], "max": ["type": "number"], "max_length": ["type": "integer"],
            "required": ["type": "boolean"], "pattern": ["type": "string"], "enum": ["type": "array"],
            "description": ["type": "string"],
        ], required: ["name", "type", "default", "description"], description: "A param as /api/job-types lists it (for forms).")
        s["JobTypeInfo"] = object(["name": ["type": "string"], "description": ["type": "string"],
                                   "params": ["type": "array", "items": ref("ParamInfo")]])
        s["Schedule"] = object([
            "name": ["type": "string"], "cron": ["type": "string"], "timezone": ["type": "string"],
            "job_type": ["type": "string"], "params": ["type": "object"], "options": ["type": "object"],
            "overlap": ["type": "string", "enum": .array(Schedule.Overlap.allCases.map { .string($0.rawValue) })],
            "catch_up": ["type": "string", "enum": .array(Schedule.CatchUp.allCases.map { .string($0.rawValue) })],
            "paused": ["type": "boolean"],
            "next_run_at": optionalTimestamp, "last_run_at": optionalTimestamp, "last_job_id": nullable("integer"),
            "created_at": timestamp,
            "description": ["type": ["string", "null"], "description": "A human reading of the cron expression."],
        ], description: "A schedule as stored (docs/schedules.md).")

        // The submission options once each, referred to by every type's submission and schedule.
        for m in JobOptions.fieldSchemas() { s["Option.\(m.key)"] = m.key == "backoff" ? OpenAPIRules.orderedBackoff(m.value) : m.value }
        var newSchedules: [JSONValue] = []
        var definitions: [JSONValue] = []
        for type in registry.types {
            s["Params.\(type.name)"] = OpenAPIRules.withoutNUL(type.paramsSchema)
            s["Submission.\(type.name)"] = submission(type)
            s["NewSchedule.\(type.name)"] = scheduleDefinition(type, nameRequired: true)
            s["ScheduleDefinition.\(type.name)"] = scheduleDefinition(type, nameRequired: false)
            newSchedules.append(ref("NewSchedule.\(type.name)"))
            definitions.append(ref("ScheduleDefinition.\(type.name)"))
        }
        s["NewSchedule"] = ["oneOf": .array(newSchedules), "description": "A schedule for one of the job types."]
        s["ScheduleDefinition"] = ["oneOf": .array(definitions),
                                   "description": "A schedule for one of the job types; 'name' may be left out (the path names it)."]
        return s
    }

    /// `POST /api/jobs` for one type: `job_type` is its name, `params` its schema, and the options.
    static func submission(_ type: any JobType) -> JSONValue {
        var properties = JSONObject()
        properties["job_type"] = ["const": .string(type.name)]
        properties["params"] = ref("Params.\(type.name)")
        for m in JobOptions.fieldSchemas() { properties[m.key] = ref("Option.\(m.key)") }
        var required: [JSONValue] = ["job_type"]
        if type.needsParams { required.append("params") }
        return .object([
            "type": "object",
            "title": .string(type.name),
            "description": .string(type.description),
            "required": .array(required),
            "properties": .object(properties),
            "not": ["required": ["run_at", "delay"], "description": "Give either run_at or delay, not both."],
        ])
    }

    static func scheduleDefinition(_ type: any JobType, nameRequired: Bool) -> JSONValue {
        var options: JSONObject = ["type": "object", "additionalProperties": false]
        var fields = JSONObject()
        for m in JobOptions.fieldSchemas(scheduled: true) { fields[m.key] = ref("Option.\(m.key)") }
        options["properties"] = .object(fields)
        options["description"] = "Options of the jobs it submits."
        var required: [JSONValue] = nameRequired ? ["name", "cron", "job_type"] : ["cron", "job_type"]
        if type.needsParams { required.append("params") }
        return .object([
            "type": "object",
            "title": .string(type.name),
            "required": .array(required),
            "properties": .object([
                "name": ["type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"],
                "cron": ref("Cron"),
                "timezone": ref("TimeZone"),
                "job_type": ["const": .string(type.name)],
                "params": ref("Params.\(type.name)"),
                "options": .object(options),
                "overlap": ["type": "string", "enum": .array(Schedule.Overlap.allCases.map { .string($0.rawValue) }), "default": "skip"],
                "catch_up": ["type": "string", "enum": .array(Schedule.CatchUp.allCases.map { .string($0.rawValue) }), "default": "none"],
                "paused": ["type": "boolean", "default": false],
            ]),
            "additionalProperties": false,
        ])
    }
}
