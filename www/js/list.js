// The queue as a virtual list: only the rows in view exist in the DOM, so ten
// thousand jobs scroll as smoothly as ten.
import { $, el, waitingText } from "./dom.js";
import { isFinished } from "./store.js";

const ROW_HEIGHT = 60;
const OVERSCAN = 6;

export class JobList {
  constructor(store, { onOpen, onCancel, onEnd }) {
    this.store = store;
    this.onOpen = onOpen;
    this.onCancel = onCancel;
    this.onEnd = onEnd; // the end of the loaded rows is in view
    this.container = $("list");
    this.spacer = $("list-spacer");
    this.rows = new Map(); // job id -> row element
    this.scheduled = false;
    this.container.addEventListener("scroll", () => this.schedule(), { passive: true });
    window.addEventListener("resize", () => this.schedule());
  }

  /** Renders on the next frame, however many changes arrive before it. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render() {
    const jobs = this.store.ordered();
    this.spacer.style.height = `${jobs.length * ROW_HEIGHT}px`;
    $("empty").hidden = this.store.jobs.size > 0;
    // With a truncated `queue_state` the counts know more jobs than are loaded.
    const counts = this.store.counts;
    const total = Math.max(this.store.jobs.size, this.store.truncated ?
      counts.pending + counts.running + counts.completed + counts.failed + counts.cancelled : 0);
    $("list-summary").textContent = total === 0 ? "" :
      `${jobs.length.toLocaleString()} of ${total.toLocaleString()} jobs shown`;
    const top = this.container.scrollTop;
    const height = this.container.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(jobs.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const keep = new Set();
    const focusedId = document.activeElement?.closest?.(".row")?.dataset.id;
    for (let i = first; i < last; i++) {
      const job = jobs[i];
      keep.add(job.id);
      let row = this.rows.get(job.id);
      if (!row) {
        row = this.makeRow(job);
        this.rows.set(job.id, row);
        this.container.append(row);
      }
      row.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
      row.setAttribute("aria-posinset", String(i + 1));
      row.setAttribute("aria-setsize", String(jobs.length));
      this.update(row, job);
    }
    for (const [id, row] of this.rows) {
      if (!keep.has(id) && String(id) !== focusedId) {
        row.remove();
        this.rows.delete(id);
      }
    }
    if (last >= jobs.length - OVERSCAN) this.onEnd?.();
  }

  makeRow(job) {
    const badge = el("span", { class: "badge" });
    const title = el("span", { class: "title" });
    const meta = el("span", { class: "meta" });
    const head = el("span", { class: "head" }, title, meta);
    const bar = el("div", { class: "bar" });
    // The button's label says the percentage: the bar is only drawn.
    const progress = el("div", { class: "progress", "aria-hidden": "true" }, bar);
    const message = el("span", { class: "message" });
    const open = el("button", { class: "open", type: "button", onclick: () => this.onOpen(job.id) }, badge, head, progress, message);
    const cancel = el("button", { type: "button", class: "danger cancel", text: "Cancel", onclick: () => this.onCancel(job.id) });
    const row = el("div", { class: "row", role: "listitem", "data-id": String(job.id) }, open, cancel);
    row.parts = { badge, title, meta, bar, progress, message, open, cancel };
    return row;
  }

  update(row, job) {
    const p = row.parts;
    if (row.status !== job.status) {
      row.status = job.status;
      p.badge.className = `badge ${job.status}`;
      p.badge.textContent = job.status;
      p.progress.className = `progress ${job.status}`;
      p.cancel.hidden = isFinished(job.status);
    }
    const title = `#${job.id} ${job.type}`;
    if (p.title.textContent !== title) p.title.textContent = title;
    const percent = job.progress?.percent ?? 0;
    if (row.percent !== percent) {
      row.percent = percent;
      p.bar.style.width = `${percent}%`;
    }
    const meta = jobMeta(job);
    if (p.meta.textContent !== meta) p.meta.textContent = meta;
    const text = job.status === "failed" ? `Failed: ${job.error ?? ""}` : (waitingText(job) ?? job.progress?.message ?? "");
    if (p.message.textContent !== text) p.message.textContent = text;
    p.open.setAttribute("aria-label", `Job ${job.id}, ${job.type}, ${job.status}${meta ? `, ${meta.replaceAll(" · ", ", ")}` : ""}, ${percent}%: ${text}. Show details`);
    p.cancel.setAttribute("aria-label", `Cancel job ${job.id}`);
  }
}

/** The short line beside a job's title: queue, priority and attempt, when they say something. */
export function jobMeta(job) {
  const parts = [];
  if (job.queue && job.queue !== "default") parts.push(`queue ${job.queue}`);
  if (job.priority) parts.push(`priority ${job.priority}`);
  if ((job.max_attempts ?? 1) > 1) parts.push(`attempt ${job.attempt ?? 1}/${job.max_attempts}`);
  if (job.schedule) parts.push(`schedule ${job.schedule}`);
  return parts.join(" · ");
}
