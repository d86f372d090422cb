// Pages in the jobs a bounded `queue_state` left out, from `GET /api/jobs`.
//
// `queue_state` carries every running job, the first 1,000 pending and the
// newest 1,000 finished; the counts are always exact. When it says
// `truncated`, the rest comes from REST: in the background up to PREFETCH jobs,
// then a page at a time as the list is scrolled to its end, filtered, or the
// "Load more" button is pressed.

const PAGE = 1000;
const PREFETCH = 10_000;
const FINISHED = ["completed", "failed", "cancelled"];

/** The REST scans that can hold jobs matching a status filter. */
function categories(status) {
  if (status === "running") return [];
  if (status === "pending") return ["pending"];
  if (status === "finished") return ["finished"];
  if (FINISHED.includes(status)) return [status];
  return ["pending", "finished"];
}

export class Pager {
  constructor(store, { onLoaded, onError }) {
    this.store = store;
    this.onLoaded = onLoaded;
    this.onError = onError;
    this.loading = false;
    this.reset();
  }

  /** After a new `queue_state`: cursors start again from it. */
  reset() {
    this.generation = (this.generation ?? 0) + 1;
    this.cursors = new Map(); // category|type -> { cursor, done }
    this.loading = false;
  }

  statuses(category) {
    if (category === "pending") return ["pending"];
    if (category === "finished") return FINISHED;
    return [category];
  }

  /** Whether the daemon holds jobs of `category` (and type) that are not loaded. */
  hasMore(category, type) {
    if (!this.store.truncated) return false;
    if (this.cursors.get(`${category}|${type}`)?.done) return false;
    if (type) return true;
    const statuses = this.statuses(category);
    let loaded = 0;
    for (const j of this.store.jobs.values()) if (statuses.includes(j.status)) loaded += 1;
    const total = statuses.reduce((n, s) => n + (this.store.counts[s] ?? 0), 0);
    return loaded < total;
  }

  /** Whether jobs matching the current filter are left to load. */
  more() {
    const { status, type } = this.store.filter;
    return categories(status).some((c) => this.hasMore(c, type));
  }

  /** Loads in the background until PREFETCH jobs are in the page. */
  prefetch() {
    if (this.store.jobs.size < PREFETCH) this.load({ background: true });
  }

  /** Loads the next page for the current filter (or, in the background, for all). */
  async load({ background = false } = {}) {
    if (this.loading) return;
    const type = background ? "" : this.store.filter.type;
    const wanted = background ? categories("") : categories(this.store.filter.status);
    const category = wanted.find((c) => this.hasMore(c, type));
    if (!category) return;
    const key = `${category}|${type}`;
    const state = this.cursors.get(key) ?? { cursor: null, done: false };
    const params = new URLSearchParams({ status: this.statuses(category).join(","), limit: String(PAGE) });
    if (type) params.set("type", type);
    if (category === "pending") {
      // Pending jobs not in `queue_state` all come after its first 1,000.
      params.set("after_id", String(state.cursor ?? this.store.pendingCursor));
      params.set("order", "asc");
    } else {
      if (state.cursor != null) params.set("before_id", String(state.cursor));
      params.set("order", "desc");
    }
    this.loading = true;
    const generation = this.generation;
    try {
      const response = await fetch(`/api/jobs?${params}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const jobs = await response.json();
      if (generation !== this.generation) return;
      const ids = jobs.map((j) => j.id);
      const next = ids.length === 0 ? state.cursor :
        category === "pending" ? Math.max(...ids) : Math.min(...ids);
      const hasNext = /rel="next"/.test(response.headers.get("Link") ?? "");
      this.cursors.set(key, { cursor: next, done: !hasNext || ids.length === 0 });
      this.store.addFromServer(jobs);
    } catch (error) {
      if (generation !== this.generation) return;
      this.cursors.set(key, { ...state, done: true });
      this.onError?.(error);
    } finally {
      if (generation === this.generation) this.loading = false;
    }
    if (generation === this.generation) {
      this.onLoaded?.();
      if (background) this.prefetch();
    }
  }
}
