"""The table on stdout and bench-results/results.json: every section adds its
figures to `results` and its lines to the table with `row`."""
import json
import os
import statistics

from .config import CORES, OUT, ROUNDS, SECONDS

results = {"machine": {"cores": CORES}, "rounds": ROUNDS, "seconds_per_run": SECONDS}
rows = []


def row(name, value, target="", verdict=""):
    rows.append((name, value, target, verdict))
    print(f"  {name:<48} {value:<40} {target:<18} {verdict}", flush=True)


def summary(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def write_results():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "results.json")
    with open(path, "w") as f:
        json.dump({"results": results, "rows": rows}, f, indent=2)
    return path
