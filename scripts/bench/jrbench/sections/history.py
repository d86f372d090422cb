"""Section 7, history: reads over a million finished jobs (SQLite)."""
import os
import shutil
import statistics
import time
import urllib.request

from ..config import QUICK
from ..daemon import Daemon, empty_database
from ..report import results, row


def bench_history():
    n = 100_000 if QUICK else 1_000_000
    print(f"7. History: {n:,} jobs in the database", flush=True)
    tmp, db = empty_database()
    import sqlite3
    conn = sqlite3.connect(db)
    conn.execute("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                          created_at, started_at, completed_at, sequence)
        SELECT i, CASE i % 4 WHEN 0 THEN 'countdown' WHEN 1 THEN 'prime' WHEN 2 THEN 'fibonacci' ELSE 'echo' END,
               '{"limit":1000}', CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END, 100, 'Complete',
               '{"ok":true}', NULL, 1764000000 + i, 1764000000 + i, 1764000001 + i, 4
        FROM n""", (n,))
    conn.commit()
    conn.close()
    t0 = time.perf_counter()
    d = Daemon("--db", db)
    start_ms = (time.perf_counter() - t0) * 1000
    try:
        def timed(path, repeat=20):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                with urllib.request.urlopen(d.url + path) as r:
                    r.read()
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times)
        figures = {"start_ms": start_ms}
        old = 123456 if n > 123456 else n // 2  # an old job that exists (BENCH_QUICK fills 100,000)
        row(f"start with {n:,} jobs (counters loaded)", f"{start_ms:.0f} ms")
        for label, path in [("GET /api/stats", "/api/stats"),
                            ("GET /api/jobs (newest 100)", "/api/jobs?limit=100"),
                            ("GET /api/jobs?status=failed&limit=100", "/api/jobs?status=failed&limit=100"),
                            ("GET /api/jobs?type=echo&limit=100 (counts type)", "/api/jobs?type=echo&limit=100"),
                            ("GET /api/jobs?before_id=500000&limit=100", "/api/jobs?before_id=500000&limit=100"),
                            (f"GET /api/jobs/{old}", f"/api/jobs/{old}")]:
            ms = timed(path)
            figures[label] = ms
            row(label, f"{ms:.2f} ms median")
        results["history"] = {"jobs": n, **figures}
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)

