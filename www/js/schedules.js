// The schedules view: the list (next run in local time and relative, the last
// run's outcome, pause/resume, run now, delete) and the create/edit form, which
// builds its params from the job type's schema like the "New job" form and
// shows the daemon's reading of the cron expression (GET /api/cron) as you type.
import { $, announce, api, el, formatDateTime, formatRelative } from "./dom.js";
import { ParamFields, collectOptions, optionFields } from "./forms.js";

const SCHEDULE_OPTIONS = ["queue", "priority", "max_attempts", "timeout"];

export class SchedulesView {
  constructor(store, { onNavigate }) {
    this.store = store;
    this.navigate = onNavigate;
    this.visible = false;
    this.editing = null; // the name being edited, "" for a new one, null: no form
    this.fields = new ParamFields("sparam", $("s-fields"));
    this.previewSeq = 0;
    this.previewTimer = null;
    this.highlight = null;
    $("s-option-fields").replaceChildren(...optionFields("sopt", SCHEDULE_OPTIONS));
    $("s-type").addEventListener("change", () => this.chooseType($("s-type").value));
    $("s-cron").addEventListener("input", () => this.schedulePreview());
    $("s-timezone").addEventListener("input", () => this.schedulePreview());
    $("schedule-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(); });
    try {
      const zones = Intl.supportedValuesOf?.("timeZone") ?? [];
      $("timezones").replaceChildren(...["UTC", ...zones].map((z) => el("option", { value: z })));
    } catch { /* an old browser: the input still takes any name */ }
  }

  async load() {
    try {
      this.store.setSchedules(await api("/api/schedules"));
      this.showError(null);
    } catch (e) {
      this.showError(e.message);
    }
  }

  /** route: {name?, edit?, create?} */
  show(route = {}) {
    this.visible = true;
    this.highlight = route.name && !route.edit ? route.name : null;
    this.load();
    if (route.create) this.openForm(null);
    else if (route.edit) this.openForm(route.name);
    else this.closeForm();
    this.render();
  }

  hide() {
    this.visible = false;
    this.closeForm();
  }

  showError(message) {
    const box = $("schedules-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  /** Once a second, and on every change: the relative times move. */
  tick() { if (this.visible) this.render(); }

  render() {
    if (!this.visible) return;
    const list = [...this.store.schedules.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    $("schedules-empty").hidden = list.length > 0;
    $("schedules-table").hidden = list.length === 0;
    const body = $("schedules-body");
    const focusedId = document.activeElement?.id;
    const rows = new Map([...body.children].map((r) => [r.dataset.schedule, r]));
    const wanted = list.map((s) => {
      const row = rows.get(s.name) ?? el("tr", { "data-schedule": s.name });
      const sig = JSON.stringify(s) + "|" + this.outcome(s) + "|" + (this.highlight === s.name);
      if (row.sig !== sig) {
        row.sig = sig;
        this.fill(row, s);
      }
      this.fillTimes(row, s);
      return row;
    });
    // Only move rows when the set or the order changed, so focus stays put.
    if (wanted.length !== body.children.length || wanted.some((r, i) => body.children[i] !== r)) body.replaceChildren(...wanted);
    if (focusedId && document.activeElement === document.body) $(focusedId)?.focus();
  }

  /** What the last job a schedule made did, from the store (the WebSocket keeps it current). */
  outcome(s) {
    if (s.last_job_id == null) return "";
    const job = this.store.jobs.get(s.last_job_id);
    if (!job) {
      this.fetchJob(s.last_job_id);
      return "";
    }
    return job.status;
  }

  async fetchJob(id) {
    this.fetching ??= new Set();
    if (this.fetching.has(id)) return;
    this.fetching.add(id);
    try { this.store.addFromServer([await api(`/api/jobs/${id}`)]); } catch { /* cleared or pruned */ }
  }

  /** A schedule known only from a broadcast has no `description`: read it over REST. */
  async describe(s) {
    this.describing ??= new Set();
    const key = `${s.name}\n${s.cron}\n${s.timezone}`;
    if (this.describing.has(key)) return;
    this.describing.add(key);
    try {
      const full = await api(`/api/schedules/${encodeURIComponent(s.name)}`);
      if (this.store.schedules.has(full.name)) this.store.apply({ type: "schedule_updated", data: full });
    } catch { /* deleted meanwhile */ }
  }

  fill(row, s) {
    const key = s.name;
    if (s.description == null) this.describe(s);
    row.className = this.highlight === key ? "highlight" : "";
    const name = el("th", { scope: "row" }, el("div", { class: "strong", text: key }),
      el("div", { class: "mono small", text: `${s.cron} · ${s.timezone}` }),
      el("div", { class: "muted small", text: s.description ?? "" }));
    const job = el("td", {}, el("div", { text: s.job_type }),
      s.options?.queue ? el("div", { class: "muted small", text: `queue ${s.options.queue}` }) : null);
    const next = el("td", { class: "next" });
    const status = this.outcome(s);
    const last = el("td", { class: "last" });
    if (s.last_job_id != null) {
      last.append(el("a", { href: `#/jobs/${s.last_job_id}`, text: `Job #${s.last_job_id}`, "aria-label": `Job ${s.last_job_id}, ${status || "status unknown"}` }), " ");
      if (status) last.append(el("span", { class: `badge ${status}`, text: status }));
      last.append(el("div", { class: "muted small when" }));
    } else {
      last.append(el("span", { class: "muted", text: "never" }));
    }
    const state = el("td", {}, el("span", { class: `badge ${s.paused ? "paused" : "active"}`, text: s.paused ? "paused" : "active" }));
    const actions = el("td", { class: "actions" },
      el("button", {
        type: "button", id: `schedule-${key}-toggle`, text: s.paused ? "Resume" : "Pause",
        "aria-label": `${s.paused ? "Resume" : "Pause"} schedule ${key}`,
        onclick: () => this.act(key, s.paused ? "resume" : "pause", (r) => `Schedule ${key} ${r.paused ? "paused" : "resumed"}`),
      }),
      el("button", {
        type: "button", id: `schedule-${key}-run`, text: "Run now", "aria-label": `Run schedule ${key} now`,
        onclick: () => this.act(key, "run", (j) => `Schedule ${key} made job ${j.id}`),
      }),
      el("a", { href: `#/schedules/${encodeURIComponent(key)}/edit`, id: `schedule-${key}-edit`, class: "button", text: "Edit", "aria-label": `Edit schedule ${key}` }),
      el("button", {
        type: "button", id: `schedule-${key}-delete`, class: "danger", text: "Delete", "aria-label": `Delete schedule ${key}`,
        onclick: () => this.remove(key),
      }));
    row.replaceChildren(name, job, next, last, state, actions);
  }

  fillTimes(row, s) {
    const next = row.querySelector(".next");
    const text = s.paused ? "paused" : s.next_run_at == null ? "—" : `${formatDateTime(s.next_run_at)} (${formatRelative(s.next_run_at)})`;
    if (next && next.textContent !== text) next.textContent = text;
    const when = row.querySelector(".last .when");
    const lastText = s.last_run_at == null ? "" : `${formatDateTime(s.last_run_at)} (${formatRelative(s.last_run_at)})`;
    if (when && when.textContent !== lastText) when.textContent = lastText;
  }

  async act(name, action, done) {
    try {
      const result = await api(`/api/schedules/${encodeURIComponent(name)}/${action}`, { method: "POST" });
      if (action !== "run") this.store.apply({ type: "schedule_updated", data: result });
      else this.store.addFromServer([result]);
      this.showError(null);
      announce(done(result));
    } catch (e) {
      this.showError(e.message);
    }
  }

  async remove(name) {
    if (!window.confirm(`Delete schedule ${name}? The jobs it made stay.`)) return;
    try {
      await api(`/api/schedules/${encodeURIComponent(name)}`, { method: "DELETE" });
      this.store.apply({ type: "schedule_deleted", data: { name } });
      this.showError(null);
      announce(`Schedule ${name} deleted`);
      $("schedules-title").focus();
    } catch (e) {
      this.showError(e.message);
    }
  }

  // --- The form ---------------------------------------------------------------

  async openForm(name) {
    const form = $("schedule-form");
    this.editing = name ?? "";
    let s = null;
    if (name) {
      try {
        s = await api(`/api/schedules/${encodeURIComponent(name)}`);
      } catch (e) {
        this.showError(e.message);
        return;
      }
    }
    const types = this.store.jobTypes;
    $("s-type").replaceChildren(...types.map((t) => el("option", { value: t.name, text: t.name })));
    $("schedule-form-title").textContent = name ? `Edit schedule ${name}` : "New schedule";
    $("schedule-save").textContent = name ? "Save schedule" : "Create schedule";
    $("s-name").value = s?.name ?? "";
    $("s-name").readOnly = Boolean(name);
    $("s-cron").value = s?.cron ?? "";
    $("s-timezone").value = s?.timezone ?? (Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
    $("s-overlap").value = s?.overlap ?? "skip";
    $("s-catch-up").value = s?.catch_up ?? "none";
    $("s-paused").checked = s?.paused === true;
    for (const opt of SCHEDULE_OPTIONS) {
      const input = $(`sopt-${opt}`);
      input.value = s?.options?.[opt] == null ? "" : String(s.options[opt]);
      input.setAttribute("aria-invalid", "false");
      $(`sopt-${opt}-error`).textContent = "";
    }
    $("s-type").value = s?.job_type ?? types[0]?.name ?? "";
    this.chooseType($("s-type").value, s?.params);
    this.formError(null);
    form.hidden = false;
    this.preview();
    (name ? $("s-cron") : $("s-name")).focus();
  }

  closeForm() {
    this.editing = null;
    $("schedule-form").hidden = true;
  }

  chooseType(name, values = null) {
    const type = this.store.jobTypes.find((t) => t.name === name);
    $("s-type-hint").textContent = type?.description ?? "";
    this.fields.show(type, values);
  }

  formError(message) {
    const box = $("schedule-form-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  schedulePreview() {
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.preview(), 250);
  }

  /** The daemon's reading of the expression and its next three runs. */
  async preview() {
    const cron = $("s-cron").value.trim();
    const zone = $("s-timezone").value.trim() || "UTC";
    const box = $("cron-preview");
    const seq = ++this.previewSeq;
    if (!cron) {
      box.className = "cron-preview";
      box.replaceChildren();
      return;
    }
    let body, ok;
    try {
      const response = await fetch(`/api/cron?cron=${encodeURIComponent(cron)}&timezone=${encodeURIComponent(zone)}`);
      ok = response.ok;
      body = await response.json().catch(() => ({}));
    } catch {
      ok = false;
      body = { error: "Cannot reach the daemon." };
    }
    if (seq !== this.previewSeq) return;
    if (!ok) {
      box.className = "cron-preview bad";
      box.replaceChildren(el("span", { text: body.error ?? "Invalid expression" }));
      $("s-cron").setAttribute("aria-invalid", "true");
      return;
    }
    $("s-cron").setAttribute("aria-invalid", "false");
    box.className = "cron-preview good";
    box.replaceChildren(
      el("div", { class: "reading", text: `Runs ${body.description}` }),
      el("div", { class: "muted small", text: "Next runs (your local time):" }),
      el("ul", {}, ...(body.next ?? []).map((t) => el("li", { text: `${formatDateTime(t)} (${formatRelative(t)})` }))));
  }

  async save() {
    const [params, badParam] = this.fields.collect();
    const [options, badOption] = collectOptions("sopt", SCHEDULE_OPTIONS);
    const name = $("s-name").value.trim();
    if (badParam || badOption) {
      this.formError("Fix the highlighted field.");
      (badParam ?? badOption).focus();
      return;
    }
    const body = {
      cron: $("s-cron").value.trim(), timezone: $("s-timezone").value.trim() || "UTC",
      job_type: $("s-type").value, params, options,
      overlap: $("s-overlap").value, catch_up: $("s-catch-up").value, paused: $("s-paused").checked,
    };
    const editing = this.editing;
    const button = $("schedule-save");
    button.disabled = true;
    try {
      const saved = editing
        ? await api(`/api/schedules/${encodeURIComponent(editing)}`, { method: "PUT", body })
        : await api("/api/schedules", { method: "POST", body: { name, ...body } });
      this.store.apply({ type: "schedule_updated", data: saved });
      announce(`Schedule ${saved.name} ${editing ? "saved" : "created"}`);
      this.navigate(`#/schedules/${encodeURIComponent(saved.name)}`);
    } catch (e) {
      this.formError(e.message);
    } finally {
      button.disabled = false;
    }
  }
}
