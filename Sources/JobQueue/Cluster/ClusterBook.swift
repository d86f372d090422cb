/// What the queue keeps to agree with other nodes on a shared store: a part of
/// `QueueState`, under the queue's lock (unused on a store of one's own).
struct ClusterBook: ~Copyable {
    /// New jobs whose creation is not applied yet (a notification of them is
    /// this node's own, and waits for that).
    var creating = Set<Int64>()
    /// Jobs another node changed while a change of this node was on its way
    /// (read again once it is applied).
    var remoteSkipped = Set<Int64>()
    /// The newest stored sequence number applied per job: a row read before it
    /// (a re-read racing a notification) is older and ignored.
    private var storedSequence: [Int64: UInt64] = [:]
    /// Jobs this node (the leader) took over from a silent node, with that node:
    /// their end is written as that node's (the leader never ran them).
    var adoptedFrom: [Int64: String] = [:]
    /// Silent nodes whose jobs this node (the leader) is taking over.
    var rescuing = Set<String>()
    /// Jobs to read again from the shared store after this batch (`remoteSkipped`).
    var resync: [Int64] = []

    /// Notes a stored state applied; false when a newer one already was.
    /// `held` tells whether a job is still in memory (entries of jobs that
    /// left are dropped once they outnumber the jobs held).
    mutating func noteStored(_ job: Job, heldCount: Int, held: (Int64) -> Bool) -> Bool {
        if let seen = storedSequence[job.id], job.sequence < seen { return false }
        storedSequence[job.id] = job.sequence
        if storedSequence.count > 2 * heldCount + 1024 {
            storedSequence = storedSequence.filter { held($0.key) }
        }
        return true
    }
}
