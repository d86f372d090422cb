// The dashboard's copy of the queue, kept in step by the WebSocket's messages.

const FINISHED = new Set(["completed", "failed", "cancelled"]);
const ORDER = { running: 0, pending: 1, completed: 2, failed: 2, cancelled: 2 };
// How far along its life a status is: a copy of a job never goes back.
const STAGE = { pending: 0, running: 1, completed: 2, failed: 2, cancelled: 2 };

export class Store {
  constructor() {
    this.jobs = new Map();
    this.counts = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    this.worker = { active: 0, capacity: 0, processed: 0, is_running: false };
    this.jobTypes = [];
    this.finishedAt = []; // epoch seconds of recent finishes, for the throughput chart
    this.listeners = new Set();
    this.orderDirty = true;
    this.sorted = [];
    this.filter = { status: "", type: "" };
    // A bounded `queue_state` left jobs out: the rest is paged in over REST.
    this.truncated = false;
    // Pending jobs beyond `queue_state` have ids above this.
    this.pendingCursor = 0;
    // Each job's status as the WebSocket last told it, for exact counts also
    // for jobs that were paged in (or not loaded at all).
    this.streamStatus = new Map();
    // Schedules by name (loaded over REST, kept by `schedule_updated`/`schedule_deleted`).
    this.schedules = new Map();
  }

  onChange(fn) { this.listeners.add(fn); }

  emit(kind, job, data) { for (const fn of this.listeners) fn(kind, job, data); }

