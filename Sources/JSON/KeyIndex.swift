/// Finds a key's position in an insertion-ordered list of keys. While the list is
/// short (nearly every object this daemon handles) it scans: a few comparisons
/// beat hashing and there is no table to allocate. Once the list grows past
/// `scanLimit` keys it keeps a hash table, so building or probing a large object
/// costs time linear in its size rather than quadratic. Swift seeds its hashing
/// per process, so crafted keys cannot force the table into collisions.
///
/// Invariant: when `table` exists it maps every key in the list to its position.
/// The keys themselves live with their owner; every call says how to read them.
struct KeyIndex<Key: Hashable> {
    /// Lists of up to this many keys are scanned.
    static var scanLimit: Int { 16 }

    private var table: [Key: Int]?

    init() {}

    /// Ready for `count` keys to be appended: a table sized for them up front when
    /// they will pass `scanLimit` (the parser knows each object's size).
    init(expecting count: Int) {
        if count > Self.scanLimit { table = Dictionary(minimumCapacity: count) }
    }

    /// Whether lookups go through the hash table.
    var isHashed: Bool { table != nil }

    /// The position of `key` among the `count` keys that `keyAt` reads, or nil.
    @inline(__always)
    func position(of key: Key, count: Int, keyAt: (Int) -> Key) -> Int? {
        if let table { return table[key] }
        for i in 0..<count where keyAt(i) == key { return i }
        return nil
    }

    /// Records `key`, just appended at `position` (so the list now holds
    /// `position + 1` keys), building the table when the list outgrows a scan.
    @inline(__always)
    mutating func didAppend(_ key: Key, at position: Int, keyAt: (Int) -> Key) {
        if table != nil {
            table?[key] = position
        } else if position >= Self.scanLimit {
            rebuild(count: position + 1, keyAt: keyAt)
        }
    }

    /// Starts over from the list as it is now (after a removal shifted positions).
    mutating func rebuild(count: Int, keyAt: (Int) -> Key) {
        guard count > Self.scanLimit else {
            table = nil
            return
        }
        var fresh = [Key: Int](minimumCapacity: count)
        for i in 0..<count { fresh[keyAt(i)] = i }
        table = fresh
    }
}

extension KeyIndex: Sendable where Key: Sendable {}
