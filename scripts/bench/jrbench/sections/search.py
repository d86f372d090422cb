"""Section 7b, search: GET /api/jobs?q=... over a filled SQLite database (FTS5);
its queries are timed the same way on PostgreSQL (sections/postgres.py)."""
import os
import shutil
import statistics
import tempfile
import time
import urllib.request

from ..config import QUICK
from ..daemon import Daemon
from ..report import results, row


def time_search_queries(d, n):
    """The History searches both search sections time, over n jobs made as they
    make them: a row per query, and p50/p99 over all but the prefix."""
    mid = 1764000000 + n // 2
    queries = [
        ("one rare token (the id)", f"q={n // 3}"),
        ("a word in 1 of 10 jobs", "q=golf"),
        ("two words (1 of 100)", "q=golf%20india"),
        ("a word, failed only (1 of 100)", "q=golf&status=failed"),
        ("a prefix of every job", "q=rep*"),
        ("a phrase in errors, failed only", "q=%22disk%20full%20on%20volume42%22&status=failed"),
        ("a word, a queue and a day", f"q=charlie&queue=reports&created_after={mid}&created_before={mid + 86400}"),
        ("a day, no search", f"created_after={mid}&created_before={mid + 86400}&status=failed"),
        ("a word, page 2 by cursor", f"q=delta&before_id={n // 2}"),
        ("no match", "q=zulu"),
    ]
    samples = {label: [] for label, _ in queries}
    for _ in range(10 if QUICK else 25):
        for label, query in queries:
            t = time.perf_counter()
            with urllib.request.urlopen(f"{d.url}/api/jobs?{query}&limit=50&order=desc") as r:
                r.read()
            samples[label].append((time.perf_counter() - t) * 1000)
    # A prefix that every job's text holds reads every match before the first
    # result (FTS5 merges the prefix's doclists): reported on its own.
    every = sorted(x for label, v in samples.items() if label != "a prefix of every job" for x in v)
    figures = {"jobs": n, "p50_ms": every[len(every) // 2], "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))]}
    for label, _ in queries:
        v = sorted(samples[label])
        figures[label] = {"median_ms": statistics.median(v), "max_ms": v[-1]}
        row(f"  {label}", f"median {statistics.median(v):.1f} ms, max {v[-1]:.1f} ms")
    return figures


def bench_search():
    """Text search (FTS5) and the History view's filters over a database the
    bench fills: p50/p99 of GET /api/jobs?q=... at 1,000,000 jobs."""
    n = 100_000 if QUICK else 1_000_000
    print(f"7b. History search: {n:,} jobs in the database", flush=True)
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
    db = os.path.join(tmp, "jobs.db")
    Daemon("--db", db).stop()  # creates the schema (and its search index)
    import sqlite3
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    t0 = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")

    def rows():
        for i in range(1, n + 1):
            failed = i % 10 == 0
            yield (i, "echo", f'{{"message":"report {words[i % 10]} {words[(i // 10) % 10]} {i}","delay":1}}',
                   "failed" if failed else "completed", 100, "Complete",
                   None if failed else '{"ok":true}', f"Exited with status 2: disk full on volume{i % 97}" if failed else None,
                   1764000000 + i, 1764000000 + i, 1764000001 + i, 4, "reports" if i % 3 == 0 else "default")
    conn.executemany("""INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                        created_at, started_at, completed_at, sequence, queue) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows())
    conn.commit()
    conn.close()
    fill_s = time.perf_counter() - t0
    row(f"fill {n:,} jobs with the search index (Python sqlite3)", f"{fill_s:.1f} s")
    d = Daemon("--db", db)
    try:
        figures = time_search_queries(d, n)
        figures["fill_s"] = fill_s
        p50, p99 = figures["p50_ms"], figures["p99_ms"]
        ok = p50 <= 50 and p99 <= 50
        row(f"GET /api/jobs?q=... at {n:,} jobs (all but the prefix)", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms", "<= 50 ms",
            "OK" if ok else "BELOW")
        results["search"] = figures
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)

