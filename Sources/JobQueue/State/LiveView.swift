/// What a live client starts from, read from the visible layer.
extension QueueState {
    /// Every running job, the first `pendingLimit` pending in run order and the
    /// newest `finishedLimit` finished, oldest first; and whether any were left out.
    func live(pendingLimit: Int, finishedLimit: Int) -> (jobs: [Job], truncated: Bool) {
        var ids = Array(running)
        let waiting = pendingInRunOrder(limit: pendingLimit)
        ids += waiting
        var pending = waiting.count
        // Claimed, start not yet committed: still pending to readers.
        for id in working.keys where pending < pendingLimit && jobs[id]?.status == .pending {
            ids.append(id)
            pending += 1
        }
        // The newest finished by id (as the REST pages and the retention rule
        // count them), among the most recently finished (a job finished long ago
        // has left this window and is read through the pages).
        var recent: [Int64] = []
        var j = finished.count
        while recent.count < finishedLimit * 2 && j > finishedHead {
            j -= 1
            if jobs[finished[j]]?.status.isFinished == true { recent.append(finished[j]) }
        }
        recent.sort(by: >)
        let finishedIDs = recent.prefix(finishedLimit)
        let finishedCount = finishedIDs.count
        ids += finishedIDs
        ids.sort()
        var out: [Job] = []
        out.reserveCapacity(ids.count)
        var last: Int64 = 0
        for id in ids where id != last {
            last = id
            if let job = jobs[id] { out.append(job) }
        }
        let truncated = stats.pending > pending || stats.completed + stats.failed + stats.cancelled > finishedCount
        return (out, truncated)
    }
}
