"""Section 5, fanout: events to thousands of WebSocket and SSE clients (C client on epoll)."""
import json
import os
import subprocess
import time

from ..client import http
from ..config import QUICK
from ..daemon import Daemon, build_c
from ..report import results, row


def bench_fanout():
    ws_n, sse_n = (500, 500) if QUICK else (2000, 2000)
    print(f"5. Fan-out: {ws_n} WebSocket + {sse_n} SSE clients on one daemon (C client on epoll)", flush=True)
    client_bin = build_c("fanout")
    d = Daemon("--concurrency", "1", "--max-connections", "10000")
    try:
        idle_before = d.rss_kib()
        blocker = http("POST", d.url + "/api/jobs", {"job_type": "countdown", "params": {"seconds": 60}})
        job = http("POST", d.url + "/api/jobs", {"job_type": "countdown", "params": {"seconds": 2}})
        client = subprocess.Popen([client_bin, str(d.port), str(ws_n), str(sse_n), str(job["id"])],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        connected = int(client.stdout.readline().split()[-1])
        rss = d.rss_kib()
        per_conn = (rss - idle_before) * 1024 / max(1, connected)
        t0 = d.cpu_ticks()
        time.sleep(5)
        cpu = (d.cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK") / 5 * 100
        http("DELETE", f"{d.url}/api/jobs/{blocker['id']}")
        data = json.loads(client.stdout.readline())
        final = http("GET", f"{d.url}/api/jobs/{job['id']}")
        # Now nothing happens: the SSE streams have ended, the WebSockets stay open.
        time.sleep(1)
        t0 = d.cpu_ticks()
        time.sleep(5)
        idle_cpu = (d.cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK") / 5 * 100
        client.stdin.close()
        client.wait(30)
        started = sorted(t - final["started_at"] for t in data["ws_started"])
        completed = sorted(t - final["completed_at"] for t in data["ws_completed"] + data["sse_completed"])
        every = sorted(started + completed)
        pct = lambda v, q: v[min(len(v) - 1, int(len(v) * q))] * 1000
        results["fanout"] = {"websocket_clients": ws_n, "sse_clients": sse_n, "connected": connected,
                             "delay_ms": {"p50": pct(every, .5), "p99": pct(every, .99), "max": every[-1] * 1000,
                                          "job_started_ws_p99": pct(started, .99),
                                          "job_completed_ws_and_sse_p99": pct(completed, .99)},
                             "rss_kib": rss, "rss_per_connection_bytes": per_conn, "cpu_percent_connected": cpu,
                             "cpu_percent_idle_websockets_open": idle_cpu,
                             "deliveries": len(every)}
        row("event -> arrival at every client",
            f"p50 {pct(every, .5):.1f} ms, p99 {pct(every, .99):.1f} ms ({len(every)} deliveries)",
            "p99 <= 50 ms", "OK" if pct(every, .99) <= 50 else "BELOW")
        row("  job_started to all WebSockets", f"p99 {pct(started, .99):.1f} ms ({len(started)})")
        row("  completion to all WebSockets and SSE streams", f"p99 {pct(completed, .99):.1f} ms ({len(completed)})")
        row("RSS with all connected", f"{rss / 1024:.1f} MiB, {per_conn / 1024:.1f} KiB per connection", "< 64 KiB/conn",
            "OK" if per_conn < 64 * 1024 else "BELOW")
        row("CPU, all connected, 1 progress event/s to the WebSockets", f"{cpu:.2f}% of one core")
        row(f"CPU, idle, {ws_n} WebSockets open", f"{idle_cpu:.2f}% of one core", "0%", "OK" if idle_cpu < 0.5 else "BELOW")
    finally:
        d.stop()

