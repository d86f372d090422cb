// The nodes view: every jobrunnerd sharing this daemon's database
// (GET /api/nodes), read every few seconds while the view is open. The tab shows
// only when there is more than this one node or the store is PostgreSQL (its
// jobs carry a `node` field); a lone SQLite or in-memory daemon hides it.
import { $, api, el, formatDateTime, formatRelative } from "./dom.js";

const REFRESH_MS = 3000;

export class NodesView {
  constructor(store) {
    this.store = store;
    this.nodes = [];
    this.visible = false;
    this.timer = null;
    this.loadedAt = null;
  }

  show() {
    this.visible = true;
    this.load();
  }

  hide() {
    this.visible = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Reads the nodes; while the view is open, again every few seconds. */
  async load() {
    clearTimeout(this.timer);
    this.timer = null;
    try {
      this.nodes = await api("/api/nodes");
      this.loadedAt = Date.now() / 1000;
      this.showError(null);
      this.updateTab();
      if (this.visible) this.render();
    } catch (e) {
      if (this.visible) this.showError(e.message);
    }
    if (this.visible) this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }

  /** Called when the job list changes: a job with a `node` field means PostgreSQL. */
  updateTab() {
    const clustered = this.nodes.length > 1 || this.nodes.some((n) => !n.self)
      || [...this.store.jobs.values()].some((job) => job.node != null);
    $("tab-nodes").hidden = !clustered;
  }

  showError(message) {
    const box = $("nodes-error");
    box.hidden = !message;
    box.textContent = message ?? "";
  }

  render() {
    const alive = this.nodes.filter((n) => n.alive).length;
    const leader = this.nodes.find((n) => n.leader);
    $("nodes-summary").textContent = this.nodes.length === 0 ? "" :
      `${this.nodes.length} ${this.nodes.length === 1 ? "node" : "nodes"}, ${alive} alive` +
      (leader ? `; ${leader.id} leads` : "; no leader at the moment");
    $("nodes-body").replaceChildren(...this.nodes.map((n) => this.row(n)));
  }

  row(n) {
    const name = el("th", { scope: "row" }, el("span", { class: "mono", text: n.id }));
    if (n.self) name.append(" ", el("span", { class: "marker", text: "this node" }));
    const role = n.leader ? el("span", { class: "badge leader", text: "leader" }) : el("span", { class: "muted", text: "—" });
    const state = el("span", { class: `badge ${n.alive ? "alive" : "silent"}`, text: n.alive ? "alive" : "silent" });
    const heartbeat = el("time", { dateTime: new Date(n.heartbeat_at * 1000).toISOString(), text: formatRelative(n.heartbeat_at) });
    heartbeat.title = formatDateTime(n.heartbeat_at);
    return el("tr", { "data-node": n.id, class: n.alive ? "" : "silent-row" },
      name,
      el("td", { class: "mono", text: n.address || "—" }),
      el("td", {}, el("time", { dateTime: new Date(n.started_at * 1000).toISOString(), text: formatDateTime(n.started_at) })),
      el("td", {}, heartbeat),
      el("td", { class: "num", text: String(n.running) }),
      el("td", {}, role),
      el("td", {}, state));
  }
}
