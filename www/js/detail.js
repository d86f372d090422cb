// The job detail dialog: everything about one job, with live progress and the
// log's live tail over its SSE stream (EventSource resumes with Last-Event-ID
// after a drop). The stored log comes from REST first; the stream then starts
// after its newest line.
import { $, api, el, formatDateTime, formatDuration, formatRelative, formatTime, prettyJSON, waitingText } from "./dom.js";
import { LogView } from "./logview.js";
import { isFinished } from "./store.js";

export class JobDetail {
  constructor(store, { onCancel, onClose }) {
    this.store = store;
    this.dialog = $("detail");
    this.jobId = null;
    this.source = null;
    this.log = new LogView();
    this.opening = 0;
    this.dialog.addEventListener("close", () => {
      this.stop();
      this.log.reset(null);
      this.jobId = null;
      onClose?.();
    });
    $("detail-retry").addEventListener("click", () => this.retry());
    $("detail-cancel").addEventListener("click", () => this.jobId && onCancel(this.jobId));
  }

  async retry() {
    const id = this.jobId;
    if (!id) return;
    $("detail-action-error").textContent = "";
    $("detail-retry").disabled = true;
    try {
      const job = await api(`/api/jobs/${id}/retry`, { method: "POST" });
      // The WebSocket's `job_retried` normally came first; the answer is as good.
      if (this.store.jobs.get(id)?.status !== "pending" && job.status === "pending") {
        this.store.apply({ type: "job_retried", data: job });
      }
    } catch (e) {
      $("detail-action-error").textContent = e.message;
    } finally {
      $("detail-retry").disabled = false;
    }
  }

  async open(id) {
    this.stop();
    $("detail-action-error").textContent = "";
    this.jobId = id;
    const opening = ++this.opening;
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
    const known = this.store.jobs.get(id);
    // A job that ends while its log loads still gets its last lines from the stream.
    const live = known && !isFinished(known.status);
    const after = await this.log.load(id);
    if (opening !== this.opening || after == null || !this.dialog.open) return;
    if (live) this.follow(id, after);
  }

