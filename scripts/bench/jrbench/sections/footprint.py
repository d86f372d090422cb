"""Section 6, footprint: start to first 200, RSS idle and after many finished jobs."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from ..client import http, wrk
from ..config import BIN, QUICK, ROOT
from ..daemon import Daemon, rss_kib
from ..report import results, row, summary


def bench_footprint():
    print("6. Footprint: RSS and time to serve", flush=True)
    starts = []
    for _ in range(5 if QUICK else 10):
        t0 = time.perf_counter()
        proc = subprocess.Popen([BIN, "--port", "0", "--db", ":memory:", "--www", os.path.join(ROOT, "www")],
                                stderr=subprocess.PIPE, text=True)
        port = int(re.search(r":(\d+) \(", proc.stderr.readline()).group(1))
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
        starts.append((time.perf_counter() - t0) * 1000)
        idle = rss_kib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    s = summary(starts)
    results["start_to_serving_ms"] = s
    results["rss_idle_kib"] = idle
    row("start -> first 200", f"{s['median']:.1f} ms (min {s['min']:.1f}, max {s['max']:.1f})", "<= 100 ms",
        "OK" if s["median"] <= 100 else "BELOW")
    row("RSS idle", f"{idle / 1024:.1f} MiB", "<= 15 MB", "OK" if idle <= 15 * 1000 else "BELOW")
    n = 20_000 if QUICK else 100_000
    for name, args in [("memory", []), ("durable", ["--db", "@"])]:
        tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
        args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
        d = Daemon("--concurrency", "8", *args)
        try:
            while http("GET", d.url + "/api/stats")["queue"]["total"] < n:
                wrk(d.url + "/api/jobs", seconds=2, script="post.lua")
            deadline = time.time() + 120
            while http("GET", d.url + "/api/stats")["queue"]["pending"] + http("GET", d.url + "/api/stats")["queue"]["running"] > 0 \
                    and time.time() < deadline:
                time.sleep(0.2)
            total = http("GET", d.url + "/api/stats")["queue"]["total"]
            rss = d.rss_kib()
            results[f"rss_after_finished_{name}_kib"] = {"jobs": total, "rss_kib": rss}
            row(f"RSS after {total:,} finished jobs, {name}", f"{rss / 1024:.1f} MiB",
                "" if name == "memory" else "bounded", "")
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)

