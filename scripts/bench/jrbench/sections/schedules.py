"""Section 13, schedules: 10,000 loaded: start, idle CPU, firing lag."""
import os
import shutil
import tempfile
import time

from ..client import http
from ..daemon import Daemon
from ..report import row


def bench_schedules():
    print("13. Schedules: 10,000 loaded (100 of them every minute): start time, idle CPU, firing lag", flush=True)
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-sched-")
    db = os.path.join(tmp, "jobs.db")
    try:
        d = Daemon("--db", db)
        import concurrent.futures
        def put(i):
            cron = "* * * * *" if i < 100 else f"{i % 60} {i % 24} 1 1 *"
            http("PUT", f"{d.url}/api/schedules/s{i:05d}", {"cron": cron, "timezone": "Europe/Berlin" if i % 2 else "UTC",
                                                              "job_type": "echo", "params": {"message": f"s{i}", "delay": 1},
                                                              "overlap": "allow"})
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(10_000)))
        d.stop()
        started = time.perf_counter()
        d = Daemon("--db", db, "--concurrency", "200")
        start_ms = (time.perf_counter() - started) * 1000
        row("start with 10,000 schedules", f"{start_ms:.0f} ms to listening", "fast")
        # Idle: no slot due in the next few seconds (run between minute boundaries).
        while not 3 < time.time() % 60 < 50:
            time.sleep(0.2)
        before = d.cpu_ticks()
        time.sleep(5)
        idle = d.cpu_ticks() - before
        row("idle CPU over 5 s", f"{idle} ticks ({idle / 5:.0f}% of a core)", "0 %", "OK" if idle == 0 else "ABOVE")
        row("RSS with 10,000 schedules", f"{d.rss_kib() / 1024:.1f} MiB")
        # Wait for the next minute's 100 firings.
        slot = (int(time.time()) // 60 + 1) * 60
        while time.time() < slot + 3:
            time.sleep(0.5)
        jobs = http("GET", f"{d.url}/api/jobs?limit=1000")
        lags = sorted((j["created_at"] - slot) * 1000 for j in jobs if j.get("schedule") and abs(j["created_at"] - slot) < 30)
        if lags:
            p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            row(f"firing lag past the slot ({len(lags)} schedules due at once)", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                "p99 <= 10 ms", "OK" if p99 <= 10 else "ABOVE")
        d.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

