"""Section webhooks: delivery throughput and the queue with a hanging receiver."""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

from ..client import http, submit_keepalive, wait_finished_count
from ..config import QUICK, ROUNDS
from ..daemon import Daemon, build_c
from ..report import results, row, summary



def deliveries(port, n, d):
    """Waits (at most 300 s) until the receiver on `port` counted `n` deliveries,
    stops the daemon `d` and returns the receiver's count and times."""
    deadline = time.monotonic() + 300
    while True:
        got = http("GET", f"http://127.0.0.1:{port}/count")
        if got["count"] >= n or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    d.stop()
    if got["count"] < n:
        raise RuntimeError(f"only {got['count']} of {n} deliveries arrived")
    return got

def start_receiver(binary, port=0):
    proc = subprocess.Popen([binary, "2", str(port)], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r"port (\d+)", proc.stdout.readline()).group(1))
    return proc, port


def bench_webhooks():
    """N jobs, one job_completed delivery each, to a local C receiver: deliveries/s draining a backlog of
    N (SQLite outbox: made while the receiver hung, delivered after a restart); end to end (first
    submission to last POST received) with the in-memory and the SQLite outbox; and jobs/s with a
    receiver that never answers vs one that answers at once (the queue must not slow down), and with a
    webhook per job vs none (what the outbox costs)."""
    n = 2000 if QUICK else 10_000
    print(f"webhooks: {n} jobs with a job_completed webhook each, to a local C receiver (libmicrohttpd, 2 threads)", flush=True)
    receiver = build_c("webhook_receiver")
    work = tempfile.mkdtemp(prefix="jobrunner-bench-hooks-")
    body = {"job_type": "prime", "params": {"limit": 10}}

    def run(store, url, extra=None, wait_deliveries=True):
        config = os.path.join(work, "c.json")
        db = [] if store == "memory" else ["--db", store if store.endswith(".db") else os.path.join(tempfile.mkdtemp(dir=work), "jobs.db"),
                                           "--sync", "normal"]
        with open(config, "w") as f:
            json.dump({"webhooks": [{"url": url, "secret": "bench", "events": ["job_completed"], "concurrency": 16,
                                     "timeout": 5, **(extra or {})}]} if url else {}, f)
        d = Daemon("--config", config, "--concurrency", "16", *db)
        try:
            t0 = time.monotonic()
            submit_keepalive(d.port, body, n)
            jobs_done = wait_finished_count(d, n)
            return d, t0, jobs_done
        except Exception:
            d.stop()
            raise

    try:
        drains = []
        for _ in range(max(2, ROUNDS - 2)):
            # The backlog: N deliveries wait while the receiver hangs (one attempt at a time).
            hang = socket.socket()
            hang.bind(("127.0.0.1", 0))
            hang.listen(1024)
            port = hang.getsockname()[1]
            db = os.path.join(tempfile.mkdtemp(dir=work), "jobs.db")
            d, _, _ = run(db, f"http://127.0.0.1:{port}/hook", {"concurrency": 1, "timeout": 60})
            d.stop()
            hang.close()
            proc, port = start_receiver(receiver, port)
            try:
                config = os.path.join(work, "c.json")
                with open(config, "w") as f:
                    json.dump({"webhooks": [{"url": f"http://127.0.0.1:{port}/hook", "secret": "bench", "events": ["job_completed"],
                                             "concurrency": 16}]}, f)
                d = Daemon("--config", config, "--db", db, "--sync", "normal")
                got = deliveries(port, n, d)
                drains.append((n - 1) / (got["last"] - got["first"]))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
        results["webhooks backlog"] = {"deliveries_per_s": summary(drains)}
        row(f"webhook deliveries/s, a backlog of {n} (SQLite outbox)", f"{statistics.median(drains):,.0f}/s",
            "reported", f"min {min(drains):,.0f}, max {max(drains):,.0f}")
        for store in ("memory", "sqlite"):
            rates, jobs, lags = [], [], []
            for _ in range(max(2, ROUNDS - 2)):
                proc, port = start_receiver(receiver)
                try:
                    d, t0, jobs_done = run(store, f"http://127.0.0.1:{port}/hook")
                    got = deliveries(port, n, d)
                    rates.append(n / (got["last"] - t0))
                    jobs.append(n / (jobs_done - t0))
                    lags.append(max(0.0, got["last"] - jobs_done) * 1000)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait()
            results[f"webhooks {store}"] = {"deliveries_per_s": summary(rates), "jobs_per_s": summary(jobs), "lag_ms": summary(lags)}
            row(f"webhook deliveries/s end to end ({store} outbox)", f"{statistics.median(rates):,.0f}/s (jobs {statistics.median(jobs):,.0f}/s)",
                "reported", f"last POST {statistics.median(lags):.0f} ms after the last job")
        # A receiver that accepts connections and never answers, one that answers at once, and no webhooks.
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(1024)
        proc, fast_port = start_receiver(receiver)
        urls = {"hang": f"http://127.0.0.1:{hang.getsockname()[1]}/hook", "fast": f"http://127.0.0.1:{fast_port}/hook", "none": None}
        rates = {who: [] for who in urls}
        hang_fast, fast_none = [], []
        try:
            for i in range(ROUNDS):
                got = {}
                order = ["hang", "fast", "none"] if i % 2 == 0 else ["none", "fast", "hang"]
                for who in order:
                    d, t0, jobs_done = run("sqlite", urls[who], {"concurrency": 4})
                    d.stop()
                    got[who] = n / (jobs_done - t0)
                    rates[who].append(got[who])
                hang_fast.append(got["hang"] / got["fast"])
                fast_none.append(got["fast"] / got["none"])
        finally:
            hang.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait()
        s = summary(hang_fast)
        results["webhooks hanging receiver"] = {"jobs_per_s": {k: summary(v) for k, v in rates.items()},
                                                "hang_over_fast": s, "fast_over_none": summary(fast_none)}
        row("jobs/s (SQLite), receiver never answers / answers at once", f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})",
            "ratio >= 0.9", "OK" if s["median"] >= 0.9 else "BELOW")
        f = summary(fast_none)
        row("jobs/s (SQLite), a webhook per job / no webhooks", f"ratio {f['median']:.2f} (min {f['min']:.2f}, max {f['max']:.2f})",
            "reported", f"{statistics.median(rates['fast']):,.0f} vs {statistics.median(rates['none']):,.0f} jobs/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

