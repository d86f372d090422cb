"""Section 10, commands: /bin/true jobs/s, and 1 GB of stdout under the daemon vs /dev/null."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ..client import run_job, submit_keepalive, wait_finished_count
from ..config import QUICK, ROUNDS
from ..daemon import Daemon, write_command_types
from ..report import results, row, summary


# Reads stdin to the end copying nothing (splice to /dev/null): the cheapest
# reader of a pipe there is, the floor under the daemon's 1 GB figure.
SPLICE_READER = """
import os
null = os.open("/dev/null", os.O_WRONLY)
while os.splice(0, null, 1 << 20):
    pass
"""


def bench_commands():
    print("10. Command jobs: /bin/true jobs/s at --concurrency 8; a job writing 1 GB to stdout under the daemon "
          "vs the same command writing to /dev/null", flush=True)
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-types-")
    flood_script = 'yes "$1" | head -c "$2"'
    types = os.path.join(tmp, "jobs.d")
    write_command_types(types, {
        "true": {"command": ["/bin/true"]},
        "flood": {"command": ["/bin/sh", "-c", flood_script, "flood", "{line}", "{bytes}"],
                  "params": {"line": {"type": "string", "required": True},
                             "bytes": {"type": "integer", "required": True}}},
    })
    try:
        # Throughput: N /bin/true jobs submitted over keep-alive connections,
        # timed from the first submission to the last job completed.
        n = 2000 if QUICK else 5000
        for name, args in [("memory", []), ("durable, --sync full", ["--db", "@"])]:
            rates = []
            for _ in range(ROUNDS):
                db = os.path.join(tempfile.mkdtemp(prefix="jobrunner-bench-db-"), "jobs.db")
                d = Daemon("--job-types-dir", types, "--concurrency", "8", *[db if a == "@" else a for a in args])
                try:
                    t0 = time.monotonic()
                    submit_keepalive(d.port, {"job_type": "true", "params": {}}, n)
                    t1 = wait_finished_count(d, n)
                    rates.append(n / (t1 - t0))
                finally:
                    d.stop()
                    shutil.rmtree(os.path.dirname(db), ignore_errors=True)
            s = summary(rates)
            results[f"commands /bin/true jobs_per_second {name}"] = s
            row(f"/bin/true jobs, --concurrency 8, {name}",
                f"{s['median']:,.0f} jobs/s (min {s['min']:,.0f}, max {s['max']:,.0f})", ">= 1,000/s",
                "OK" if s["median"] >= 1000 else "BELOW")

        # Output: 1 GB to stdout, alternating the daemon (its log) and /dev/null.
        size = 1 << 30
        for label, length in [("100-byte lines", 100), ("1 KiB lines", 1024)]:
            line = "a" * (length - 1)
            for name, args in [("memory", []), ("durable", ["--db", "@"])]:
                if name == "durable" and QUICK:
                    continue
                db = os.path.join(tempfile.mkdtemp(prefix="jobrunner-bench-db-"), "jobs.db")
                d = Daemon("--job-types-dir", types, "--concurrency", "1", *[db if a == "@" else a for a in args])
                ratios, daemon_times, direct_times, piped_times, splice_times, peak = [], [], [], [], [], 0
                try:
                    base_rss = d.rss_kib()
                    rounds = ROUNDS if name == "memory" else 1
                    for i in range(rounds):
                        def direct():
                            t = time.monotonic()
                            subprocess.run(["/bin/sh", "-c", flood_script, "flood", line, str(size)],
                                           stdout=subprocess.DEVNULL, check=True)
                            return time.monotonic() - t
                        if i % 2 == 0:
                            a = direct()
                            b = run_job(d, {"job_type": "flood", "params": {"line": line, "bytes": size}})
                        else:
                            b = run_job(d, {"job_type": "flood", "params": {"line": line, "bytes": size}})
                            a = direct()
                        # The floor for any reader of a pipe: the same output through `cat`.
                        t = time.monotonic()
                        subprocess.run(["/bin/sh", "-c", flood_script + " | cat >/dev/null", "flood", line, str(size)], check=True)
                        piped_times.append(time.monotonic() - t)
                        # A reader that copies nothing: splice(2) from the pipe to /dev/null.
                        t = time.monotonic()
                        subprocess.run(["/bin/sh", "-c", flood_script + ' | "$3" -c "$4"', "flood", line, str(size),
                                        sys.executable, SPLICE_READER], check=True)
                        splice_times.append(time.monotonic() - t)
                        peak = max(peak, d.rss_kib())
                        direct_times.append(a)
                        daemon_times.append(b)
                        ratios.append(b / a)
                finally:
                    d.stop()
                    shutil.rmtree(os.path.dirname(db), ignore_errors=True)
                r = summary(ratios)
                results[f"commands 1 GB stdout {label} {name}"] = {
                    "ratio": r, "daemon_seconds": summary(daemon_times), "devnull_seconds": summary(direct_times),
                    "rss_after_kib": peak, "rss_before_kib": base_rss, "through_cat_seconds": summary(piped_times),
                    "through_splice_seconds": summary(splice_times),
                    "ratio_to_cat": statistics.median(daemon_times) / statistics.median(piped_times)}
                row(f"1 GB to stdout ({label}), {name}: daemon / /dev/null",
                    f"{r['median']:.2f} ({statistics.median(daemon_times):.2f} s vs "
                    f"{statistics.median(direct_times):.2f} s; through cat {statistics.median(piped_times):.2f} s; "
                    f"RSS {base_rss / 1024:.0f}->{peak / 1024:.0f} MiB)",
                    "<= 1.3", "OK" if r["median"] <= 1.3 else "ABOVE")
                # `cat` reading the same pipe is the floor for any reader on this
                # machine: the job's writes into a pipe cost what /dev/null never does.
                row(f"1 GB to stdout ({label}), {name}: floors",
                    f"through cat {statistics.median(piped_times) / statistics.median(direct_times):.2f}, "
                    f"through splice {statistics.median(splice_times) / statistics.median(direct_times):.2f} "
                    f"(x /dev/null); daemon / cat {statistics.median(daemon_times) / statistics.median(piped_times):.2f}",
                    "", "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

