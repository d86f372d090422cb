import Glibc
import JSON

/// What the kernel's `execve` takes at most, checked before a job's program is
/// started: past a limit the system says only "Argument list too long", so the
/// job's error says instead which parameter made which argument too long, and
/// the limit.
enum ArgumentLimits {
    /// Bytes in one argument or environment string, its NUL included
    /// (the kernel's MAX_ARG_STRLEN, 32 pages of 4 KiB).
    static let perString = 32 * 4096

    /// Bytes of all arguments and environment strings together (NULs and
    /// pointers included): a quarter of the stack limit (`getconf ARG_MAX`).
    static var total: Int { max(Int(sysconf(Int32(_SC_ARG_MAX))), perString) }

    /// The reason `arguments` (argv, `argv[0]` included, as rendered from
    /// `templates`) and `environment` cannot be passed to a program, or nil.
    /// `extra` are the arguments the job supervisor is started with before them.
    static func problem(arguments: [String], templates: [ArgumentTemplate], environment: [String],
                        params: JSONObject, extra: [String]) -> String? {
        for (index, argument) in arguments.enumerated() where argument.utf8.count >= perString {
            let names = index < templates.count ? templates[index].placeholders : []
            let from = names.isEmpty ? "" : " (from " + list(names) + ")"
            let advice = names.isEmpty ? "" : ": give a shorter value"
            return "argument \(index)\(from) is \(argument.utf8.count) bytes, more than the \(perString - 1) bytes the system allows in one argument\(advice)"
        }
        for variable in environment where variable.utf8.count >= perString {
            let name = String(variable.prefix { $0 != "=" })
            let value = variable.utf8.count - name.utf8.count - 1
            let culprit = name == "JOBRUNNER_PARAMS" ? largest(params).map { " (the longest is '\($0)')" } ?? "" : ""
            return "the environment variable \(name) is \(value) bytes\(culprit), more than the \(perString - 1) bytes the system allows in one variable"
        }
        let strings = extra + arguments + environment
        let bytes = strings.reduce(0) { $0 + $1.utf8.count + 1 + MemoryLayout<UnsafePointer<CChar>>.size } + 2 * MemoryLayout<UnsafePointer<CChar>>.size
        if bytes > total {
            let culprit = largest(params).map { " (the longest parameter is '\($0)')" } ?? ""
            return "its arguments and environment are \(bytes) bytes\(culprit), more than the \(total) bytes the system allows in all"
        }
        return nil
    }

    private static func list(_ names: [String]) -> String {
        let unique = names.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return (unique.count == 1 ? "parameter " : "parameters ") + unique.map { "'\($0)'" }.joined(separator: ", ")
    }

    /// The param whose value is longest as JSON.
    private static func largest(_ params: JSONObject) -> String? {
        params.members.max { $0.value.jsonString.utf8.count < $1.value.jsonString.utf8.count }?.key
    }
}
