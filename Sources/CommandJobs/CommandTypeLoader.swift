import Essentials
import Glibc
import JSON
import JobEngine
import ProcessRunner

/// A definition that cannot be used; the message names where it came from and
/// the field.
public struct DefinitionError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// One argv element: literal text and `{param}` placeholders.
struct ArgumentTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case param(String)
    }

    let parts: [Part]

    /// Splits `text` at placeholders: `{` + a parameter-like name + `}`. Anything
    /// else (`{print $1}`, a lone brace) is literal.
    init(_ text: String) {
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            literal += rest[..<open]
            let after = rest[rest.index(after: open)...]
            if let close = after.firstIndex(of: "}"), CommandTypeLoader.isParamName(after[..<close]) {
                if !literal.isEmpty { parts.append(.text(literal)) }
                literal = ""
                parts.append(.param(String(after[..<close])))
                rest = after[after.index(after: close)...]
            } else {
                literal += "{"
                rest = after
            }
        }
        literal += rest
        if !literal.isEmpty || parts.isEmpty { parts.append(.text(literal)) }
        self.parts = parts
    }

    var placeholders: [String] {
        parts.compactMap { if case .param(let p) = $0 { p } else { nil } }
    }

    /// The element with each placeholder replaced by the param's value (an
    /// optional param left out is empty). The value stays one argv element.
    func render(_ params: JSONObject) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .param(let name):
                switch params[name] {
                case .string(let s)?: out += s
                case .int(let i)?: out += String(i)
                case .double(let d)?: out += JSONValue.double(d).jsonString
                case .bool(let b)?: out += b ? "true" : "false"
                case nil, .null?: break
                case let other?: out += other.jsonString
                }
            }
        }
        return out
    }
}

/// Reads command job types from JSON (the config file's `job_types`, or one file
/// per type in the job types directory) and checks everything at once: a bad
/// definition names its file and field, and the daemon does not start with it.
public enum CommandTypeLoader {
    static let fields: Set<String> = ["name", "description", "command", "params", "env", "cwd", "timeout", "concurrency", "max_attempts"]
    static let paramFields: Set<String> = ["type", "default", "required", "min", "max", "max_length", "pattern", "enum", "description"]

    /// Every type of the config file's `job_types` and of `directory`'s `*.json`
    /// files (sorted by name; a missing directory holds none). Names must be new
    /// and unique.
    public static func load(configTypes: JSONValue?, configFile: String?, directory: String?,
                            runner: ProcessRunner, builtIn: [String]) throws(DefinitionError) -> [CommandJobType] {
        var types: [CommandJobType] = []
        if let configTypes {
            let source = "\(configFile ?? "the config file") (job_types)"
            guard case .array(let items) = configTypes else { throw DefinitionError(message: "\(source): must be an array of job types") }
            for (i, item) in items.enumerated() {
                types.append(try parse(item, source: "\(source)[\(i)]", runner: runner))
            }
        }
        if let directory {
            for file in try jsonFiles(in: directory) {
                let value = try readJSON(file)
                types.append(try parse(value, source: file, runner: runner))
            }
        }
        var seen = Set(builtIn)
        for t in types {
            if builtIn.contains(t.name) {
                throw DefinitionError(message: "\(t.source): field 'name': '\(t.name)' is a built-in job type")
            }
            guard seen.insert(t.name).inserted else {
                throw DefinitionError(message: "\(t.source): field 'name': job type '\(t.name)' is defined twice")
            }
        }
        return types
    }

