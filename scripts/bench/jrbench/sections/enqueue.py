"""Section 2, enqueue: POST /api/jobs in memory and durable."""
import os
import shutil
import tempfile

from ..client import wrk
from ..config import ROUNDS
from ..daemon import Daemon
from ..report import results, row, summary


def bench_enqueue():
    print("2. Enqueue: POST /api/jobs (countdown jobs that stay pending behind 3 running)", flush=True)
    env = {"JR_BODY": '{"job_type":"countdown","params":{"seconds":60}}'}
    modes = [("memory", []), ("durable, --sync full", ["--db", "@", "--sync", "full"]),
             ("durable, --sync normal", ["--db", "@", "--sync", "normal"])]
    got = {name: [] for name, _ in modes}
    for i in range(ROUNDS):
        order = modes if i % 2 == 0 else list(reversed(modes))
        for name, args in order:
            tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
            args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
            d = Daemon(*args)
            try:
                got[name].append(wrk(d.url + "/api/jobs", script="post.lua", env=env))
            finally:
                d.stop()
                shutil.rmtree(tmp, ignore_errors=True)
    memory = got["memory"]
    for name, _ in modes:
        s = summary(got[name])
        results[f"enqueue {name}"] = s
        if name == "memory":
            row(f"POST /api/jobs, {name}", f"{s['median']:,.0f}/s (min {s['min']:,.0f}, max {s['max']:,.0f})")
        else:
            ratio = summary([m / x for m, x in zip(memory, got[name])])
            results[f"enqueue {name}"]["memory_over_durable"] = ratio
            ok = s["median"] >= 20000 and ratio["median"] <= 2
            row(f"POST /api/jobs, {name}", f"{s['median']:,.0f}/s; memory/durable {ratio['median']:.2f}",
                ">= 20,000/s, <= 2x", "OK" if ok else "BELOW")

