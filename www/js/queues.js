// The queues view: every named queue with its counts, pause/resume and its
// concurrency limit. Read over REST; `queue_updated` and job events refresh it.
import { $, announce, api, el } from "./dom.js";

const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];

export class QueuesView {
  constructor() {
    this.queues = new Map();
    this.visible = false;
    this.timer = null;
    this.loading = null;
  }

  show() {
    this.visible = true;
    this.load();
  }

  hide() { this.visible = false; }

  /** Reads the queues again, at most a few times a second. */
  refresh() {
    if (!this.visible || this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.load(); }, 300);
  }

  async load() {
    try {
      const list = await api("/api/queues");
      this.queues = new Map(list.map((q) => [q.name, q]));
      this.showError(null);
      this.render();
    } catch (e) {
      this.showError(e.message);
    }
  }

  /** A `queue_updated` broadcast: the settings change at once, counts on the next read. */
  updated(d) {
    const q = this.queues.get(d.name) ?? { name: d.name, counts: {} };
    this.queues.set(d.name, { ...q, paused: d.paused, concurrency: d.concurrency });
    if (this.visible) this.render();
    this.refresh();
  }

  showError(message) {
    const box = $("queues-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  async change(name, body, done) {
    try {
      const q = await api(`/api/queues/${encodeURIComponent(name)}`, { method: "PUT", body });
      this.updated(q);
      this.showError(null);
      announce(done(q));
    } catch (e) {
      this.showError(e.message);
    }
  }

  /**
   * Shows the queues. Rows are kept and updated in place: a redraw (a refresh
   * lands every few hundred milliseconds while jobs move) never replaces the
   * button or field under the operator's pointer, so no click or typing is lost.
   */
  render() {
    const body = $("queues-body");
    const names = [...this.queues.keys()].sort();
    this.rows ??= new Map();
    for (const [name, row] of this.rows) if (!this.queues.has(name)) { row.tr.remove(); this.rows.delete(name); }
    const trs = names.map((name) => {
      let row = this.rows.get(name);
      if (!row) { row = this.row(name); this.rows.set(name, row); }
      this.fill(row, this.queues.get(name));
      return row.tr;
    });
    // Rows move only when the order changed (a new queue): moving a row would
    // end a click on it as surely as replacing it.
    const current = [...body.children];
    if (current.length !== trs.length || current.some((tr, i) => tr !== trs[i])) body.replaceChildren(...trs);
  }

  /** The row of one queue, its parts kept to update them in place. */
  row(key) {
    const badge = el("span", { class: "badge" });
    const counts = STATUSES.map((s) => el("td", { class: "num", "data-count": s }));
    const inputId = `queue-${key}-concurrency`;
    const input = el("input", {
      id: inputId, type: "number", min: "1", max: "10000", step: "1", inputMode: "numeric", placeholder: "no limit",
      "aria-label": `Concurrency of queue ${key} (empty: no limit)`,
    });
    const save = el("button", {
      type: "submit", id: `queue-${key}-save`, text: "Set", "aria-label": `Set the concurrency of queue ${key}`,
    });
    const limit = el("form", {
      class: "inline", noValidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        const text = input.value.trim();
        const value = text === "" ? null : /^\d+$/.test(text) ? Number(text) : text;
        if (input.validity.badInput || (value !== null && !(Number.isInteger(value) && value >= 1 && value <= 10000))) {
          this.showError("Invalid 'concurrency' field: must be an integer from 1 to 10000, or null");
          input.focus();
          return;
        }
        this.change(key, { concurrency: value },
          (r) => `Queue ${key}: ${r.concurrency == null ? "no concurrency limit" : `at most ${r.concurrency} at once`}`);
      },
    }, input, save);
    const toggle = el("button", {
      type: "button", id: `queue-${key}-toggle`,
      onclick: () => {
        const paused = !this.queues.get(key)?.paused;
        this.change(key, { paused }, (r) => `Queue ${key} ${r.paused ? "paused" : "resumed"}`);
      },
    });
    const tr = el("tr", { "data-queue": key },
      el("th", { scope: "row", text: key }), el("td", {}, badge), ...counts, el("td", {}, limit), el("td", {}, toggle));
    return { tr, badge, counts, input, toggle };
  }

  /** Puts a queue's settings and counts into its row. */
  fill(row, q) {
    row.badge.className = `badge ${q.paused ? "paused" : "active"}`;
    row.badge.textContent = q.paused ? "paused" : "active";
    STATUSES.forEach((s, i) => { row.counts[i].textContent = String(q.counts?.[s] ?? 0); });
    // The field follows the settings, except while the operator is typing in it.
    if (row.input !== document.activeElement) row.input.value = q.concurrency == null ? "" : String(q.concurrency);
    row.toggle.className = q.paused ? "primary" : "";
    row.toggle.textContent = q.paused ? "Resume" : "Pause";
    row.toggle.setAttribute("aria-label", `${q.paused ? "Resume" : "Pause"} queue ${q.name}`);
  }
}