    /// One type from its JSON definition.
    public static func parse(_ value: JSONValue, source: String, runner: ProcessRunner) throws(DefinitionError) -> CommandJobType {
        func fail(_ field: String, _ why: String) -> DefinitionError {
            DefinitionError(message: "\(source): field '\(field)': \(why)")
        }
        guard case .object(let o) = value else { throw DefinitionError(message: "\(source): a job type must be a JSON object") }
        for member in o where !fields.contains(member.key) {
            throw fail(member.key, "unknown field (known: \(fields.sorted().joined(separator: ", ")))")
        }
        guard case .string(let name)? = o["name"] else { throw fail("name", "required, a string") }
        guard isTypeName(name) else { throw fail("name", "must match ^[a-z][a-z0-9_-]{0,62}$") }
        var description = ""
        if let d = o["description"] {
            guard case .string(let text) = d else { throw fail("description", "must be a string") }
            description = text
        }
        guard case .array(let argv)? = o["command"], !argv.isEmpty else { throw fail("command", "required, a non-empty array of strings") }
        var words: [String] = []
        for (i, item) in argv.enumerated() {
            guard case .string(let word) = item else { throw fail("command", "element \(i) must be a string") }
            guard !word.utf8.contains(0) else { throw fail("command", "element \(i) contains a NUL byte") }
            words.append(word)
        }
        let path = words[0]
        guard path.hasPrefix("/") else { throw fail("command", "the program '\(path)' must be an absolute path") }
        guard access(path, X_OK) == 0, !isDirectory(path) else {
            throw fail("command", "the program '\(path)' does not exist or is not executable")
        }

        var parameters: [ParameterSpec] = []
        if let p = o["params"] {
            guard case .object(let specs) = p else { throw fail("params", "must be an object of parameter definitions") }
            for member in specs {
                parameters.append(try parameter(member.key, member.value) { field, why in fail("params.\(member.key).\(field)", why) })
            }
        }
        let template = words.map(ArgumentTemplate.init)
        for t in template {
            for name in t.placeholders where !parameters.contains(where: { $0.name == name }) {
                throw fail("command", "the placeholder {\(name)} names no parameter")
            }
        }

        var environment: [(String, String)] = []
        if let e = o["env"] {
            guard case .object(let vars) = e else { throw fail("env", "must be an object of strings") }
            for member in vars {
                guard isEnvName(member.key) else { throw fail("env", "'\(member.key)' is not a valid variable name") }
                guard !member.key.hasPrefix("JOBRUNNER_") else { throw fail("env", "'\(member.key)': JOBRUNNER_* variables are set by the daemon") }
                guard case .string(let v) = member.value, !v.utf8.contains(0) else { throw fail("env", "'\(member.key)' must be a string") }
                environment.append((member.key, v))
            }
        }
        var directory: String?
        if let c = o["cwd"] {
            guard case .string(let dir) = c, dir.hasPrefix("/") else { throw fail("cwd", "must be an absolute path") }
            guard isDirectory(dir) else { throw fail("cwd", "'\(dir)' is not a directory") }
            directory = dir
        }
        var timeout: Double?
        if let t = o["timeout"] {
            guard let seconds = t.numberValue, seconds > 0, seconds <= 31_536_000 else {
                throw fail("timeout", "must be a number of seconds, more than 0")
            }
            timeout = seconds
        }
        var concurrency: Int?
        if let c = o["concurrency"] {
            guard case .int(let n) = c, (1...10_000).contains(n) else { throw fail("concurrency", "must be an integer from 1 to 10000") }
            concurrency = Int(n)
        }
        var maxAttempts = 1
        if let a = o["max_attempts"] {
            guard case .int(let n) = a, (1...100).contains(n) else { throw fail("max_attempts", "must be an integer from 1 to 100") }
            maxAttempts = Int(n)
        }
        return CommandJobType(name: name, description: description, parameters: parameters, template: template, path: path,
                              environment: environment, directory: directory, timeout: timeout, concurrency: concurrency,
                              maxAttempts: maxAttempts, source: source, runner: runner, base: baseEnvironment())
    }

