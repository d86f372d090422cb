import Dispatch
import Essentials
import Synchronization

/// Fresh job ids from a store shared by several nodes, fetched ahead in small
/// blocks so a submission rarely waits for the database. While other nodes are
/// alive, ids older than a second are dropped unused (ids have gaps, never
/// repeats): a job's id then follows creation order across nodes to within
/// about a second. A node alone keeps them, so its ids have no gaps but at a restart.
final class IDPool: Sendable {
    private struct State {
        var ids: [Int64] = []
        var next = 0
        var fetchedAt = 0.0
        var refilling = false
        var waiters: [@Sendable (Result<Int64, StoreError>) -> Void] = []
    }
    private let state = Mutex(State())
    private let store: any ClusterStore
    static let block = 128
    static let freshFor = 1.0

    init(store: any ClusterStore) { self.store = store }

    /// An id now when one is at hand, else after a refill (on another thread).
    func take(_ then: @escaping @Sendable (Result<Int64, StoreError>) -> Void) {
        let now = monotonicNow()
        let alone = store.isAlone
        let (id, refill) = state.withLock { s -> (Int64?, Bool) in
            if now - s.fetchedAt > Self.freshFor && !alone { s.next = s.ids.count }
            if s.waiters.isEmpty, s.next < s.ids.count {
                defer { s.next += 1 }
                let low = s.ids.count - s.next < Self.block / 4 && !s.refilling
                if low { s.refilling = true }
                return (s.ids[s.next], low)
            }
            s.waiters.append(then)
            let start = !s.refilling
            s.refilling = true
            return (nil, start)
        }
        if refill { DispatchQueue.global().async { self.refill() } }
        if let id { then(.success(id)) }
    }

    /// The blocking form, for threads that may wait (timers).
    func takeNow() -> Result<Int64, StoreError> {
        let box = Mutex<Result<Int64, StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        take { r in
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 }!
    }

    private func refill() {
        let fetched: Result<[Int64], StoreError>
        do { fetched = .success(try store.takeIDs(Self.block)) } catch { fetched = .failure(error) }
        let now = monotonicNow()
        let alone = store.isAlone
        var served: [(@Sendable (Result<Int64, StoreError>) -> Void, Result<Int64, StoreError>)] = []
        let again = state.withLock { s -> Bool in
            s.refilling = false
            switch fetched {
            case .success(let ids):
                s.ids = (now - s.fetchedAt > Self.freshFor && !alone ? [] : Array(s.ids[s.next...])) + ids
                s.next = 0
                s.fetchedAt = now
                while !s.waiters.isEmpty && s.next < s.ids.count {
                    served.append((s.waiters.removeFirst(), .success(s.ids[s.next])))
                    s.next += 1
                }
            case .failure(let error):
                served = s.waiters.map { ($0, .failure(error)) }
                s.waiters = []
            }
            if !s.waiters.isEmpty {
                s.refilling = true
                return true
            }
            return false
        }
        for (waiter, result) in served { waiter(result) }
        if again { refill() }
    }
}
