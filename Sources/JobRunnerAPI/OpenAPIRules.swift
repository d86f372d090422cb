import Essentials
import JSON
import JobEngine
import JobQueue

/// The rules of the handlers, as JSON Schema for `OpenAPI`: what the bulk
/// filters, cron expressions, zones, search text, sign-in body and WebSocket
/// handshake must look like for the daemon to take them, and the SSE events it
/// sends. A value valid per these schemas passes the handler's own checks
/// (where a rule cannot be said in a schema, the description says it).
enum OpenAPIRules {
    // MARK: Lists of names (GET /api/jobs, bulk filters)

    /// `a,b,c` of these names; empty items are skipped, an empty list is no filter.
    static func commaList(_ names: [String]) -> String {
        let one = "(?:" + names.map(escape).joined(separator: "|") + ")"
        return "^,*(?:\(one)(?:,+\(one))*)?,*$"
    }

    /// A comma-separated list of queue names, at most `JobsQueryParser.maxQueueNames`.
    static var queueList: String {
        "^,*(?:[a-z0-9_-]{1,64}(?:,+[a-z0-9_-]{1,64}){0,\(JobsQueryParser.maxQueueNames - 1)})?,*$"
    }

    static func escape(_ name: String) -> String {
        var out = ""
        for c in name {
            if "\\^$.|?*+()[]{}".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    static let scheduleNamePattern = "^[a-z0-9][a-z0-9_.-]{0,63}$"
    static let queueNamePattern = "^[a-z0-9_-]{1,64}$"

    // MARK: Times

    /// Epoch seconds in text (digits, an optional fraction) below 1e11, or ISO
    /// 8601 from 1970 on, with a zone unless it is a bare date. The pattern
    /// takes every day up to the 28th of each month; later days of the months that have them are valid too.
    static let timeText: JSONValue = [
        "type": "string",
        "pattern": .string("^(?:[0-9]{1,11}(?:\\.[0-9]{1,8})?|" + isoDate + "(?:[T ]" + isoTime + ")?)$"),
        "description": "Epoch seconds (`1764400000`, `1764400000.5`, below 1e11) or ISO 8601 from 1970 on: a date (midnight UTC) or a date and time with `Z` or an offset (`2026-11-29T14:30:00Z`, `2026-11-29T14:30:00.250+01:00`).",
        "examples": ["1764400000", "2026-11-29", "2026-11-29T14:30:00Z"],
    ]
    static let isoDate = "(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    static let isoTime = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]{1,9})?)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
    /// A bulk filter's time may also be a JSON number.
    static let timeValue: JSONValue = ["oneOf": [timeText, ["type": "number", "minimum": 0, "exclusiveMaximum": 1e11]],
                                       "description": "Epoch seconds as a number (below 1e11) or text, or ISO 8601 text."]

    // MARK: Search

    /// Words of letters and digits, a `*` after one for a prefix, `"a phrase"`;
    /// at most 16 of them and 200 characters. The pattern shows the ASCII forms:
    /// letters and digits of every script are taken too.
    static let search: JSONValue = {
        let word = "[A-Za-z0-9]+"
        let term = "(?:\(word)\\*?|\"\(word)(?: \(word))*\"\\*?)"
        return ["type": "string", "maxLength": .int(Int64(JobSearch.maxLength)),
                "pattern": .string("^(?:\(term)(?: \(term)){0,\(JobSearch.maxPhrases - 1)})?$"),
                "description": "Whole words (letters and digits of any script), `word*` for a prefix, `\"a phrase\"`; every term must match; at most 200 characters, 800 bytes and 16 terms (docs/history.md).",
                "examples": ["backup", "disk full", "\"exit code 3\"", "nightly*"]]
    }()

    // MARK: Cron

    /// One field of a cron expression as `CronParser` reads it: the values it
    /// takes, the names standing for them (from the first value), and the
    /// largest step (the number of values `*` stands for).
    struct CronField {
        var values: ClosedRange<Int>
        var names: [String] = []
        var largestStep: Int
    }

    static let cronFields: [CronField] = [
        CronField(values: 0...59, largestStep: 60),
        CronField(values: 0...23, largestStep: 24),
        CronField(values: 1...31, largestStep: 31),
        CronField(values: 1...12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], largestStep: 12),
        // 0 and 7 are Sunday; a range may end on Sunday as 0 (FRI-0).
        CronField(values: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], largestStep: 7),
    ]

