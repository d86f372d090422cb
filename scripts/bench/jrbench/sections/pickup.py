"""Section 3, pickup: created -> started with an idle worker."""
import os
import shutil
import tempfile
import time

from ..client import http
from ..config import QUICK
from ..daemon import Daemon
from ..report import results, row


def bench_pickup():
    print("3. Pickup latency: created -> started with an idle worker (server timestamps)", flush=True)
    samples = 300 if QUICK else 1000
    for name, args in [("memory", []), ("durable, --sync full", ["--db", "@"])]:
        tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
        args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
        d = Daemon(*args)
        try:
            for _ in range(samples):
                job = http("POST", d.url + "/api/jobs", {"job_type": "prime", "params": {"limit": 10}})
            deadline = time.time() + 30
            while http("GET", d.url + "/api/stats")["queue"]["completed"] < samples and time.time() < deadline:
                time.sleep(0.05)
            jobs = http("GET", f"{d.url}/api/jobs?limit={samples}")
            delays = sorted((j["started_at"] - j["created_at"]) * 1000 for j in jobs if j["started_at"])
            p50 = delays[len(delays) // 2]
            p99 = delays[int(len(delays) * 0.99) - 1]
            results[f"pickup {name}"] = {"p50_ms": p50, "p99_ms": p99, "samples": len(delays)}
            note = "" if name == "memory" else " (includes the commit's fsync)"
            ok = p50 <= 0.5 and p99 <= 2
            row(f"submit -> start, {name}", f"p50 {p50:.3f} ms, p99 {p99:.3f} ms{note}", "p50 <= 0.5, p99 <= 2 ms",
                "OK" if ok else ("BELOW" if name == "memory" else "bounded by fsync"))
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)

