"""Section metrics: what counting costs (metrics on vs --metrics off)."""
import json
import statistics
import subprocess
import time
import urllib.request

from ..client import wrk
from ..config import ENGINE_BENCH, QUICK, ROUNDS
from ..daemon import Daemon
from ..report import results, row, summary


def bench_metrics():
    """GET /api/stats and POST /api/jobs with metrics on (the default) vs --metrics off: what counting costs."""
    print("metrics: GET /api/stats and POST /api/jobs with metrics on vs --metrics off", flush=True)
    on, off = Daemon(), Daemon("--metrics", "off")
    try:
        got_on, got_off, ratios = [], [], []
        for i in range(ROUNDS):
            order = [("on", on), ("off", off)] if i % 2 == 0 else [("off", off), ("on", on)]
            got = {who: wrk(d.url + "/api/stats") for who, d in order}
            got_on.append(got["on"])
            got_off.append(got["off"])
            ratios.append(got["on"] / got["off"])
        s = summary(ratios)
        results["metrics GET /api/stats on/off"] = {"on_rps": summary(got_on), "off_rps": summary(got_off), "ratio": s}
        row("GET /api/stats, metrics on / off", f"{statistics.median(got_on):,.0f}/s vs {statistics.median(got_off):,.0f}/s",
            "ratio >= 0.97", f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})"
            + (" OK" if s["median"] >= 0.97 else " BELOW"))
        scrape = []
        for _ in range(20):
            t = time.perf_counter()
            with urllib.request.urlopen(on.url + "/metrics", timeout=30) as r:
                size = len(r.read())
            scrape.append((time.perf_counter() - t) * 1000)
        results["metrics scrape ms"] = summary(scrape)
        row("GET /metrics (one scrape, idle daemon)", f"{statistics.median(scrape):.2f} ms, {size:,} bytes", "reported")
    finally:
        on.stop()
        off.stop()
    # Submissions: fresh daemons per round (the pending jobs pile up), in memory.
    env = {"JR_BODY": '{"job_type":"countdown","params":{"seconds":60}}'}
    got = {"on": [], "off": []}
    for i in range(ROUNDS):
        for who in (["on", "off"] if i % 2 == 0 else ["off", "on"]):
            d = Daemon() if who == "on" else Daemon("--metrics", "off")
            try:
                got[who].append(wrk(d.url + "/api/jobs", script="post.lua", env=env))
            finally:
                d.stop()
    s = summary([a / b for a, b in zip(got["on"], got["off"])])
    results["metrics POST /api/jobs on/off"] = {"on_rps": summary(got["on"]), "off_rps": summary(got["off"]), "ratio": s}
    row("POST /api/jobs (memory), metrics on / off",
        f"{statistics.median(got['on']):,.0f}/s vs {statistics.median(got['off']):,.0f}/s", "reported",
        f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})")
    # The engine alone (no HTTP): the queue's job figures on vs off.
    n = 100_000 if QUICK else 200_000
    got = {"on": [], "off": []}
    for i in range(ROUNDS):
        for who in (["on", "off"] if i % 2 == 0 else ["off", "on"]):
            args = [ENGINE_BENCH, str(n), "16"] + (["metrics"] if who == "on" else [])
            got[who].append(json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)["jobs_per_second"])
    s = summary([a / b for a, b in zip(got["on"], got["off"])])
    results["metrics engine on/off"] = {"on": summary(got["on"]), "off": summary(got["off"]), "ratio": s}
    row(f"engine, {n:,} no-op jobs, metrics on / off",
        f"{statistics.median(got['on']):,.0f} vs {statistics.median(got['off']):,.0f} jobs/s", "reported",
        f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})")

