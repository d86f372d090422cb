import Essentials
import JSON
import JobQueue
import JobRunnerAPI
import Webhooks

/// The `--config` file: a JSON object with one key per setting (as text, the way
/// a flag gives it) and the structured sections. Unknown keys and values of the
/// wrong kind are errors naming the key and the file.
struct ConfigFile {
    static let sections = ["job_types", "queues", "schedules", "tokens", "webhooks"]

    let path: String
    private(set) var values: [String: String] = [:]
    private(set) var jobTypes: JSONValue?
    private(set) var schedules: JSONValue?
    private var queuesSection: JSONValue?
    private var tokensSection: JSONValue?
    private var webhooksSection: JSONValue?

    /// No file.
    init() { path = "" }

    init(path: String) throws(ConfigError) {
        self.path = path
        let bytes: [UInt8]
        do { bytes = try readSmallFile(path) } catch { throw ConfigError(message: "config file \(path): \(error.message)") }
        let root: JSONValue
        do { root = try JSONValue.parse(bytes) } catch {
            throw ConfigError(message: "config file \(path) is not valid JSON: \(error.message)")
        }
        guard case .object(let object) = root else { throw ConfigError(message: "config file \(path) must hold a JSON object") }
        for member in object {
            switch member.key {
            case "webhooks": webhooksSection = member.value
            case "job_types": jobTypes = member.value
            case "queues": queuesSection = member.value
            case "schedules": schedules = member.value
            case "tokens": tokensSection = member.value
            default: try readValue(member.key, member.value)
            }
        }
    }

    private mutating func readValue(_ key: String, _ value: JSONValue) throws(ConfigError) {
        guard SettingTable.keys.contains(key) else {
            throw ConfigError(message: "unknown key '\(key)' in \(path) (known: \((SettingTable.keys + Self.sections).joined(separator: ", ")))")
        }
        switch value {
        case .string(let s): values[key] = s
        case .int(let i): values[key] = String(i)
        case .double(let d): values[key] = String(d)
        case .bool(let b): values[key] = b ? "true" : "false"
        case .array(let items) where items.allSatisfy({ $0.stringValue != nil }):
            values[key] = items.compactMap(\.stringValue).joined(separator: ",")
        case .null: return
        default: throw ConfigError(message: "invalid '\(key)' in \(path): must be a string, number or boolean")
        }
    }

    /// `"queues": {"email": {"concurrency": 2, "paused": false}}`.
    func queues() throws(ConfigError) -> [String: QueueConfig] {
        guard let queuesSection else { return [:] }
        guard case .object(let o) = queuesSection else { throw ConfigError(message: "invalid 'queues' in \(path): must be an object of queue settings") }
        var out: [String: QueueConfig] = [:]
        for member in o {
            let name = member.key
            guard JobOptions.isQueueName(name) else { throw ConfigError(message: "invalid queue name '\(name.prefix(64))' in \(path): must match ^[a-z0-9_-]{1,64}$") }
            guard case .object(let q) = member.value else { throw ConfigError(message: "invalid 'queues.\(name)' in \(path): must be an object") }
            var entry = QueueConfig(concurrency: nil, paused: false)
            for field in q {
                switch (field.key, field.value) {
                case ("concurrency", .int(let n)) where (1...10_000).contains(n): entry.concurrency = Int(n)
                case ("concurrency", .null): entry.concurrency = nil
                case ("paused", .bool(let b)): entry.paused = b
                default: throw ConfigError(message: "invalid 'queues.\(name).\(field.key)' in \(path): known are concurrency (1-10000) and paused (true/false)")
                }
            }
            out[name] = entry
        }
        return out
    }

    func tokens() throws(ConfigError) -> [TokenEntry] {
        do { return try TokenEntry.parseSection(tokensSection) } catch {
            throw ConfigError(message: "invalid 'tokens' in \(path): \(error.message)")
        }
    }

    func webhooks() throws(ConfigError) -> [WebhookEndpoint] {
        do { return try WebhookEndpoint.parseSection(webhooksSection) } catch {
            throw ConfigError(message: "invalid 'webhooks' in \(path): \(error.message)")
        }
    }
}
