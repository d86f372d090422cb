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

  render() {
    const body = $("queues-body");
    const names = [...this.queues.keys()].sort();
    const focusedId = document.activeElement?.id;
    const rows = names.map((name) => this.row(this.queues.get(name)));
    body.replaceChildren(...rows);
    if (focusedId && !document.activeElement?.id) $(focusedId)?.focus();
  }

  row(q) {
    const key = q.name;
    const state = el("span", { class: `badge ${q.paused ? "paused" : "active"}`, text: q.paused ? "paused" : "active" });
    const counts = STATUSES.map((s) => el("td", { class: "num", "data-count": s, text: String(q.counts?.[s] ?? 0) }));
    const inputId = `queue-${key}-concurrency`;
    const input = el("input", {
      id: inputId, type: "number", min: "1", max: "10000", step: "1", inputMode: "numeric",
      value: q.concurrency == null ? "" : String(q.concurrency), placeholder: "no limit",
      "aria-label": `Concurrency of queue ${key} (empty: no limit)`,
    });
    // Keep what the operator is typing when a refresh redraws the row.
    const previous = $(inputId);
    if (previous && previous === document.activeElement) input.value = previous.value;
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
      type: "button", id: `queue-${key}-toggle`, class: q.paused ? "primary" : "",
      text: q.paused ? "Resume" : "Pause", "aria-label": `${q.paused ? "Resume" : "Pause"} queue ${key}`,
      onclick: () => this.change(key, { paused: !q.paused }, (r) => `Queue ${key} ${r.paused ? "paused" : "resumed"}`),
    });
    return el("tr", { "data-queue": key },
      el("th", { scope: "row", text: key }), el("td", {}, state), ...counts, el("td", {}, limit), el("td", {}, toggle));
  }
}
