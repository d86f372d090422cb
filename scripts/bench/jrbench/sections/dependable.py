"""Section 11, dependable: pickup of due delayed jobs, enqueue with options, jobs waiting an hour."""
import os
import shutil
import statistics
import tempfile
import time

from ..client import http, submit_collect, submit_keepalive, wrk
from ..config import QUICK, ROUNDS
from ..daemon import Daemon
from ..report import results, row, summary


def bench_dependable():
    """SECTIONS=dependable; its parts alone: python3 scripts/bench/run.py dependable_pickup (or _enqueue, _waiting)."""
    print("11. Dependable jobs: pickup of due delayed jobs (run_at -> started_at), enqueue with priorities and "
          "10 queues vs plain, 100,000 delayed jobs waiting an hour", flush=True)
    dependable_pickup()
    dependable_enqueue()
    dependable_waiting()


def dependable_pickup():
    """Each due delayed job's run_at (from its 201) to its started_at (server clock, one timer for all)."""
    import random
    samples = 200
    for name, args in [("memory", []), ("durable, --sync full", ["--db", "@"])]:
        tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
        args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
        d = Daemon("--concurrency", "16", *args)
        try:
            # Connections warm, no other work meanwhile.
            http("GET", d.url + "/api/stats")
            bodies = [{"job_type": "prime", "params": {"limit": 10}, "delay": round(random.uniform(0.2, 0.5), 4)}
                      for _ in range(samples)]
            created = submit_collect(d.port, bodies)
            run_at = {j["id"]: j["run_at"] for j in created}
            deadline = time.time() + 30
            while http("GET", d.url + "/api/stats")["queue"]["completed"] < samples and time.time() < deadline:
                time.sleep(0.05)
            jobs = http("GET", f"{d.url}/api/jobs?limit={samples}")
            late = sorted((j["started_at"] - run_at[j["id"]]) * 1000 for j in jobs if j["started_at"])
            early = sum(1 for x in late if x < 0)
            p50 = late[len(late) // 2]
            p99 = late[max(0, int(len(late) * 0.99) - 1)]
            results[f"dependable pickup {name}"] = {"p50_ms": p50, "p99_ms": p99, "max_ms": late[-1],
                                                    "samples": len(late), "started_before_run_at": early}
            row(f"due delayed job -> start, {name}",
                f"p50 {p50:.3f} ms, p99 {p99:.3f} ms (max {late[-1]:.3f}; {len(late)} jobs, {early} early)",
                "p99 <= 5 ms", "OK" if p99 <= 5 and early == 0 else "BELOW")
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)


def dependable_enqueue():
    """Plain bodies vs bodies with a queue (of 10) and a priority, alternating, in memory."""
    plain_env = {"JR_PLAIN": "1"}
    plain, options, ratios = [], [], []
    for i in range(ROUNDS):
        got = {}
        order = [("plain", "post_options.lua", plain_env), ("options", "post_options.lua", {"JR_PLAIN": "0"})]
        if i % 2:
            order.reverse()
        for name, script, env in order:
            d = Daemon()
            try:
                got[name] = wrk(d.url + "/api/jobs", script=script, env=env)
            finally:
                d.stop()
        plain.append(got["plain"])
        options.append(got["options"])
        ratios.append(got["options"] / got["plain"])
    s = summary(ratios)
    results["dependable enqueue"] = {"plain_rps": summary(plain), "options_rps": summary(options), "ratio": s}
    row("POST /api/jobs, 10 queues + priorities / plain",
        f"{statistics.median(options):,.0f}/s vs {statistics.median(plain):,.0f}/s",
        "ratio >= 0.90", f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f}) "
        + ("OK" if s["median"] >= 0.90 else "BELOW"))


def dependable_waiting():
    """100,000 jobs due in an hour: nothing to do until then."""
    n = 20_000 if QUICK else 100_000
    for name, args in [("memory", []), ("durable", ["--db", "@"])]:
        tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
        args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
        d = Daemon(*args)
        try:
            base_rss = d.rss_kib()
            submit_keepalive(d.port, {"job_type": "prime", "params": {"limit": 10}, "delay": 3600}, n)
            stats = http("GET", d.url + "/api/stats")
            assert stats["queue"]["pending"] == n and stats["worker"]["active"] == 0, stats
            time.sleep(1)  # let the submissions' threads and allocator settle before measuring idle
            t0, c0 = time.monotonic(), d.cpu_ticks()
            time.sleep(5)
            ticks, elapsed = d.cpu_ticks() - c0, time.monotonic() - t0
            cpu = ticks / os.sysconf("SC_CLK_TCK") / elapsed * 100
            rss = d.rss_kib()
            results[f"dependable {n} delayed jobs {name}"] = {"cpu_percent_5s": cpu, "cpu_ticks": ticks,
                                                              "rss_kib": rss, "rss_before_kib": base_rss}
            row(f"{n:,} jobs delayed 1 h, {name}: idle CPU over 5 s",
                f"{cpu:.1f} % of a core ({ticks} ticks)", "0 %", "OK" if ticks == 0 else "ABOVE")
            row(f"{n:,} jobs delayed 1 h, {name}: RSS", f"{rss / 1024:.1f} MiB (idle before: {base_rss / 1024:.1f} MiB)",
                "bounded", "")
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)

