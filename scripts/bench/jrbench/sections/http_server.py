"""Section 1, http: jobrunnerd against a minimal C server on libmicrohttpd."""
import signal
import statistics
import subprocess
import time
import urllib.request

from ..client import http, wrk
from ..config import CORES, ROUNDS
from ..daemon import Daemon, build_c
from ..report import results, row, summary


def bench_http():
    print("1. HTTP: jobrunnerd / minimal C server on libmicrohttpd (same bytes, same flags)", flush=True)
    baseline_bin = build_c("mhd_baseline")
    d = Daemon("--concurrency", "3")
    job = http("POST", d.url + "/api/jobs", {"job_type": "prime", "params": {"limit": 1000}})
    time.sleep(0.3)
    stats_bytes = urllib.request.urlopen(d.url + "/api/stats").read().decode()
    job_bytes = urllib.request.urlopen(f"{d.url}/api/jobs/{job['id']}").read().decode()
    c = subprocess.Popen([baseline_bin, "0", str(CORES), stats_bytes, job_bytes], stdout=subprocess.PIPE, text=True)
    c_port = int(c.stdout.readline().split()[-1])
    try:
        for name, path in [("GET /api/stats", "/api/stats"), ("GET /api/jobs/:id", f"/api/jobs/{job['id']}")]:
            ours, theirs, ratios = [], [], []
            for i in range(ROUNDS):
                pair = [("ours", d.port), ("c", c_port)]
                if i % 2:
                    pair.reverse()
                got = {who: wrk(f"http://127.0.0.1:{port}{path}") for who, port in pair}
                ours.append(got["ours"])
                theirs.append(got["c"])
                ratios.append(got["ours"] / got["c"])
            s = summary(ratios)
            results[f"http {name}"] = {"jobrunnerd_rps": summary(ours), "c_rps": summary(theirs), "ratio": s}
            row(f"{name} (32 conns, keep-alive)",
                f"{statistics.median(ours):,.0f}/s vs C {statistics.median(theirs):,.0f}/s",
                "ratio >= 0.85",
                f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f}) "
                + ("OK" if s["median"] >= 0.85 else "BELOW"))
    finally:
        c.send_signal(signal.SIGTERM)
        c.wait()
        d.stop()

