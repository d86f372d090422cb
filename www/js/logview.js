// A job's log in the detail dialog. The stored lines come from REST, the live
// tail from the job's SSE stream (detail.js feeds `append`). However many lines
// arrive, the DOM is touched at most once per animation frame, and only the rows
// in view exist: the list is virtual, every line one row of the same height.
// Every piece of server text goes through textContent.
import { $, el } from "./dom.js";

/** Lines kept in the page; past it the oldest go (the full log stays a link away). */
export const MAX_LINES = 50_000;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 30;
/** How close to the bottom (px) still counts as "at the bottom". */
const SLACK = 4;
/** How each stream is told apart: a visible tag (and a colour, and a title). */
const STREAMS = {
  stdout: { tag: "out", title: "standard output" },
  stderr: { tag: "err", title: "standard error" },
  jobrunner: { tag: "jr", title: "JobRunner" },
};

/** Merges two lists sorted by seq into one, without duplicates. */
function merge(a, b) {
  const out = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i], y = b[j];
    if (y === undefined || (x !== undefined && x.seq < y.seq)) { out.push(x); i++; }
    else if (x === undefined || y.seq < x.seq) { out.push(y); j++; }
    else { out.push(x); i++; j++; }
  }
  return out;
}

/** Parses a `?format=jsonl` body; skips anything that is not a log line. */
export function parseJSONL(text) {
  const lines = [];
  for (const row of text.split("\n")) {
    if (!row) continue;
    try {
      const o = JSON.parse(row);
      if (typeof o.seq === "number" && typeof o.line === "string") lines.push(o);
    } catch { /* a partial row: ignore */ }
  }
  return lines;
}

export class LogView {
  constructor() {
    this.box = $("log");
    this.sizer = $("log-sizer");
    this.rowsBox = $("log-rows");
    this.latest = $("log-latest");
    this.jobId = null;
    this.generation = 0;
    this.lineHeight = 0;
    this.frame = 0;
    this.reset(null);
    this.autoTop = 0; // where this code last scrolled to while following
    this.box.addEventListener("scroll", () => {
      // Only the reader scrolling up stops following: not the scroll this code
      // made, nor a layout change that left the end a little further down.
      const up = this.box.scrollTop < this.autoTop - 1;
      const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight <= SLACK + (this.lineHeight / 2);
      if (this.following && !up) {
        this.schedule();
        return;
      }
      // Scrolling up stops following; scrolling back down to the end resumes it.
      if (atBottom !== this.following) {
        this.following = atBottom;
        this.renderLatest();
      }
      this.schedule();
    }, { passive: true });
    this.latest.addEventListener("click", () => {
      this.following = true;
      this.unseen = 0;
      this.schedule();
      this.box.focus({ preventScroll: true });
    });
  }

  /** Empties the view for job `id` (null: nothing). */
  reset(id) {
    this.jobId = id;
    this.generation += 1;
    this.lines = [];      // sorted by seq
    this.pending = [];    // arrived, not yet in `lines` (next frame)
    this.lastSeq = 0;     // newest seq in `lines` or `pending`
    this.dropped = 0;     // lines the daemon dropped before the first we have
    this.trimmed = 0;     // lines this page let go of (MAX_LINES)
    this.following = true;
    this.unseen = 0;      // lines that arrived while not following
    this.state = "loading";
    this.backfilling = null;
    this.backfillFrom = null;
    this.rendered = { first: -1, last: -1, count: -1 };
    this.rowsBox.replaceChildren();
    this.sizer.style.height = "0px";
    this.box.scrollTop = 0;
    this.autoTop = 0;
    this.renderNote();
    this.renderLatest();
  }

  /** Loads the stored log over REST; resolves to the newest seq (0 if none). */
  async load(id) {
    this.reset(id);
    const generation = this.generation;
    try {
      const response = await fetch(`/api/jobs/${id}/log?format=jsonl`);
      if (generation !== this.generation) return null;
      if (!response.ok) {
        this.state = response.status === 404 ? "gone" : "error";
        this.renderNote();
        return 0;
      }
      const lines = parseJSONL(await response.text());
      if (generation !== this.generation) return null;
      this.dropped = Number(response.headers.get("X-Log-Dropped") ?? 0) || 0;
      this.state = "ready";
      this.append(lines);
      return this.lastSeq;
    } catch {
      if (generation === this.generation) {
        this.state = "error";
        this.renderNote();
      }
      return 0;
    }
  }

  /** Lines from the stream (or REST); shown on the next frame. */
  append(lines) {
    for (const line of lines) {
      if (line.seq <= this.lastSeq) continue; // a replay after a reconnect
      this.pending.push(line);
      this.lastSeq = line.seq;
    }
    if (this.state === "loading" && lines.length) this.state = "ready";
    this.schedule();
  }

