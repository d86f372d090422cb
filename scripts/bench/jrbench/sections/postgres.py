"""Sections 15 and 15b, postgres and postgres_search: the PostgreSQL store against SQLite."""
import os
import shutil
import subprocess
import tempfile
import time

from ..client import submit_keepalive, wait_finished_count, wrk
from ..config import QUICK, ROUNDS
from ..daemon import Daemon
from ..pg import Postgres
from ..report import results, row, summary
from .search import time_search_queries


def bench_postgres():
    print("15. PostgreSQL store (a local server over its Unix socket, fsync on) against SQLite (--sync full)", flush=True)
    pg = Postgres()
    try:
        env = {"JR_BODY": '{"job_type":"countdown","params":{"seconds":60}}'}
        got = {"sqlite": [], "postgresql": []}
        for i in range(ROUNDS):
            for name in (["sqlite", "postgresql"] if i % 2 == 0 else ["postgresql", "sqlite"]):
                tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
                db = os.path.join(tmp, "jobs.db") if name == "sqlite" else pg.new_database()
                d = Daemon("--db", db)
                try:
                    got[name].append(wrk(d.url + "/api/jobs", script="post.lua", env=env))
                finally:
                    d.stop()
                    shutil.rmtree(tmp, ignore_errors=True)
        ratio = summary([s / p for s, p in zip(got["sqlite"], got["postgresql"])])
        results["postgres enqueue"] = {"postgresql": summary(got["postgresql"]), "sqlite": summary(got["sqlite"]),
                                       "sqlite_over_postgresql": ratio}
        p = summary(got["postgresql"])
        row("POST /api/jobs, PostgreSQL", f"{p['median']:,.0f}/s; SQLite/PostgreSQL {ratio['median']:.2f} "
            f"(min {ratio['min']:.2f}, max {ratio['max']:.2f})")

        # Reads that go to the store: pages of history and one old job, 20,000 finished jobs.
        db = pg.new_database()
        d = Daemon("--db", db, "--concurrency", "8")
        try:
            n = 2_000 if QUICK else 20_000
            submit_keepalive(d.port, {"job_type": "prime", "params": {"limit": 10}}, n)
            wait_finished_count(d, n)
            for label, path in [("GET /api/jobs?status=completed&limit=100", "/api/jobs?status=completed&limit=100"),
                                ("GET /api/jobs?before_id=1000&limit=100", "/api/jobs?before_id=1000&limit=100")]:
                rps = wrk(d.url + path, connections=8)
                results[f"postgres {label}"] = rps
                row(f"{label}, PostgreSQL", f"{rps:,.0f}/s")
        finally:
            d.stop()
    finally:
        pg.close()


def bench_postgres_search():
    """Text search on PostgreSQL (the words column and its GIN index) with the
    queries of section 7b: GET /api/jobs?q=... over a database filled here."""
    n = 100_000 if QUICK else 1_000_000
    print(f"15b. History search on PostgreSQL: {n:,} jobs in the database", flush=True)
    pg = Postgres()
    try:
        db = pg.new_database()
        Daemon("--db", db).stop()  # creates the schema (its words column and indexes)
        name = db.split("/")[3].split("?")[0]
        # The rows of section 7b, made by the server. The words are the text's
        # lower-cased runs of letters and digits: what jobrunnerd writes
        # (JobSearch.tokens) for ASCII text like this.
        fill = f"""
            INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                              created_at, started_at, completed_at, sequence, queue, words)
            SELECT i, 'echo', p, CASE WHEN failed THEN 'failed' ELSE 'completed' END, 100, 'Complete',
                   CASE WHEN failed THEN NULL ELSE '{{"ok":true}}' END, e, 1764000000 + i, 1764000000 + i, 1764000001 + i, 4,
                   CASE WHEN i % 3 = 0 THEN 'reports' ELSE 'default' END,
                   array_to_tsvector(array_remove(regexp_split_to_array(lower(p || ' ' || COALESCE(e, '')), '[^a-z0-9]+'), ''))
            FROM (SELECT i, i % 10 = 0 AS failed,
                         '{{"message":"report ' || w[i % 10 + 1] || ' ' || w[(i / 10) % 10 + 1] || ' ' || i || '","delay":1}}' AS p,
                         CASE WHEN i % 10 = 0 THEN 'Exited with status 2: disk full on volume' || (i % 97) END AS e
                  FROM generate_series(1, {n}) AS i,
                       (SELECT ARRAY['alpha','bravo','charlie','delta','echo','foxtrot','golf','hotel','india','juliet'] AS w) AS words) AS r;
            UPDATE meta SET value = {n + 1} WHERE key = 'next_id';
            """
        t0 = time.perf_counter()
        # (VACUUM runs outside the fill's transaction: its own -c.)
        subprocess.run([pg.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.dir, "-U", "jobrunner", "-d", name,
                        "-c", fill, "-c", "VACUUM ANALYZE jobs"], check=True)
        fill_s = time.perf_counter() - t0
        row(f"fill {n:,} jobs with their words (psql)", f"{fill_s:.1f} s")
        d = Daemon("--db", db)
        try:
            figures = time_search_queries(d, n)
            figures["fill_s"] = fill_s
            p50, p99 = figures["p50_ms"], figures["p99_ms"]
            row(f"GET /api/jobs?q=... at {n:,} jobs, PostgreSQL (all but the prefix)", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
            results["postgres search"] = figures
        finally:
            d.stop()
    finally:
        pg.close()