  follow(id, after) {
    const source = new EventSource(`/api/jobs/${id}/progress?after=${after}`);
    this.source = source;
    $("detail-live").textContent = "· live";
    // Event ids are the job's event sequence: a jump means the daemon skipped
    // something (progress it coalesced, or log lines) for a slow reader.
    let lastId = null;
    const noteId = (e) => {
      const seq = Number(e.lastEventId);
      if (!e.lastEventId || !Number.isFinite(seq)) return;
      if (lastId != null && seq > lastId + 1) this.log.backfill(lastId);
      if (lastId == null || seq > lastId) lastId = seq;
    };
    const live = (data) => {
      const job = this.store.jobs.get(id);
      if (job && data && !isFinished(job.status)) job.progress = { percent: data.percent, message: data.message };
      this.render();
    };
    source.addEventListener("status", (e) => {
      lastId = null; // after a (re)connect the replay starts wherever the daemon resumed
      const s = JSON.parse(e.data);
      const job = this.store.jobs.get(id);
      if (job && !isFinished(job.status)) {
        job.progress = s.progress;
        job.started_at = s.started_at;
      }
      this.render();
    });
    source.addEventListener("progress", (e) => {
      noteId(e);
      live(JSON.parse(e.data));
    });
    source.addEventListener("log", (e) => {
      noteId(e);
      let line;
      try { line = JSON.parse(e.data); } catch { return; }
      this.log.append([line]);
    });
    for (const name of ["complete", "failed", "cancelled"]) {
      source.addEventListener(name, (e) => {
        noteId(e);
        source.close();
        if (this.source === source) {
          this.source = null;
          $("detail-live").textContent = "";
        }
        // The WebSocket carries the same ending; render whatever the store has.
        setTimeout(() => this.render(), 50);
      });
    }
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && this.source === source) $("detail-live").textContent = "";
      else $("detail-live").textContent = "· reconnecting";
    };
    source.onopen = () => { $("detail-live").textContent = "· live"; };
  }

  stop() {
    this.source?.close();
    this.source = null;
    $("detail-live").textContent = "";
  }

  /** Called on every store change; cheap when the dialog is closed. */
  refresh(job, kind) {
    if (!(this.dialog.open && job && job.id === this.jobId)) return;
    // A finished job put back: its log goes on, so follow it again.
    if (kind === "retried" && !this.source) this.open(job.id);
    else this.render();
  }

  /** Once a second: the countdown of a waiting job. */
  tick() {
    if (this.dialog.open && this.jobId) this.renderWaiting(this.store.jobs.get(this.jobId));
  }

  renderWaiting(job) {
    const text = job ? waitingText(job) : null;
    const box = $("detail-waiting");
    box.hidden = !text;
    const full = text ? `${text} (at ${formatTime(job.run_at)})` : "";
    if (box.textContent !== full) box.textContent = full;
  }

  render() {
    const job = this.store.jobs.get(this.jobId);
    if (!job) {
      $("detail-title").textContent = `Job #${this.jobId} is gone (cleared)`;
      return;
    }
    $("detail-title").textContent = `Job #${job.id} · ${job.type}`;
    const status = $("detail-status");
    status.className = `badge ${job.status}`;
    status.textContent = job.status;
    const percent = job.progress?.percent ?? 0;
    const bar = $("detail-progress");
    bar.className = `progress large ${job.status}`;
    bar.setAttribute("aria-valuenow", String(percent));
    bar.firstElementChild.style.width = `${percent}%`;
    $("detail-message").textContent = `${percent}% · ${job.progress?.message ?? ""}`;
    const now = Date.now() / 1000;
    const waited = (job.started_at ?? (isFinished(job.status) ? job.completed_at : now)) - job.created_at;
    const ran = job.started_at ? (job.completed_at ?? now) - job.started_at : null;
    const rows = [
      ["Created", formatTime(job.created_at)],
      ["Started", formatTime(job.started_at)],
      ["Finished", formatTime(job.completed_at)],
      ["Waited", formatDuration(waited)],
      ["Ran", formatDuration(ran)],
      ["Queue", job.queue ?? "default"],
      ["Priority", String(job.priority ?? 0)],
      ["Attempt", `${job.attempt ?? 1} of ${job.max_attempts ?? 1}`],
      ["Timeout", job.timeout == null ? "none" : formatDuration(job.timeout)],
    ];
    if (job.run_at != null) rows.push(["Run at", formatDateTime(job.run_at)]);
    if (job.schedule) rows.push(["Schedule", job.schedule]);
    // Several nodes on PostgreSQL: the node that runs (or ran) it.
    if (job.node) rows.push(["Node", job.node]);
    $("detail-fields").replaceChildren(...rows.map(([k, v]) => el("div", {}, el("dt", { text: k }),
      k === "Schedule" ? el("dd", {}, el("a", { href: `#/schedules/${encodeURIComponent(v)}`, text: v })) : el("dd", { text: v }))));
    this.renderWaiting(job);
    const errors = job.errors ?? [];
    $("detail-errors-box").hidden = errors.length === 0;
    $("detail-errors").replaceChildren(...errors.map((e) => el("li", {},
      el("span", { class: "attempt", text: `Attempt ${e.attempt}` }), " ",
      el("span", { class: "muted small", text: `${formatTime(e.at)} (${formatRelative(e.at)})` }),
      el("div", { class: "attempt-error", text: e.error }))));
    $("detail-params").textContent = prettyJSON(job.params);
    $("detail-result-box").hidden = job.result == null;
    $("detail-result").textContent = job.result == null ? "" : prettyJSON(job.result);
    $("detail-error-box").hidden = !job.error;
    $("detail-error").textContent = job.error ?? "";
    $("detail-cancel").hidden = isFinished(job.status);
    $("detail-retry").hidden = !(job.status === "failed" || job.status === "cancelled");
  }
}