  /**
   * Reads the lines after `seq` from REST and merges them in: the SSE stream
   * can skip lines when this page reads too slowly, and the daemon says so only
   * by a jump in the event ids.
   */
  async backfill(seq) {
    if (this.jobId == null) return;
    this.backfillFrom = this.backfillFrom == null ? seq : Math.min(this.backfillFrom, seq);
    if (this.backfilling) return;
    const generation = this.generation;
    while (this.backfillFrom != null && generation === this.generation) {
      const from = this.backfillFrom;
      this.backfillFrom = null;
      this.backfilling = fetch(`/api/jobs/${this.jobId}/log?format=jsonl&after=${from}`)
        .then((r) => (r.ok ? r.text() : ""))
        .catch(() => "");
      const text = await this.backfilling;
      if (generation !== this.generation) return;
      const lines = parseJSONL(text);
      this.flushPending();
      const before = this.lines.length;
      this.lines = merge(this.lines, lines);
      if (this.lines.length) this.lastSeq = Math.max(this.lastSeq, this.lines[this.lines.length - 1].seq);
      if (!this.following) this.unseen += this.lines.length - before;
      this.trim();
      this.rendered.count = -1;
      this.schedule();
    }
    this.backfilling = null;
  }

  flushPending() {
    if (!this.pending.length) return 0;
    const n = this.pending.length;
    const last = this.lines[this.lines.length - 1];
    if (!last || last.seq < this.pending[0].seq) {
      for (const line of this.pending) this.lines.push(line);
    } else {
      this.lines = merge(this.lines, this.pending);
    }
    this.pending = [];
    this.trim();
    return n;
  }

  trim() {
    const over = this.lines.length - MAX_LINES;
    if (over > 0) {
      this.lines.splice(0, over);
      this.trimmed += over;
      // Keep what is in view in place when not following.
      if (!this.following) this.box.scrollTop = Math.max(0, this.box.scrollTop - over * this.lineHeight);
    }
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  /** One frame's work: take in what arrived, size the list, render the rows in view. */
  flush() {
    const added = this.flushPending();
    if (added && !this.following) this.unseen += added;
    if (added || this.rendered.count === -1) this.renderNote();
    this.render();
    this.renderLatest();
  }

  measure() {
    if (this.lineHeight) return this.lineHeight;
    const probe = el("div", { class: "ll" }, el("span", { class: "tag", text: "out" }), "0");
    this.rowsBox.append(probe);
    const h = probe.getBoundingClientRect().height;
    probe.remove();
    if (h > 0) this.lineHeight = h;
    return h || 20;
  }

  render() {
    const h = this.measure();
    const n = this.lines.length;
    this.sizer.style.height = `${n * h}px`;
    if (this.following) {
      this.box.scrollTop = this.box.scrollHeight;
      this.autoTop = this.box.scrollTop;
    }
    const view = this.box.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.box.scrollTop / h) - OVERSCAN);
    const last = Math.min(n, Math.ceil((this.box.scrollTop + view) / h) + OVERSCAN);
    const r = this.rendered;
    if (r.first === first && r.last === last && r.count === n) return;
    this.rendered = { first, last, count: n };
    this.rowsBox.style.transform = `translateY(${first * h}px)`;
    const rows = this.rowsBox.children;
    const wanted = last - first;
    while (rows.length > wanted) this.rowsBox.lastElementChild.remove();
    while (rows.length < wanted) {
      this.rowsBox.append(el("div", { class: "ll" }, el("span", { class: "tag" }), el("span", { class: "text" })));
    }
    for (let i = 0; i < wanted; i++) {
      const line = this.lines[first + i];
      const row = rows[i];
      if (row.seq === line.seq) continue;
      row.seq = line.seq;
      const stream = STREAMS[line.stream] ? line.stream : "jobrunner";
      if (row.stream !== stream) {
        row.stream = stream;
        row.className = `ll ${stream}`;
        row.firstChild.textContent = STREAMS[stream].tag;
        row.firstChild.title = STREAMS[stream].title;
      }
      row.dataset.seq = String(line.seq);
      row.lastChild.textContent = line.line;
    }
  }

  renderNote() {
    const parts = [];
    const n = this.lines.length + this.pending.length;
    if (this.state === "loading") parts.push("Loading the log…");
    else if (this.state === "gone") parts.push("This job's log is gone.");
    else if (this.state === "error") parts.push("Cannot load the log from the daemon.");
    else parts.push(n === 0 ? "No output yet." : `${n.toLocaleString()} ${n === 1 ? "line" : "lines"}`);
    $("log-count").textContent = parts.join(" ");
    const dropped = $("log-dropped");
    const earlier = [];
    if (this.dropped > 0) earlier.push(`${this.dropped.toLocaleString()} earlier ${this.dropped === 1 ? "line" : "lines"} dropped by the daemon (it keeps the newest part of each log)`);
    if (this.trimmed > 0) earlier.push(`${this.trimmed.toLocaleString()} earlier ${this.trimmed === 1 ? "line is" : "lines are"} not kept on this page (it keeps the newest ${MAX_LINES.toLocaleString()})`);
    dropped.hidden = earlier.length === 0;
    dropped.textContent = earlier.join("; ") + (earlier.length ? "." : "");
    const raw = $("log-raw");
    if (this.jobId != null) raw.href = `/api/jobs/${this.jobId}/log`;
    raw.hidden = this.jobId == null;
  }

  renderLatest() {
    const show = !this.following && this.lines.length > 0;
    this.latest.hidden = !show;
    this.latest.textContent = this.unseen > 0
      ? `Jump to latest (${this.unseen.toLocaleString()} new)` : "Jump to latest";
    if (this.following) this.unseen = 0;
  }
}
