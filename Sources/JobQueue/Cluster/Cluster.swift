import Synchronization

/// Several nodes on one store: claims made by the store, other nodes' changes
/// applied as they are heard of, guarded writes that lose to another node's.
extension JobQueue {
    /// This node's id when the store is shared by several nodes.
    public var nodeID: String? { cluster?.nodeID }

    /// The nodes sharing the store (nil: the store is not shared).
    public func nodes() throws(StoreError) -> [NodeInfo]? {
        guard let cluster else { return nil }
        return try cluster.nodes()
    }

    /// The store op that writes a transition of an existing job: guarded by the
    /// status, node and attempt it had when decided, when several nodes share
    /// the store.
    func write(_ job: Job, from before: Job) -> StoreOp {
        guard cluster != nil else { return .upsert(job) }
        return .update(job, expect: JobGuard(before))
    }

    /// What a log write of a running job expects the row to hold (several nodes):
    /// still that attempt, so lines of an attempt taken over never land in the
    /// log of the one that replaced it.
    func logGuard(_ running: Job) -> JobGuard? {
        cluster == nil ? nil : JobGuard(running)
    }
}
