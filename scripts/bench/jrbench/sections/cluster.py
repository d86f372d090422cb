"""Section 16, cluster: nodes on one PostgreSQL against one SQLite daemon."""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

from ..client import http, wait_finished_count, wrk
from ..config import QUICK, ROUNDS
from ..daemon import Daemon
from ..pg import Postgres
from ..report import results, row, summary


CLUSTER_JOB = {"job_type": "prime", "params": {"limit": 10}}  # the cheapest built-in: no sleep, 4 primes


def bench_cluster():
    """SECTIONS=cluster: several nodes on one PostgreSQL (docs/cluster.md). Its parts
    alone: python3 scripts/bench/run.py cluster_throughput (or cluster_pickup)."""
    print("16. Cluster: nodes on one PostgreSQL (Unix socket, fsync on) vs one SQLite daemon (--sync full)", flush=True)
    cluster_throughput()
    cluster_pickup()


def cluster_throughput():
    """Jobs/s end to end (wrk POSTs on every node, until the last job completed)
    with 1, 2 and 3 nodes, and one SQLite daemon for comparison."""
    env = {"JR_BODY": json.dumps(CLUSTER_JOB)}
    pg = Postgres()
    try:
        configs = ["sqlite", "1 node", "2 nodes", "3 nodes"]
        got = {c: [] for c in configs}
        commits = {c: [] for c in configs[1:]}
        for i in range(ROUNDS):
            for config in (configs if i % 2 == 0 else configs[::-1]):
                tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
                if config == "sqlite":
                    nodes = [Daemon("--db", os.path.join(tmp, "jobs.db"))]
                else:
                    db = pg.new_database()
                    nodes = [Daemon("--db", db, "--node-id", f"n{k + 1}") for k in range(int(config[0]))]
                try:
                    # wrk on every node at once for SECONDS, then until the last job has completed.
                    t0 = time.monotonic()
                    senders = [threading.Thread(target=wrk, args=(d.url + "/api/jobs",),
                                                kwargs={"script": "post.lua", "env": env, "connections": 8}) for d in nodes]
                    for t in senders:
                        t.start()
                    for t in senders:
                        t.join()
                    # Every submission is acknowledged; the nodes agree on the count once each has heard of the others'.
                    deadline = time.monotonic() + 30
                    while len(counts := {http("GET", d.url + "/api/stats")["queue"]["total"] for d in nodes}) != 1:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"the nodes disagree on the number of jobs: {counts}")
                        time.sleep(0.005)
                    total = counts.pop()
                    done = wait_finished_count(nodes[0], total, timeout=120)
                    got[config].append(total / (done - t0))
                finally:
                    for d in nodes:
                        d.stop()
                    shutil.rmtree(tmp, ignore_errors=True)
                if config != "sqlite":
                    # What bounds it: the server's transactions per job (a backend's counts are flushed when it exits).
                    name = db.split("/")[3].split("?")[0]
                    out = subprocess.run([pg.psql, "-X", "-At", "-h", pg.dir, "-U", "jobrunner", "-d", name, "-c",
                                          "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"],
                                         capture_output=True, text=True, check=True).stdout
                    commits[config].append(int(out.strip()) / total)
        results["cluster jobs/s"] = {c: summary(v) for c, v in got.items()}
        results["cluster transactions per job"] = {c: summary(v) for c, v in commits.items()}
        one = got["1 node"]
        for config in configs:
            v = summary(got[config])
            ratio = summary([a / b for a, b in zip(got[config], one)])
            row(f"wrk POST -> all completed, {config}", f"{v['median']:,.0f} jobs/s (min {v['min']:,.0f}, max {v['max']:,.0f})",
                "" if config == "sqlite" else "reported", f"{ratio['median']:.2f}x one PostgreSQL node")
            if config != "sqlite":
                row(f"  PostgreSQL transactions per job, {config}", f"{statistics.median(commits[config]):.2f}")
    finally:
        pg.close()


def cluster_pickup():
    """Jobs submitted one after the other to n1 of three idle nodes: the server's
    started_at - created_at (one machine, one clock), split by the node that took each."""
    body = CLUSTER_JOB
    pg = Postgres()
    try:
        samples = 300 if QUICK else 1000
        db = pg.new_database()
        nodes = [Daemon("--db", db, "--node-id", f"n{k + 1}") for k in range(3)]
        try:
            ids, posts = [], []
            for _ in range(samples):
                t0 = time.perf_counter()
                ids.append(http("POST", nodes[0].url + "/api/jobs", body)["id"])
                posts.append((time.perf_counter() - t0) * 1000)
            # Every job started (none pending), then finished; one that does not finish is reported, not waited for.
            deadline = time.monotonic() + 30
            while (q := http("GET", nodes[0].url + "/api/stats")["queue"])["completed"] < samples:
                if time.monotonic() > deadline:
                    if q["pending"]:
                        raise RuntimeError(f"jobs still pending after 30 s: {q}")
                    break
                time.sleep(0.01)
            jobs = {j["id"]: j for j in http("GET", f"{nodes[0].url}/api/jobs?limit={samples}")}
            stuck = [i for i in ids if jobs[i]["status"] != "completed"]
            if stuck:
                row("  jobs that never completed", f"{len(stuck)}: {stuck[:5]} {[jobs[i]['status'] for i in stuck[:5]]}", "0", "DEFECT")
            by = {"local": [], "remote": []}
            for i in ids:
                j = jobs[i]
                by["local" if j.get("node") == "n1" else "remote"].append((j["started_at"] - j["created_at"]) * 1000)
            every = sorted(by["local"] + by["remote"])

            def pct(v, q):
                v = sorted(v)
                return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")

            figures = {"p50_ms": pct(every, 0.5), "p99_ms": pct(every, 0.99), "samples": len(every),
                       "local": {"count": len(by["local"]), "p50_ms": pct(by["local"], 0.5), "p99_ms": pct(by["local"], 0.99)},
                       "remote": {"count": len(by["remote"]), "p50_ms": pct(by["remote"], 0.5), "p99_ms": pct(by["remote"], 0.99)}}
            results["cluster pickup"] = figures
            row("pickup across 3 nodes (submitted to n1)", f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms",
                "p99 <= 10 ms", "OK" if figures["p99_ms"] <= 10 else "ABOVE")
            for where in ("local", "remote"):
                f = figures[where]
                row(f"  picked up by {'n1 itself' if where == 'local' else 'n2 or n3 (NOTIFY)'}",
                    f"{f['count']} jobs, p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms")
            # What bounds it: created_at is taken before the job's commit, so a pickup
            # includes that commit (fsync on); the POST round trip is the same commit.
            figures["post_ms"] = {"p50": pct(posts, 0.5), "p99": pct(posts, 0.99)}
            row("  POST /api/jobs round trip (its commit)", f"p50 {pct(posts, 0.5):.2f} ms, p99 {pct(posts, 0.99):.2f} ms")
        finally:
            for d in nodes:
                d.stop()
    finally:
        pg.close()

