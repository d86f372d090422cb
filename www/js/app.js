// JobRunner dashboard: one WebSocket keeps the page in step with the daemon.
import { $, announce } from "./dom.js";
import { Store } from "./store.js";
import { JobList } from "./list.js";
import { Charts } from "./charts.js";
import { JobForm } from "./forms.js";
import { JobDetail } from "./detail.js";
import { Pager } from "./pager.js";
import { QueuesView } from "./queues.js";
import { SchedulesView } from "./schedules.js";
import { HistoryView } from "./history.js";
import { NodesView } from "./nodes.js";
import { Session } from "./session.js";

const store = new Store();
const session = new Session();

async function cancel(id) {
  const response = await fetch(`/api/jobs/${id}`, { method: "DELETE" }).catch(() => null);
  if (!response) return announce("Cannot reach the daemon.");
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    announce(body.error ?? `Cancel failed (${response.status})`);
  }
}

const pager = new Pager(store, {
  onLoaded: () => { renderMore(); list.schedule(); },
  onError: () => announce("Cannot load more jobs from the daemon."),
});
const list = new JobList(store, { onOpen: (id) => navigate(`#/jobs/${id}`), onCancel: cancel, onEnd: () => { renderMore(); pager.load(); } });
const detail = new JobDetail(store, {
  onCancel: cancel,
  // Closing a job's dialog that a #/jobs/ID link opened goes back to the list
  // it was opened from (the live list, or the history page with its filters).
  onClose: () => { if (/^#\/jobs\/\d+$/.test(location.hash)) navigate(currentView === "history" ? history.hash : "#/"); },
});
const queues = new QueuesView();
const history = new HistoryView({ onNavigate: (hash) => navigate(hash) });
const schedules = new SchedulesView(store, { onNavigate: (hash) => navigate(hash) });
const nodes = new NodesView(store);
const charts = new Charts(store);
const form = new JobForm({ onCreated: (job) => announce(`Job ${job.id} (${job.type}) queued`) });

/** The note and button shown while jobs matching the filter are not loaded. */
function renderMore() {
  const more = pager.more();
  $("list-more").hidden = !more;
  $("load-more").hidden = !more;
}

/** Reads a job an event named that `queue_state` left out. */
async function fetchMissing(id) {
  const response = await fetch(`/api/jobs/${id}`).catch(() => null);
  if (response?.ok) store.addFromServer([await response.json()]);
}

function renderCounts() {
  for (const [status, n] of Object.entries(store.counts)) $(`count-${status}`).textContent = n.toLocaleString();
}

store.onChange((kind, job, data) => {
  if (kind === "missing") return void fetchMissing(job.id);
  if (kind === "pruned") { history.reload(); return void socket?.send(JSON.stringify({ type: "get_state" })); }
  if (kind === "queue") return void queues.updated(data);
  if (kind === "schedule" || kind === "schedules") return void schedules.render();
  if (kind === "retrying" || kind === "retried") announce(`Job ${job.id} (${job.type}) ${kind === "retried" ? "retried" : `failed, attempt ${job.attempt} of ${job.max_attempts} waits`}`);
  if (kind !== "progress" && kind !== "worker") { queues.refresh(); schedules.render(); }
  if (kind === "reset") {
    form.setTypes(store.jobTypes);
    history.setTypes(store.jobTypes);
    pager.reset();
    pager.prefetch();
    schedules.load();
    queues.refresh();
    nodes.load(); // decides whether the Nodes tab shows
    store.ready = true;
    route();
    if (detail.dialog.open) detail.render();
  }
  if (kind === "reset" || kind === "paged" || kind === "cleared") renderMore();
  if (kind === "created" && $("tab-nodes").hidden) nodes.updateTab();
  if (kind === "worker" || kind === "reset") charts.drawWorker();
  if (kind !== "progress" && kind !== "worker") renderCounts();
  if (job && (kind === "completed" || kind === "failed" || kind === "cancelled" || kind === "running")) {
    announce(`Job ${job.id} (${job.type}) ${kind}`);
  }
  if (kind !== "worker") list.schedule();
  detail.refresh(job, kind);
});

// --- Views: #/ (jobs), #/jobs/ID, #/history?FILTERS, #/queues, #/schedules, #/schedules/new,
// #/schedules/NAME, #/schedules/NAME/edit, #/nodes ----------------------------

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseRoute(hash) {
  const path = hash.replace(/^#/, "");
  let m;
  if (path === "/queues") return { view: "queues" };
  if (path === "/nodes") return { view: "nodes" };
  if ((m = path.match(/^\/history(?:\?(.*))?$/))) return { view: "history", params: new URLSearchParams(m[1] ?? "") };
  if (path === "/schedules") return { view: "schedules" };
  if (path === "/schedules/new") return { view: "schedules", create: true };
  if ((m = path.match(/^\/schedules\/([^/]+)\/edit$/))) return { view: "schedules", name: decodeURIComponent(m[1]), edit: true };
  if ((m = path.match(/^\/schedules\/([^/]+)$/))) return { view: "schedules", name: decodeURIComponent(m[1]) };
  // A job opened from the history stays over the history page.
  if ((m = path.match(/^\/jobs\/(\d+)$/))) return { view: currentView === "history" ? "history" : "jobs", job: Number(m[1]) };
  return { view: "jobs" };
}

let currentView = null;
let routed = false;

function route() {
  // In-page anchors (the skip link) are not routes.
  if (location.hash && !location.hash.startsWith("#/")) return;
  const r = parseRoute(location.hash);
  const changed = currentView !== r.view;
  currentView = r.view;
  for (const name of ["jobs", "history", "queues", "schedules", "nodes"]) {
    $(`view-${name}`).hidden = name !== r.view;
    const tab = $(`tab-${name}`);
    if (name === r.view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (r.view === "queues") queues.show(); else queues.hide();
  if (r.view === "nodes") nodes.show(); else nodes.hide();
  if (r.view === "history") { if (r.params) history.show(r.params); history.loadQueues(); } else history.hide();
  // The schedule form needs the job types: it opens once `queue_state` is in.
  if (r.view === "schedules") { if (store.ready) schedules.show(r); } else schedules.hide();
  if (r.view === "jobs") list.schedule();
  if (r.view === "jobs" || r.view === "history") {
    if (r.job && !store.ready) {
      // Opened once the first `queue_state` is in (the reset re-routes).
    } else if (r.job && detail.jobId !== r.job) {
      if (store.jobs.has(r.job)) detail.open(r.job);
      else fetchMissing(r.job).then(() => detail.open(r.job));
    } else if (!r.job && detail.dialog.open) detail.dialog.close();
  } else if (detail.dialog.open) {
    detail.dialog.close();
  }
  // Moving between views puts focus on the new view's heading (not on the first load).
  if (changed && routed && !r.job && !r.create && !r.edit) $(`${r.view === "jobs" ? "queue" : r.view}-title`)?.focus();
  routed = true;
}

window.addEventListener("hashchange", route);
route();

// Countdowns and relative times move once a second.
setInterval(() => {
  if (currentView === "jobs") {
    store.orderDirty = true;
    list.schedule();
    detail.tick();
  }
  schedules.tick();
}, 1000);

$("filter-status").addEventListener("change", (e) => { store.setFilter({ status: e.target.value }); renderMore(); list.schedule(); });
$("filter-type").addEventListener("change", (e) => { store.setFilter({ type: e.target.value }); renderMore(); list.schedule(); });
$("load-more").addEventListener("click", () => pager.load());
$("clear-finished").addEventListener("click", async () => {
  const r = await fetch("/api/jobs/clear-completed", { method: "POST" }).catch(() => null);
  if (r?.ok) announce(`Cleared ${(await r.json()).cleared} finished jobs`);
});

// --- The WebSocket, with reconnect and a full resync after it ---------------

let socket = null;
let attempt = 0;
let retryTimer = null;

function setConnection(state, text) {
  const box = $("connection");
  box.className = `connection ${state}`;
  $("connection-text").textContent = text;
}

async function connect() {
  clearTimeout(retryTimer);
  await session.ensure(); // signs in first when the daemon asks for a token
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/queue`);
  socket = ws;
  setConnection(attempt ? "reconnecting" : "offline", attempt ? "Reconnecting…" : "Connecting…");
  ws.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message.type === "queue_state") {
      attempt = 0;
      setConnection("live", "Live");
      store.reset(message);
    } else if (message.type === "ping") {
      ws.send(JSON.stringify({ type: "pong", ts: message.ts }));
    } else {
      store.apply(message);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    attempt += 1;
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... up to 10 s.
    const delay = Math.min(10_000, 500 * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
    setConnection("reconnecting", `Reconnecting in ${Math.ceil(delay / 1000)} s`);
    retryTimer = setTimeout(connect, delay);
  };
  ws.onerror = () => {}; // onclose follows and schedules the retry
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && socket?.readyState === WebSocket.CLOSED) connect();
});

connect();
window.jobrunner = { store, detail, nodes }; // for debugging from the console
