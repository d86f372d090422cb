// The history view: server-side pages over every stored job (REST, by cursor),
// filters and text search kept in the URL (#/history?q=...&status=...), and
// bulk cancel / retry / delete of everything the filter selects, confirmed
// with the count the daemon will act on.
import { $, announce, api, el, formatDateTime, formatDuration, jsonText } from "./dom.js";

const PAGE = 50;
const FILTERS = ["q", "status", "type", "queue", "from", "to"];
const VERBS = { cancel: ["Cancel", "cancelled"], retry: ["Retry", "retried"], delete: ["Delete", "deleted"] };
const APPLIES = {
  cancel: "every pending or running job",
  retry: "every failed or cancelled job",
  delete: "every finished (completed, failed or cancelled) job, with its log; pending and running jobs are never deleted,",
};

/** A `datetime-local` value (the browser's zone) as epoch seconds, or null. */
function epoch(local) {
  if (!local) return null;
  const t = new Date(local).getTime();
  return Number.isFinite(t) ? t / 1000 : null;
}

export class HistoryView {
  constructor({ onNavigate }) {
    this.onNavigate = onNavigate;
    this.visible = false;
    this.filters = {};
    // Cursors of the pages before this one (newest first): "Newer" goes back.
    this.cursors = [];
    this.before = null;
    this.page = [];
    this.loading = 0;
    this.pending = null;
    $("history-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const hash = this.hashFor(this.readForm());
      // The same search again reads afresh from the newest page.
      if (location.hash === hash) this.first();
      else this.onNavigate(hash);
    });
    $("history-reset").addEventListener("click", () => this.onNavigate("#/history"));
    $("history-older").addEventListener("click", () => this.older());
    $("history-newer").addEventListener("click", () => this.newer());
    for (const action of Object.keys(VERBS)) {
      $(`history-bulk-${action}`).addEventListener("click", () => this.askBulk(action));
    }
    $("bulk-confirm").addEventListener("click", () => this.runBulk());
    $("bulk-keep").addEventListener("click", () => $("bulk-dialog").close());
    $("bulk-dialog").addEventListener("close", () => { this.pending = null; });
  }

  /** Shows the view for `#/history?...`: filters from the URL, first page. */
  show(params) {
    this.visible = true;
    const filters = {};
    for (const name of FILTERS) {
      const v = params.get(name);
      if (v) filters[name] = v;
    }
    const same = this.shown && JSON.stringify(filters) === JSON.stringify(this.filters);
    this.shown = true;
    this.filters = filters;
    this.writeForm();
    if (!same) this.first();
  }

  /** The newest page of the current filters. */
  first() {
    this.cursors = [];
    this.before = null;
    this.load();
  }

  hide() { this.visible = false; }

  /** The daemon's query for the current filters (without paging). */
  query() {
    const p = new URLSearchParams();
    const f = this.filters;
    if (f.q) p.set("q", f.q);
    if (f.status) p.set("status", f.status === "finished" ? "completed,failed,cancelled" : f.status);
    if (f.type) p.set("type", f.type);
    if (f.queue) p.set("queue", f.queue);
    const from = epoch(f.from), to = epoch(f.to);
    if (from != null) p.set("created_after", String(from));
    if (to != null) p.set("created_before", String(to));
    return p;
  }

  hashFor(filters) {
    const p = new URLSearchParams();
    for (const name of FILTERS) if (filters[name]) p.set(name, filters[name]);
    const s = p.toString();
    return s ? `#/history?${s}` : "#/history";
  }

  /** The hash that shows this view as it is (the job dialog goes back to it). */
  get hash() { return this.hashFor(this.filters); }

  readForm() {
    return {
      q: $("h-q").value.trim(), status: $("h-status").value, type: $("h-type").value,
      queue: $("h-queue").value.trim(), from: $("h-from").value, to: $("h-to").value,
    };
  }

  writeForm() {
    const f = this.filters;
    $("h-q").value = f.q ?? "";
    $("h-status").value = f.status ?? "";
    $("h-type").value = f.type ?? "";
    $("h-queue").value = f.queue ?? "";
    $("h-from").value = f.from ?? "";
    $("h-to").value = f.to ?? "";
  }

  /** Fills the type and queue choices. */
  setTypes(types) {
    const select = $("h-type");
    const current = this.filters.type ?? select.value;
    select.replaceChildren(el("option", { value: "", text: "all" }), ...types.map((t) => el("option", { value: t.name, text: t.name })));
    select.value = current;
  }

  /** The queue names offered while typing (any name may be typed). */
  async loadQueues() {
    try {
      const list = await api("/api/queues");
      $("h-queues").replaceChildren(...list.map((q) => el("option", { value: q.name })));
    } catch {
      // Only the suggestions are missing.
    }
  }

  older() {
    if (!this.page.length) return;
    this.cursors.push(this.before);
    this.before = this.page[this.page.length - 1].id;
    this.load(true);
  }

  newer() {
    if (!this.cursors.length) return;
    this.before = this.cursors.pop();
    this.load(true);
  }

  /** Reads the current page again (after a bulk action or a job's change). */
  reload() { if (this.visible) this.load(); }

  async load(paging = false) {
    const ticket = ++this.loading;
    const p = this.query();
    p.set("limit", String(PAGE));
    p.set("order", "desc");
    if (this.before != null) p.set("before_id", String(this.before));
    this.showError(null);
    $("history-table").setAttribute("aria-busy", "true");
    let response, jobs;
    try {
      response = await fetch(`/api/jobs?${p}`);
      jobs = await response.json();
    } catch {
      if (ticket === this.loading) this.showError("Cannot reach the daemon.");
      return;
    } finally {
      if (ticket === this.loading) $("history-table").removeAttribute("aria-busy");
    }
    if (ticket !== this.loading) return;
    if (!response.ok) return this.showError(jobs?.error ?? `The daemon answered ${response.status}.`);
    this.page = jobs;
    this.total = Number(response.headers.get("X-Total-Count") ?? jobs.length);
    this.capped = response.headers.get("X-Total-Count-Capped") === "true";
    this.more = response.headers.has("Link");
    this.render();
    if (paging) $("history-title").focus();
  }

  showError(message) {
    const box = $("history-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  render() {
    const body = $("history-body");
    body.replaceChildren(...this.page.map((job) => this.row(job)));
    $("history-empty").hidden = this.page.length > 0;
    // A capped count (a search or time range) is a lower bound.
    const count = this.capped ? `At least ${this.total.toLocaleString()} ${this.total === 1 ? "job matches" : "jobs match"}` :
      `${this.total.toLocaleString()} ${this.total === 1 ? "job matches" : "jobs match"}`;
    const first = this.cursors.length * PAGE + 1;
    const range = this.page.length ? ` · showing ${first.toLocaleString()}–${(first + this.page.length - 1).toLocaleString()}, newest first` : "";
    $("history-summary").textContent = count + range;
    $("history-older").disabled = !this.more;
    $("history-newer").disabled = this.cursors.length === 0;
    for (const action of Object.keys(VERBS)) $(`history-bulk-${action}`).disabled = this.total === 0 && !this.capped;
  }

  row(job) {
    const detail = job.error ?? (job.params ? jsonText(job.params) : "");
    return el("tr", { "data-id": String(job.id) },
      el("td", { class: "num" }, el("a", { href: `#/jobs/${job.id}`, text: `#${job.id}`, "aria-label": `Job ${job.id} (${job.type})` })),
      el("td", { text: job.type }),
      el("td", {}, el("span", { class: `badge ${job.status}`, text: job.status })),
      el("td", { text: job.queue ?? "default" }),
      el("td", {}, el("time", { dateTime: new Date(job.created_at * 1000).toISOString(), text: formatDateTime(job.created_at) })),
      el("td", { class: "num", text: formatDuration(job.started_at != null && job.completed_at != null ? job.completed_at - job.started_at : null) }),
      el("td", { class: job.error ? "detail error-text" : "detail", text: detail, title: detail }),
    );
  }

  // --- Bulk actions ---------------------------------------------------------

  /** The filter object of a bulk request: the list query's own names. */
  bulkFilter() {
    return Object.fromEntries(this.query());
  }

  async askBulk(action) {
    let count;
    try {
      count = await this.bulk(action, { filter: this.bulkFilter(), dry_run: true });
    } catch (e) {
      return this.showError(e.message);
    }
    this.pending = { action, count };
    this.renderConfirm();
    const dialog = $("bulk-dialog");
    if (!dialog.open) dialog.showModal();
    $(count > 0 ? "bulk-confirm" : "bulk-keep").focus();
  }

  renderConfirm(changed) {
    const { action, count } = this.pending;
    const [verb] = VERBS[action];
    $("bulk-title").textContent = count === 1 ? `${verb} 1 job?` : `${verb} ${count.toLocaleString()} jobs?`;
    const noun = count === 1 ? "job" : "jobs";
    $("bulk-text").textContent = count === 0
      ? `No job that matches the filter can be ${VERBS[action][1]}: this acts on ${APPLIES[action]} that matches the filter.`
      : `This acts on ${APPLIES[action]} that matches the filter: ${count.toLocaleString()} ${noun}.`;
    $("bulk-changed").hidden = !changed;
    $("bulk-changed").textContent = changed ? `The number changed since you asked: it is ${count.toLocaleString()} now. Confirm again.` : "";
    $("bulk-error").textContent = "";
    const confirm = $("bulk-confirm");
    confirm.hidden = count === 0;
    confirm.textContent = count === 1 ? `${verb} 1 job` : `${verb} ${count.toLocaleString()} jobs`;
    confirm.className = action === "delete" || action === "cancel" ? "danger" : "primary";
  }

  async runBulk() {
    if (!this.pending) return;
    const { action, count } = this.pending;
    const confirm = $("bulk-confirm");
    confirm.disabled = true;
    try {
      const response = await fetch(`/api/jobs/bulk/${action}`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ filter: this.bulkFilter(), expected_count: count }),
      });
      const data = await response.json().catch(() => ({}));
      if (response.status === 409 && typeof data.count === "number") {
        this.pending = { action, count: data.count };
        this.renderConfirm(true);
        return;
      }
      if (!response.ok) {
        $("bulk-error").textContent = data.error ?? `The daemon answered ${response.status}.`;
        return;
      }
      $("bulk-dialog").close();
      const done = data.done ?? 0;
      const message = `${done.toLocaleString()} ${done === 1 ? "job" : "jobs"} ${VERBS[action][1]}` +
        (data.failed ? ` (${data.failed} could not be: ${data.error})` : "");
      $("history-note").textContent = message;
      announce(message);
      this.first();
    } catch {
      $("bulk-error").textContent = "Cannot reach the daemon.";
    } finally {
      confirm.disabled = false;
    }
  }

  async bulk(action, body) {
    let response;
    try {
      response = await fetch(`/api/jobs/bulk/${action}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
    } catch {
      throw new Error("Cannot reach the daemon.");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error ?? `The daemon answered ${response.status}.`);
    return data.count;
  }
}
