"use strict";
async function refresh() {
  try {
    const [stats, jobs] = await Promise.all([
      fetch("/api/stats").then((r) => r.json()),
      fetch("/api/jobs").then((r) => r.json()),
    ]);
    const q = stats.queue;
    document.getElementById("stats").textContent =
      `${q.running} running, ${q.pending} pending, ${q.completed} completed, ${q.failed} failed, ${q.cancelled} cancelled`;
    const list = document.getElementById("jobs");
    list.replaceChildren(...jobs.slice(-50).reverse().map((job) => {
      const li = document.createElement("li");
      li.textContent = `#${job.id} ${job.type} — ${job.status} ${job.progress.percent}% ${job.progress.message}`;
      return li;
    }));
  } catch (e) {
    document.getElementById("stats").textContent = "Cannot reach the daemon.";
  }
}
refresh();
setInterval(refresh, 2000);
