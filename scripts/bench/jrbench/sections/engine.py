"""Section 4, engine: jobs/s through queue and engine, no HTTP (jobrunner-bench)."""
import json
import subprocess

from ..config import ENGINE_BENCH, QUICK, ROUNDS
from ..report import results, row, summary


def bench_engine():
    print("4. Engine: jobs/s through queue + engine, no-op job type, no HTTP", flush=True)
    n = 100_000 if QUICK else 200_000
    rates = []
    for _ in range(ROUNDS):
        out = subprocess.run([ENGINE_BENCH, str(n), "16"], capture_output=True, text=True, check=True).stdout
        rates.append(json.loads(out)["jobs_per_second"])
    s = summary(rates)
    results["engine jobs_per_second"] = s
    row(f"{n:,} no-op jobs, 16 slots", f"{s['median']:,.0f} jobs/s (min {s['min']:,.0f})", ">= 100,000/s",
        "OK" if s["median"] >= 100_000 else "BELOW")

