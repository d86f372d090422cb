/// A page request for `GET /api/jobs`.
public struct JobQuery: Sendable, Equatable {
    public enum Order: String, Sendable { case asc, desc }

    /// Statuses to include; empty for any.
    public var statuses: [JobStatus] = []
    /// Job type names to include; empty for any.
    public var types: [String] = []
    /// Only the jobs a schedule made.
    public var schedule: String?
    public var limit = 1000
    public var afterID: Int64?
    public var beforeID: Int64?
    public var order = Order.asc
    /// Whether the store must count the matches (the queue answers from its
    /// counters when only statuses filter).
    public var countTotal = true

    public init() {}

    /// Without `after_id` a page is the newest `limit` jobs (below `before_id` if
    /// given); with it, the oldest `limit` jobs above it. Either is then shown in
    /// `order`.
    public var scansDown: Bool { afterID == nil }

    public func matches(_ job: Job) -> Bool {
        if !statuses.isEmpty && !statuses.contains(job.status) { return false }
        if !types.isEmpty && !types.contains(job.type) { return false }
        if let schedule, job.schedule != schedule { return false }
        if let afterID, job.id <= afterID { return false }
        if let beforeID, job.id >= beforeID { return false }
        return true
    }

    /// The same filters without the cursor (what `X-Total-Count` counts).
    public var withoutCursor: JobQuery {
        var q = self
        q.afterID = nil
        q.beforeID = nil
        return q
    }

    /// Runs the query over jobs sorted by id (the in-memory store).
    public func run(over jobs: [Job]) -> JobPage {
        let total = jobs.reduce(0) { $0 + (withoutCursor.matches($1) ? 1 : 0) }
        var page: [Job] = []
        let scan: any Sequence<Job> = scansDown ? AnySequence(jobs.reversed()) : AnySequence(jobs)
        for job in scan where matches(job) {
            page.append(job)
            if page.count > limit { break }
        }
        return finish(page, total: total)
    }

    /// Trims the look-ahead row and puts a scanned page in the requested order.
    public func finish(_ scanned: [Job], total: Int) -> JobPage {
        var page = scanned
        let more = page.count > limit
        if more { page.removeLast() }
        if scansDown == (order == .asc) { page.reverse() }
        return JobPage(jobs: page, total: total, more: more)
    }
}

/// One page of jobs, the count of all that match, and whether more lie beyond it.
public struct JobPage: Sendable {
    public var jobs: [Job]
    public var total: Int
    /// More jobs in the direction of the scan (older ones without `after_id`,
    /// newer ones with it).
    public var more: Bool

    public init(jobs: [Job], total: Int, more: Bool) {
        self.jobs = jobs
        self.total = total
        self.more = more
    }
}
