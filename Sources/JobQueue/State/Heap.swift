/// A binary heap; `before(a, b)` is true when `a` comes out first.
struct Heap<Element> {
    private(set) var items: [Element] = []
    let before: (Element, Element) -> Bool

    init(_ before: @escaping (Element, Element) -> Bool) {
        self.before = before
    }

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    var top: Element? { items.first }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard before(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let first = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && before(items[l], items[best]) { best = l }
                if r < items.count && before(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return first
    }
}

/// A pending job's place in a ready heap: higher priority first, then lower id (FIFO).
struct ReadyEntry {
    let priority: Int
    let id: Int64

    static func runsBefore(_ a: ReadyEntry, _ b: ReadyEntry) -> Bool {
        a.priority != b.priority ? a.priority > b.priority : a.id < b.id
    }
}

/// A delayed job's place: the earliest `runAt` first.
struct DelayedEntry {
    let runAt: Double
    let id: Int64
}

/// Ready jobs are kept per queue and type, so a paused queue or a type at its
/// limit never hides the jobs behind its head.
struct ReadyKey: Hashable {
    let queue: String
    let type: String
}
