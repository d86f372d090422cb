import Synchronization

/// The rescuer: the leader ends the attempts of silent nodes.
extension JobQueue {
    /// The leader takes over the running jobs of silent nodes and ends each
    /// attempt as interrupted (retried when attempts remain), fenced by its
    /// lease. One rescue per node at a time.
    public func rescue(_ nodes: [String]) {
        guard let cluster, let epoch = cluster.leaderEpoch else { return }
        for silent in nodes {
            let fresh = state.withLock { $0.q.cluster.rescuing.insert(silent).inserted }
            guard fresh else { continue }
            let adopted = Mutex<[Job]>([])
            cluster.submit([.fence(epoch: epoch), .adopt(from: silent, node: cluster.nodeID, report: { jobs in adopted.withLock { $0 = jobs } })],
                           retry: false) { [self] result in
                let jobs = adopted.withLock { $0 }
                if case .success = result, !jobs.isEmpty {
                    state.withLock { l in
                        for job in jobs {
                            adoptRunning(&l, job)
                            l.q.cluster.adoptedFrom[job.id] = silent
                        }
                    }
                    batchDone()
                    for job in jobs { fail(job.id, error: Self.interruptedMessage, retryable: true) }
                }
                // The next heartbeat looks again once these are written.
                whenDurable { [self] _ in state.withLock { _ = $0.q.cluster.rescuing.remove(silent) } }
            }
        }
    }
}
