/// A page request for `GET /api/jobs` (and the filter of a bulk action).
public struct JobQuery: Sendable, Equatable {
    public enum Order: String, Sendable { case asc, desc }

    /// With a search or a time range, counting looks at the newest `countCap`
    /// jobs that match the text and the time range (the candidates) and counts
    /// those the other filters take; `totalCapped` says more candidates exist,
    /// so the total is a lower bound. So a count never reads more than this
    /// many jobs, however many the store holds.
    public static let countCap = 10_000

    /// Statuses to include; empty for any.
    public var statuses: [JobStatus] = []
    /// Job type names to include; empty for any.
    public var types: [String] = []
    /// Queue names to include; empty for any.
    public var queues: [String] = []
    /// Only the jobs a schedule made.
    public var schedule: String?
    /// Created at or after this time (epoch seconds).
    public var createdAfter: Double?
    /// Created before this time (epoch seconds).
    public var createdBefore: Double?
    /// Text search in params and error.
    public var search: JobSearch?
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

    public var searchText: String? { search?.text }

    /// Whether the count of matches stops at `countCap`.
    public var capsCount: Bool { search != nil || createdAfter != nil || createdBefore != nil }

    /// Whether the filters go beyond statuses (the queue's counters cannot answer).
    public var needsCount: Bool {
        !types.isEmpty || !queues.isEmpty || schedule != nil || createdAfter != nil || createdBefore != nil || search != nil
    }

    /// The text and time-range part of the filter (what bounded counting counts over).
    public func isCandidate(_ job: Job) -> Bool {
        if let createdAfter, !(job.createdAt >= createdAfter) { return false }
        if let createdBefore, !(job.createdAt < createdBefore) { return false }
        if let search, !search.matches(job) { return false }
        return true
    }

    /// The rest of the filter: statuses, types, queues, schedule.
    public func matchesRest(_ job: Job) -> Bool {
        if !statuses.isEmpty && !statuses.contains(job.status) { return false }
        if !types.isEmpty && !types.contains(job.type) { return false }
        if !queues.isEmpty && !queues.contains(job.queue) { return false }
        if let schedule, job.schedule != schedule { return false }
        return true
    }

    public func matches(_ job: Job) -> Bool {
        if !statuses.isEmpty && !statuses.contains(job.status) { return false }
        if !types.isEmpty && !types.contains(job.type) { return false }
        if !queues.isEmpty && !queues.contains(job.queue) { return false }
        if let schedule, job.schedule != schedule { return false }
        if let afterID, job.id <= afterID { return false }
        if let beforeID, job.id >= beforeID { return false }
        if let createdAfter, !(job.createdAt >= createdAfter) { return false }
        if let createdBefore, !(job.createdAt < createdBefore) { return false }
        if let search, !search.matches(job) { return false }
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
        var total = 0
        var capped = false
        if capsCount {
            var candidates = 0
            for job in jobs.reversed() where isCandidate(job) {
                if candidates == Self.countCap {
                    capped = true
                    break
                }
                candidates += 1
                if matchesRest(job) { total += 1 }
            }
        } else {
            let all = withoutCursor
            total = jobs.reduce(0) { $0 + (all.matches($1) ? 1 : 0) }
        }
        var page: [Job] = []
        let scan: any Sequence<Job> = scansDown ? AnySequence(jobs.reversed()) : AnySequence(jobs)
        for job in scan where matches(job) {
            page.append(job)
            if page.count > limit { break }
        }
        var result = finish(page, total: total)
        result.totalCapped = capped
        return result
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
    /// `total` stopped at `JobQuery.countCap`: at least that many match.
    public var totalCapped = false

    public init(jobs: [Job], total: Int, more: Bool) {
        self.jobs = jobs
        self.total = total
        self.more = more
    }
}