    static let cronShortcuts = ["hourly", "daily", "midnight", "weekly", "monthly", "yearly", "annually"]

    /// The integers `low...high` written without leading zeros, as one regex
    /// (grouped by tens: `2[3-9]|[3-5][0-9]` for 23...59).
    static func numbers(_ low: Int, _ high: Int) -> String {
        guard low <= high else { return "(?!)" }
        var parts: [String] = []
        var n = low
        while n <= high {
            let tens = n / 10
            let last = min(high, tens * 10 + 9)
            let (u1, u2) = (n % 10, last % 10)
            let units = u1 == u2 ? "\(u1)" : "[\(u1)-\(u2)]"
            parts.append((tens == 0 ? "" : "\(tens)") + units)
            n = last + 1
        }
        return parts.count == 1 ? parts[0] : "(?:" + parts.joined(separator: "|") + ")"
    }

    /// One field: a comma-separated list of `*`, `*/n`, `v`, `a-b` or `a-b/n`,
    /// a range never running backwards (the parser refuses `5-3`).
    static func cronField(_ f: CronField) -> String {
        let lo = f.values.lowerBound, hi = f.values.upperBound
        // A single value: with one leading zero at most (05), or a name in any of its usual cases.
        var single = ["0?" + numbers(lo, hi)]
        for name in f.names { single += [name, name.lowercased(), name.prefix(1) + name.dropFirst().lowercased()] }
        // Ranges: numbers to numbers, names to names (upper or lower case), each up to the field's end.
        var ranges: [String] = []
        let isWeek = !f.names.isEmpty && f.names[0] == "SUN"
        for a in f.values {
            var ends = numbers(a, hi)
            if isWeek && a > 0 { ends = "(?:\(ends)|0)" }
            ranges.append("\(a)-\(ends)")
        }
        for lower in [false, true] {
            let names = f.names.map { lower ? $0.lowercased() : $0 }
            for (i, name) in names.enumerated() {
                var ends = Array(names[i...])
                if isWeek && i > 0 { ends += [names[0], "0"] }
                ranges.append(name + "-(?:" + ends.joined(separator: "|") + ")")
            }
        }
        let step = "/0?" + numbers(1, f.largestStep)
        let item = "(?:\\*(?:\(step))?|(?:" + ranges.joined(separator: "|") + ")(?:\(step))?|" + single.joined(separator: "|") + ")"
        return "\(item)(?:,\(item))*"
    }

    /// Five fields separated by spaces, or an @-shortcut.
    static let cronPattern: String =
        "^(?:@(?:" + cronShortcuts.joined(separator: "|") + ")|" + cronFields.map(cronField).joined(separator: " +") + ")$"

    /// The bound the daemon puts on an expression's text.
    static let cronMaxBytes = 200

    static var cron: JSONValue {
        ["type": "string", "minLength": 1, "maxLength": .int(Int64(cronMaxBytes)), "pattern": .string(cronPattern),
         "description": "Five fields separated by spaces (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT, 0 and 7 being Sunday), each a comma-separated list of `*`, `*/n`, `v`, `a-b` or `a-b/n` (a range does not run backwards, but a day-of-week range may end on Sunday as 0: `FRI-0`); or @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually. At most 200 bytes.",
         "examples": ["30 3 * * *", "*/15 * * * *", "0 9 * * MON-FRI", "@daily"]]
    }

