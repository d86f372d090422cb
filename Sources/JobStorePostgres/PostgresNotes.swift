import JobQueue

/// What one commit tells the other nodes (`NOTIFY jobrunner`): the node that
/// made it, then one item per line — `j` ids of jobs created or changed, `d` ids
/// removed, `l` a job's new log lines (`lID:FIRST:LAST`), `q` a queue's name,
/// `s` a schedule's name. A notification's payload stays under PostgreSQL's
/// 8,000-byte limit; a big commit sends several.
struct Notes {
    var jobs = Set<Int64>()
    var deleted: [PrunedJob] = []
    /// Every finished job was removed (clear-completed).
    var cleared = false
    var logs: [(id: Int64, first: UInt64, last: UInt64)] = []
    var queues = Set<String>()
    var schedules = Set<String>()

    static let maxPayload = 7000

    func payloads(node: String) -> [String] {
        guard !jobs.isEmpty || !deleted.isEmpty || cleared || !logs.isEmpty || !queues.isEmpty || !schedules.isEmpty else { return [] }
        var out: [String] = []
        var current = node
        func add(_ line: String) {
            if current.utf8.count + line.utf8.count + 1 > Self.maxPayload {
                out.append(current)
                current = node
            }
            current += "\n" + line
        }
        func ids(_ tag: String, _ list: [Int64]) {
            var line = tag
            for id in list {
                let text = String(id)
                if line.utf8.count + text.utf8.count + 1 > 1000 {
                    add(line)
                    line = tag
                }
                line += line == tag ? text : "," + text
            }
            if line != tag { add(line) }
        }
        ids("j", jobs.sorted())
        if cleared { add("c") }
        for d in deleted { add("d\(d.id):\(d.status.rawValue):\(d.queue)") }
        for l in logs { add("l\(l.id):\(l.first):\(l.last)") }
        for q in queues.sorted() { add("q" + q) }
        for s in schedules.sorted() { add("s" + s) }
        out.append(current)
        return out
    }

    /// Parses a payload: the node that sent it and what it names.
    static func parse(_ payload: String) -> (node: String, notes: Notes) {
        var notes = Notes()
        let lines = payload.split(separator: "\n", omittingEmptySubsequences: false)
        guard let node = lines.first else { return ("", notes) }
        for line in lines.dropFirst() {
            guard let tag = line.first else { continue }
            let rest = line.dropFirst()
            switch tag {
            case "j": for id in rest.split(separator: ",") { if let n = Int64(id) { notes.jobs.insert(n) } }
            case "c": notes.cleared = true
            case "d":
                let parts = rest.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                if parts.count == 3, let id = Int64(parts[0]), let status = JobStatus(rawValue: String(parts[1])) {
                    notes.deleted.append(PrunedJob(id: id, status: status, queue: String(parts[2])))
                }
            case "l":
                let parts = rest.split(separator: ":")
                if parts.count == 3, let id = Int64(parts[0]), let first = UInt64(parts[1]), let last = UInt64(parts[2]) {
                    notes.logs.append((id, first, last))
                }
            case "q": notes.queues.insert(String(rest))
            case "s": notes.schedules.insert(String(rest))
            default: break
            }
        }
        return (String(node), notes)
    }
}