  /** Replaces everything with a fresh `queue_state` (on connect and after a reconnect). */
  reset(state) {
    this.jobs = new Map(state.jobs.map((j) => [j.id, j]));
    this.truncated = state.truncated === true;
    this.streamStatus = new Map(state.jobs.map((j) => [j.id, j.status]));
    this.pendingCursor = 0;
    for (const j of state.jobs) if (j.status === "pending" && j.id > this.pendingCursor) this.pendingCursor = j.id;
    this.counts = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const key of Object.keys(this.counts)) this.counts[key] = state.stats[key] ?? 0;
    this.worker = state.worker;
    this.jobTypes = state.job_types;
    const horizon = Date.now() / 1000 - 300;
    this.finishedAt = state.jobs.filter((j) => j.completed_at && j.completed_at > horizon).map((j) => j.completed_at).sort();
    this.orderDirty = true;
    this.emit("reset");
  }

  /** Applies one broadcast; returns the job it touched, if any. */
  apply(message) {
    const d = message.data;
    switch (message.type) {
      case "job_created": {
        if (this.jobs.has(d.id) || this.streamStatus.has(d.id)) return null;
        this.jobs.set(d.id, d);
        this.streamStatus.set(d.id, d.status);
        this.counts[d.status] += 1;
        this.orderDirty = true;
        return this.touch("created", d);
      }
      case "job_started":
        return this.transition(d.job_id, "running", (j) => {
          j.started_at = d.started_at;
          if (d.node !== undefined) j.node = d.node;
          j.progress = { percent: 0, message: "Starting..." };
        });
      case "job_progress": {
        const j = this.jobs.get(d.job_id);
        if (!j || j.status !== "running") return null;
        j.progress = { percent: d.percent, message: d.message };
        return this.touch("progress", j);
      }
      case "job_completed":
        return this.transition(d.job_id, "completed", (j) => {
          j.result = d.result;
          j.completed_at = (j.started_at ?? Date.now() / 1000) + d.duration;
          j.progress = { percent: 100, message: "Complete" };
        });
      case "job_failed":
        return this.transition(d.job_id, "failed", (j) => {
          j.error = d.error;
          // A job with more attempts lists its last failure among `errors` too.
          if ((j.max_attempts ?? 1) > 1) j.errors = [...(j.errors ?? []), { attempt: j.attempt ?? 1, error: d.error, at: Date.now() / 1000 }];
          j.completed_at = Date.now() / 1000;
        });
      case "job_cancelled":
        return this.transition(d.job_id, "cancelled", (j) => { j.completed_at = Date.now() / 1000; });
      case "jobs_cleared":
        for (const [id, j] of this.jobs) if (FINISHED.has(j.status)) this.jobs.delete(id);
        for (const [id, status] of this.streamStatus) if (FINISHED.has(status)) this.streamStatus.delete(id);
        this.counts.completed = this.counts.failed = this.counts.cancelled = 0;
        this.orderDirty = true;
        this.emit("cleared");
        return null;
      case "worker_stats":
        this.worker = d;
        this.emit("worker");
        return null;
      case "job_retrying":
        // An attempt failed and the job waits for the next one: running -> pending.
        return this.rewind(d.job_id, (j) => {
          j.errors = [...(j.errors ?? []), { attempt: d.attempt - 1, error: d.error, at: Date.now() / 1000 }];
          j.attempt = d.attempt;
          j.run_at = d.run_at;
          j.started_at = null;
          j.progress = { percent: 0, message: "Waiting to retry" };
        }, "retrying");
      case "job_retried":
        // A failed or cancelled job is pending again (the full job comes along).
        return this.rewind(d.id, (j) => { Object.assign(j, d); }, "retried", d);
      case "jobs_pruned":
        this.emit("pruned");
        return null;
      case "queue_updated":
        this.emit("queue", null, d);
        return null;
      case "schedule_updated": {
        // The broadcast carries no `description` (REST does): keep the one known for this cron.
        const known = this.schedules.get(d.name);
        const s = { ...d };
        if (s.description == null && known?.cron === s.cron && known?.timezone === s.timezone) s.description = known.description;
        this.schedules.set(d.name, s);
        this.emit("schedule", null, s);
        return null;
      }
      case "schedule_deleted":
        this.schedules.delete(d.name);
        this.emit("schedule", null, d);
        return null;
      default:
        return null;
    }
  }

  /** A job going back to pending (a retry): the one way a status moves backwards. */
  rewind(id, update, kind, full = null) {
    const previous = this.streamStatus.get(id) ?? this.jobs.get(id)?.status;
    if (previous && previous !== "pending") {
      this.counts[previous] = Math.max(0, this.counts[previous] - 1);
      this.counts.pending += 1;
    } else if (!previous && full) {
      this.counts.pending += 1;
    }
    this.streamStatus.set(id, "pending");
    let j = this.jobs.get(id);
    if (!j && full) {
      j = { ...full };
      this.jobs.set(id, j);
    }
    if (!j) {
      this.emit("missing", { id });
      this.emit("counts");
      return null;
    }
    update(j);
    j.status = "pending";
    if (full == null) { j.completed_at = null; }
    this.orderDirty = true;
    return this.touch(kind, j);
  }

  setSchedules(list) {
    this.schedules = new Map(list.map((s) => [s.name, s]));
    this.emit("schedules");
  }

  transition(id, status, update) {
    const j = this.jobs.get(id);
    let previous = this.streamStatus.get(id);
    if (previous === undefined) {
      if (!this.truncated) return null;
      // Not in `queue_state`: a job starts from pending, finishes from running,
      // and (every running job being known) is cancelled from pending.
      previous = j?.status === "pending" ? "pending" : status === "completed" || status === "failed" ? "running" : "pending";
    }
    if (previous === status || FINISHED.has(previous)) return null;
    this.streamStatus.set(id, status);
    this.counts[previous] = Math.max(0, this.counts[previous] - 1);
    this.counts[status] += 1;
    if (FINISHED.has(status)) this.finishedAt.push(Date.now() / 1000);
    if (!j) {
      // Loaded from REST once it is needed (a running job is always shown).
      this.emit("missing", { id });
      this.emit("counts");
      return null;
    }
    if (STAGE[j.status] >= STAGE[status]) {
      this.emit("counts");
      return null;
    }
    j.status = status;
    update(j);
    this.orderDirty = true;
    return this.touch(status, j);
  }

  /**
   * Adds jobs read over REST (pages, or one job an event named). A copy never
   * replaces a newer one: what the WebSocket said wins over an older page.
   */
  addFromServer(jobs) {
    let added = 0;
    for (const job of jobs) {
      const known = this.jobs.get(job.id);
      const said = this.streamStatus.get(job.id);
      if (known && STAGE[known.status] >= STAGE[job.status]) continue;
      if (said !== undefined && STAGE[said] > STAGE[job.status]) continue;
      if (said === undefined && !known && this.jobsCleared(job)) continue;
      this.jobs.set(job.id, job);
      added += 1;
    }
    if (added) {
      this.orderDirty = true;
      this.emit("paged");
    }
    return added;
  }

  /** A finished job from a page read before a clear that already arrived. */
  jobsCleared(job) {
    return FINISHED.has(job.status) && this.counts[job.status] === 0;
  }

  touch(kind, job) {
    this.emit(kind, job);
    return job;
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.orderDirty = true;
  }

  matches(j) {
    const { status, type } = this.filter;
    if (type && j.type !== type) return false;
    if (!status) return true;
    if (status === "finished") return FINISHED.has(j.status);
    return j.status === status;
  }

  /** Running first (oldest start first), then pending (in run order), then finished (newest first). */
  ordered() {
    if (!this.orderDirty) return this.sorted;
    const list = [];
    for (const j of this.jobs.values()) if (this.matches(j)) list.push(j);
    list.sort((a, b) => {
      const ga = ORDER[a.status], gb = ORDER[b.status];
      if (ga !== gb) return ga - gb;
      if (ga === 0) return (a.started_at ?? 0) - (b.started_at ?? 0) || a.id - b.id;
      if (ga === 1) {
        // The daemon's run order: due jobs by priority then id, then delayed ones by time.
        const now = Date.now() / 1000;
        const da = a.run_at != null && a.run_at > now ? a.run_at : 0, db = b.run_at != null && b.run_at > now ? b.run_at : 0;
        if ((da === 0) !== (db === 0)) return da === 0 ? -1 : 1;
        if (da !== db) return da - db;
        return (b.priority ?? 0) - (a.priority ?? 0) || a.id - b.id;
      }
      return (b.completed_at ?? 0) - (a.completed_at ?? 0) || b.id - a.id;
    });
    this.sorted = list;
    this.orderDirty = false;
    return list;
  }

  /** Finishes per 5-second bucket over the last 5 minutes (60 buckets, oldest first). */
  throughput(now = Date.now() / 1000) {
    const horizon = now - 300;
    while (this.finishedAt.length && this.finishedAt[0] < horizon) this.finishedAt.shift();
    const buckets = new Array(60).fill(0);
    for (const t of this.finishedAt) {
      const i = Math.min(59, Math.floor((t - horizon) / 5));
      if (i >= 0) buckets[i] += 1;
    }
    return buckets.map((n) => n / 5);
  }
}

export const isFinished = (status) => FINISHED.has(status);
