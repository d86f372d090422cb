// JobRunner dashboard: one WebSocket keeps the page in step with the daemon.
import { $, announce } from "./dom.js";
import { Store } from "./store.js";
import { JobList } from "./list.js";
import { Charts } from "./charts.js";
import { JobForm } from "./forms.js";
import { JobDetail } from "./detail.js";
import { Pager } from "./pager.js";
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
const list = new JobList(store, { onOpen: (id) => detail.open(id), onCancel: cancel, onEnd: () => { renderMore(); pager.load(); } });
const detail = new JobDetail(store, { onCancel: cancel });
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

store.onChange((kind, job) => {
  if (kind === "missing") return void fetchMissing(job.id);
  if (kind === "reset") {
    form.setTypes(store.jobTypes);
    pager.reset();
    pager.prefetch();
  }
  if (kind === "reset" || kind === "paged" || kind === "cleared") renderMore();
  if (kind === "worker" || kind === "reset") charts.drawWorker();
  if (kind !== "progress" && kind !== "worker") renderCounts();
  if (job && (kind === "completed" || kind === "failed" || kind === "cancelled" || kind === "running")) {
    announce(`Job ${job.id} (${job.type}) ${kind}`);
  }
  if (kind !== "worker") list.schedule();
  detail.refresh(job);
});

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
window.jobrunner = { store, detail }; // for debugging from the console