    /// One parameter definition.
    static func parameter(_ name: String, _ value: JSONValue,
                          _ fail: (String, String) -> DefinitionError) throws(DefinitionError) -> ParameterSpec {
        guard isParamName(name[...]) else { throw fail("name", "must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$") }
        guard case .object(let o) = value else { throw fail("type", "the definition must be an object") }
        for member in o where !paramFields.contains(member.key) { throw fail(member.key, "unknown field") }
        var description = ""
        if case .string(let d)? = o["description"] { description = d } else if o["description"] != nil { throw fail("description", "must be a string") }
        var required = false
        if let r = o["required"] {
            guard case .bool(let b) = r else { throw fail("required", "must be true or false") }
            required = b
        }
        func number(_ field: String) throws(DefinitionError) -> Double? {
            guard let v = o[field] else { return nil }
            guard let n = v.numberValue else { throw fail(field, "must be a number") }
            return n
        }
        let kind: ParameterSpec.Kind
        switch o["type"] {
        case "integer"?:
            func int(_ field: String) throws(DefinitionError) -> Int64? {
                guard let v = o[field] else { return nil }
                guard case .int(let i) = v else { throw fail(field, "must be an integer") }
                return i
            }
            kind = .integer(default: nil, min: try int("min"), max: try int("max"))
        case "number"?:
            kind = .number(default: nil, min: try number("min"), max: try number("max"))
        case "string"?:
            var maxLength: Int?
            if let m = o["max_length"] {
                guard case .int(let n) = m, n >= 1, n <= 1 << 20 else { throw fail("max_length", "must be a positive integer") }
                maxLength = Int(n)
            }
            kind = .string(default: nil, maxLength: maxLength)
        case "boolean"?:
            kind = .boolean(default: nil)
        default:
            throw fail("type", "required: integer, number, string or boolean")
        }
        var pattern: ParameterPattern?
        if let p = o["pattern"] {
            guard case .string(let source) = p else { throw fail("pattern", "must be a string") }
            guard case .string = kind else { throw fail("pattern", "applies to strings only") }
            do { pattern = try ParameterPattern(source) } catch { throw fail("pattern", error.message) }
        }
        var declared = ParameterSpec.Declared(required: required, pattern: pattern)
        // `enum` and `default` are checked by the same rules as a submitted value.
        let bare = ParameterSpec(name: name, kind: kind, description: description, declared: declared)
        if let e = o["enum"] {
            guard case .array(let items) = e, !items.isEmpty else { throw fail("enum", "must be a non-empty array") }
            var choices: [JSONValue] = []
            for item in items {
                do { choices.append(try bare.normaliseDeclared(item, declared) ?? item) } catch {
                    throw fail("enum", "\(item.jsonString) is not a valid value: \(error.message)")
                }
            }
            declared.choices = choices
        }
        var finalKind = kind
        if let d = o["default"], !d.isNull {
            let checker = ParameterSpec(name: name, kind: kind, description: description, declared: declared)
            let normal: JSONValue?
            do { normal = try checker.normaliseDeclared(d, declared) } catch { throw fail("default", error.message) }
            switch (kind, normal) {
            case (.integer(_, let lo, let hi), .int(let i)?): finalKind = .integer(default: i, min: lo, max: hi)
            case (.number(_, let lo, let hi), let v?): finalKind = .number(default: v.numberValue, min: lo, max: hi)
            case (.string(_, let m), .string(let s)?): finalKind = .string(default: s, maxLength: m)
            case (.boolean, .bool(let b)?): finalKind = .boolean(default: b)
            default: throw fail("default", "does not match the type")
            }
        }
        return ParameterSpec(name: name, kind: finalKind, description: description, declared: declared)
    }

    // MARK: Names and files

    static func isTypeName(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard (1...63).contains(b.count), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b[0]) else { return false }
        return b.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }

    static func isParamName(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        guard (1...64).contains(b.count) else { return false }
        func letter(_ c: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || c == UInt8(ascii: "_")
        }
        return letter(b[0]) && b.allSatisfy { letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    static func isEnvName(_ s: String) -> Bool { isParamName(s[...]) }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `PATH`, `LANG` and `HOME` from the daemon's environment, with defaults.
    static func baseEnvironment() -> [(String, String)] {
        func env(_ name: String, _ fallback: String) -> String {
            getenv(name).map { String(cString: $0) } ?? fallback
        }
        return [("PATH", env("PATH", "/usr/local/bin:/usr/bin:/bin")), ("LANG", env("LANG", "C.UTF-8")), ("HOME", env("HOME", "/"))]
    }

    /// The `*.json` files of a directory, sorted; none if it does not exist.
    static func jsonFiles(in directory: String) throws(DefinitionError) -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw DefinitionError(message: "cannot read the job types directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".json") && !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted().map { directory + "/" + $0 }
    }

    static func readJSON(_ path: String) throws(DefinitionError) -> JSONValue {
        let bytes: [UInt8]
        do { bytes = try readSmallFile(path) } catch { throw DefinitionError(message: "\(path): \(error.message)") }
        do { return try JSONValue.parse(bytes) } catch { throw DefinitionError(message: "\(path): not valid JSON: \(error.message)") }
    }
}

extension JSONValue {
    /// An integer or a finite double as a Double.
    var numberValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d) where d.isFinite: d
        default: nil
        }
    }
}