    // MARK: Zones

    /// The zone names of the tz database (`tzdata.zi`: its zones and links),
    /// but `Factory`, which is no place; empty when the file is missing.
    static let zoneNames: [String] = {
        guard let bytes = try? readSmallFile(zoneIndex, limit: 1 << 20) else { return [] }
        var names = Set<String>()
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 2, f[0] == "Z" { names.insert(String(f[1])) }
            if f.count >= 3, f[0] == "L" { names.insert(String(f[2])) }
        }
        names.remove("Factory")
        return names.sorted()
    }()
    static let zoneIndex = "/usr/share/zoneinfo/tzdata.zi"

    static var zone: JSONValue {
        var o: JSONObject = ["type": "string", "default": "UTC",
                             "description": "An IANA time zone name (Europe/Berlin, America/New_York, UTC); any other name is refused.",
                             "examples": ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]]
        // The names as one alternation rather than an `enum`: the same set, but a
        // tool that tries every member of an enum (schemathesis' coverage phase)
        // would send some 600 requests per operation that takes a zone.
        o["pattern"] = zoneNames.isEmpty ? "^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$"
                                         : .string("^(?:" + zoneNames.map(escape).joined(separator: "|") + ")$")
        return .object(o)
    }

    // MARK: Backoff

    /// `backoff` needs `initial <= max` (defaults 1 and 3600), which JSON Schema
    /// cannot compare. The document says it as a choice of meeting points: some
    /// bound B with initial <= B <= max (1, 60, 3600, a day, a year). Every pair
    /// it allows is taken; pairs that meet at no such point (initial 5, max 30)
    /// are taken too, and the description says so.
    static func orderedBackoff(_ schema: JSONValue) -> JSONValue {
        guard case .object(var o) = schema else { return schema }
        let defaultMax = Backoff().max
        o["anyOf"] = .array([1, 60, 3600, 86_400, JobOptions.longestSeconds].map { (b: Double) -> JSONValue in
            var branch: JSONObject = ["properties": ["initial": ["maximum": .double(b)], "max": ["minimum": .double(b)]]]
            // Above the default max, the max must be given.
            if b > defaultMax { branch["required"] = ["max"] }
            return .object(branch)
        })
        let note = " The schema states initial <= max as a bound both sit on either side of (1, 60, 3600, 86400 or 31536000 s); any initial <= max is taken."
        o["description"] = .string((o["description"]?.stringValue ?? "") + note)
        return .object(o)
    }

    // MARK: String params

    /// A string param never holds U+0000 (a program's argument would end there).
    static func withoutNUL(_ params: JSONValue) -> JSONValue {
        guard case .object(var o) = params, case .object(var properties)? = o["properties"] else { return params }
        for m in properties {
            guard case .object(var p) = m.value, p["type"] == "string" else { continue }
            p["not"] = ["pattern": "\u{0}"]
            let note = "Never holds U+0000."
            p["description"] = .string(p["description"]?.stringValue.map { $0 + " " + note } ?? note)
            properties[m.key] = .object(p)
        }
        o["properties"] = .object(properties)
        return .object(o)
    }

    // MARK: The WebSocket handshake

    /// `GET /ws/queue`, which OpenAPI's paths cannot describe: an HTTP client
    /// that sends these headers gets a WebSocket, not a response.
    static var queueSocket: JSONValue {
        ["method": "GET", "summary": "The WebSocket queue protocol", "x-scope": "read",
         "description": "Upgrades to a WebSocket (RFC 6455) carrying the queue's snapshot, live events and commands; see docs/protocol.md. With tokens, the bearer token or session cookie needs the 'read' scope; a browser's Origin must be the daemon's own (or listed in --allowed-origins).",
         "parameters": .array(webSocketHeaders),
         "responses": ["101": "Switching to the WebSocket protocol.",
                       "400": "Not a valid WebSocket handshake ({\"error\": ...}).",
                       "401": "Tokens are required and none was given.",
                       "403": "The browser's origin may not open the WebSocket, or the token lacks the 'read' scope."]]
    }

    /// The headers `WebSocketHandshake.validate` needs (RFC 6455 §4.1).
    static let webSocketHeaders: [JSONValue] = [
        ["name": "Upgrade", "in": "header", "required": true, "schema": ["type": "string", "enum": ["websocket"]],
         "description": "`websocket`."],
        ["name": "Connection", "in": "header", "required": true, "schema": ["type": "string", "enum": ["Upgrade"]],
         "description": "`Upgrade` (among other tokens)."],
        ["name": "Sec-WebSocket-Version", "in": "header", "required": true, "schema": ["type": "string", "enum": ["13"]],
         "description": "13."],
        ["name": "Sec-WebSocket-Key", "in": "header", "required": true,
         "schema": ["type": "string", "pattern": "^[A-Za-z0-9+/]{21}[AQgw]==$", "examples": ["dGhlIHNhbXBsZSBub25jZQ=="]],
         "description": "16 random bytes in base64."],
    ]

    // MARK: The progress stream's events

    /// One event of `GET /api/jobs/:id/progress` as an SSE parser reads it
    /// (`event`, `data`, `id`; the opening `retry: 2000` carries no data): the
    /// event's name picks the JSON its data holds.
    static func progressEvent() -> JSONValue {
        let seq: JSONValue = ["type": "string", "pattern": "^[0-9]{1,19}$", "description": "The job's sequence number (docs/protocol.md)."]
        let progress: JSONValue = OpenAPI.object(["percent": ["type": "integer", "minimum": 0, "maximum": 100], "message": ["type": "string"]])
        let status = JSONValue.array(JobStatus.allCases.map { .string($0.rawValue) })
        let optionalTime: JSONValue = ["type": ["number", "null"]]
        let data: KeyValuePairs<String, JSONValue> = [
            "status": OpenAPI.object(["id": ["type": "integer", "minimum": 1], "type": ["type": "string"], "status": ["enum": status],
                                      "progress": progress, "started_at": optionalTime],
                                     description: "Where the job stands: the first event of every stream."),
            "progress": progress,
            "log": OpenAPI.object(["seq": ["type": "integer", "minimum": 0], "ts": ["type": "number"],
                                   "stream": ["enum": .array(LogStream.allCases.map { .string($0.rawValue) })],
                                   "line": ["type": "string"]], description: "A line of output."),
            "retrying": OpenAPI.object(["attempt": ["type": "integer", "minimum": 1], "run_at": ["type": "number"], "error": ["type": "string"]],
                                       description: "An attempt failed; the next starts at run_at."),
            "complete": OpenAPI.object(["status": ["const": "completed"], "result": [:], "duration": ["type": "number", "minimum": 0]]),
            "failed": OpenAPI.object(["status": ["const": "failed"], "error": ["type": "string"]]),
            "cancelled": ["oneOf": [OpenAPI.object(["job_id": ["type": "integer", "minimum": 1]]),
                                    OpenAPI.object(["status": ["const": "cancelled"]])],
                          "description": "{\"job_id\": ID} live; {\"status\": \"cancelled\"} when already cancelled at connect."],
        ]
        let kinds: [JSONValue] = data.map { name, schema in
            ["properties": ["event": ["const": .string(name)],
                            "data": ["type": "string", "contentMediaType": "application/json", "contentSchema": schema]]]
        }
        return [
            "type": "object", "required": ["event", "data"],
            "properties": ["event": ["enum": .array(data.map { .string($0.key) })], "data": ["type": "string"], "id": seq,
                           "retry": ["type": "integer", "minimum": 0]],
            "oneOf": .array(kinds),
            "description": "One event: `id` (the sequence number), `event` (its name) and `data` (JSON, by name).",
        ]
    }
}
