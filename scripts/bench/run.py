#!/usr/bin/env python3
"""`make bench`: JobRunner against the limit of its own HTTP layer, and the
performance targets. Prints a table and writes bench-results/results.json.

Shared machines are noisy: every comparison alternates A and B within one run and
is reported as a ratio with min, median and max; absolute figures carry that caveat."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("JOBRUNNERD") or os.path.join(ROOT, ".build/release/jobrunnerd")
ENGINE_BENCH = os.path.join(ROOT, ".build/release/jobrunner-bench")
HERE = os.path.join(ROOT, "scripts/bench")
OUT = os.path.join(ROOT, "bench-results")
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = 2 if QUICK else 5
SECONDS = 2 if QUICK else 3
CORES = os.cpu_count() or 2

results = {"machine": {"cores": CORES}, "rounds": ROUNDS, "seconds_per_run": SECONDS}
rows = []


def row(name, value, target="", verdict=""):
    rows.append((name, value, target, verdict))
    print(f"  {name:<48} {value:<40} {target:<18} {verdict}", flush=True)


def summary(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


# --- processes ---------------------------------------------------------------------------


class Daemon:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="jobrunner-bench-")
        args = list(args)
        if "--db" not in args:
            args += ["--db", ":memory:"]
        self.proc = subprocess.Popen([BIN, "--port", "0", "--www", os.path.join(ROOT, "www"), "--shutdown-grace", "0",
                                      "--threads", str(CORES), *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r":(\d+) \(", line)
        if not m:
            raise RuntimeError("daemon did not start: " + line)
        self.port = int(m.group(1))
        self.url = f"{'https' if 'listening on https' in line else 'http'}://127.0.0.1:{self.port}"
        # Keep reading the log (audit lines, one per submission): a full pipe would block the daemon.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def cpu_ticks(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wrk(url, seconds=SECONDS, script=None, env=None, connections=32):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if script:
        cmd[1:1] = ["-s", os.path.join(HERE, script)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    return rps


# --- 1. HTTP against the C program ---------------------------------------------------------


def bench_http():
    print("1. HTTP: jobrunnerd / minimal C server on libmicrohttpd (same bytes, same flags)", flush=True)
    baseline_bin = build_c("mhd_baseline")
    d = Daemon("--concurrency", "3")
    job = http("POST", d.url + "/api/jobs", {"job_type": "prime", "params": {"limit": 1000}})
    time.sleep(0.3)
    stats_bytes = urllib.request.urlopen(d.url + "/api/stats").read().decode()
    job_bytes = urllib.request.urlopen(f"{d.url}/api/jobs/{job['id']}").read().decode()
    c = subprocess.Popen([baseline_bin, "0", str(CORES), stats_bytes, job_bytes], stdout=subprocess.PIPE, text=True)
    c_port = int(c.stdout.readline().split()[-1])
    try:
        for name, path in [("GET /api/stats", "/api/stats"), ("GET /api/jobs/:id", f"/api/jobs/{job['id']}")]:
            ours, theirs, ratios = [], [], []
            for i in range(ROUNDS):
                pair = [("ours", d.port), ("c", c_port)]
                if i % 2:
                    pair.reverse()
                got = {who: wrk(f"http://127.0.0.1:{port}{path}") for who, port in pair}
                ours.append(got["ours"])
                theirs.append(got["c"])
                ratios.append(got["ours"] / got["c"])
            s = summary(ratios)
            results[f"http {name}"] = {"jobrunnerd_rps": summary(ours), "c_rps": summary(theirs), "ratio": s}
            row(f"{name} (32 conns, keep-alive)",
                f"{statistics.median(ours):,.0f}/s vs C {statistics.median(theirs):,.0f}/s",
                "ratio >= 0.85",
                f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f}) "
                + ("OK" if s["median"] >= 0.85 else "BELOW"))
    finally:
        c.send_signal(signal.SIGTERM)
        c.wait()
        d.stop()


# --- 2. Enqueue ------------------------------------------------------------------------------


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


# --- 3. Pickup latency ----------------------------------------------------------------------


def bench_pickup():
    print("3. Pickup latency: created -> started with an idle worker (server timestamps)", flush=True)
    samples = 300 if QUICK else 1000
    for name, args in [("memory", []), ("durable, --sync full", ["--db", "@"])]:
        tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
        args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
        d = Daemon(*args)
        try:
            for _ in range(samples):
                job = http("POST", d.url + "/api/jobs", {"job_type": "prime", "params": {"limit": 10}})
            deadline = time.time() + 30
            while http("GET", d.url + "/api/stats")["queue"]["completed"] < samples and time.time() < deadline:
                time.sleep(0.05)
            jobs = http("GET", f"{d.url}/api/jobs?limit={samples}")
            delays = sorted((j["started_at"] - j["created_at"]) * 1000 for j in jobs if j["started_at"])
            p50 = delays[len(delays) // 2]
            p99 = delays[int(len(delays) * 0.99) - 1]
            results[f"pickup {name}"] = {"p50_ms": p50, "p99_ms": p99, "samples": len(delays)}
            note = "" if name == "memory" else " (includes the commit's fsync)"
            ok = p50 <= 0.5 and p99 <= 2
            row(f"submit -> start, {name}", f"p50 {p50:.3f} ms, p99 {p99:.3f} ms{note}", "p50 <= 0.5, p99 <= 2 ms",
                "OK" if ok else ("BELOW" if name == "memory" else "bounded by fsync"))
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)


# --- 4. Engine throughput ------------------------------------------------------------------


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


# --- 5. Fan-out --------------------------------------------------------------------------------


def build_c(name):
    """Compiles one of the bench's C programs into a temporary folder."""
    out = os.path.join(tempfile.mkdtemp(), name)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmicrohttpd"], capture_output=True, text=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(HERE, name + ".c"), *flags], check=True)
    return out


def bench_fanout():
    ws_n, sse_n = (500, 500) if QUICK else (2000, 2000)
    print(f"5. Fan-out: {ws_n} WebSocket + {sse_n} SSE clients on one daemon (C client on epoll)", flush=True)
    client_bin = build_c("fanout")
    d = Daemon("--concurrency", "1", "--max-connections", "10000")
    try:
        idle_before = d.rss_kib()
        blocker = http("POST", d.url + "/api/jobs", {"job_type": "countdown", "params": {"seconds": 60}})
        job = http("POST", d.url + "/api/jobs", {"job_type": "countdown", "params": {"seconds": 2}})
        client = subprocess.Popen([client_bin, str(d.port), str(ws_n), str(sse_n), str(job["id"])],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        connected = int(client.stdout.readline().split()[-1])
        rss = d.rss_kib()
        per_conn = (rss - idle_before) * 1024 / max(1, connected)
        t0 = d.cpu_ticks()
        time.sleep(5)
        cpu = (d.cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK") / 5 * 100
        http("DELETE", f"{d.url}/api/jobs/{blocker['id']}")
        data = json.loads(client.stdout.readline())
        final = http("GET", f"{d.url}/api/jobs/{job['id']}")
        # Now nothing happens: the SSE streams have ended, the WebSockets stay open.
        time.sleep(1)
        t0 = d.cpu_ticks()
        time.sleep(5)
        idle_cpu = (d.cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK") / 5 * 100
        client.stdin.close()
        client.wait(30)
        started = sorted(t - final["started_at"] for t in data["ws_started"])
        completed = sorted(t - final["completed_at"] for t in data["ws_completed"] + data["sse_completed"])
        every = sorted(started + completed)
        pct = lambda v, q: v[min(len(v) - 1, int(len(v) * q))] * 1000
        results["fanout"] = {"websocket_clients": ws_n, "sse_clients": sse_n, "connected": connected,
                             "delay_ms": {"p50": pct(every, .5), "p99": pct(every, .99), "max": every[-1] * 1000,
                                          "job_started_ws_p99": pct(started, .99),
                                          "job_completed_ws_and_sse_p99": pct(completed, .99)},
                             "rss_kib": rss, "rss_per_connection_bytes": per_conn, "cpu_percent_connected": cpu,
                             "cpu_percent_idle_websockets_open": idle_cpu,
                             "deliveries": len(every)}
        row("event -> arrival at every client",
            f"p50 {pct(every, .5):.1f} ms, p99 {pct(every, .99):.1f} ms ({len(every)} deliveries)",
            "p99 <= 50 ms", "OK" if pct(every, .99) <= 50 else "BELOW")
        row("  job_started to all WebSockets", f"p99 {pct(started, .99):.1f} ms ({len(started)})")
        row("  completion to all WebSockets and SSE streams", f"p99 {pct(completed, .99):.1f} ms ({len(completed)})")
        row("RSS with all connected", f"{rss / 1024:.1f} MiB, {per_conn / 1024:.1f} KiB per connection", "< 64 KiB/conn",
            "OK" if per_conn < 64 * 1024 else "BELOW")
        row("CPU, all connected, 1 progress event/s to the WebSockets", f"{cpu:.2f}% of one core")
        row(f"CPU, idle, {ws_n} WebSockets open", f"{idle_cpu:.2f}% of one core", "0%", "OK" if idle_cpu < 0.5 else "BELOW")
    finally:
        d.stop()


# --- 6. Footprint ------------------------------------------------------------------------------


def bench_footprint():
    print("6. Footprint: RSS and time to serve", flush=True)
    starts = []
    for _ in range(5 if QUICK else 10):
        t0 = time.perf_counter()
        proc = subprocess.Popen([BIN, "--port", "0", "--db", ":memory:", "--www", os.path.join(ROOT, "www")],
                                stderr=subprocess.PIPE, text=True)
        port = int(re.search(r":(\d+) \(", proc.stderr.readline()).group(1))
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
        starts.append((time.perf_counter() - t0) * 1000)
        idle = rss_kib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    s = summary(starts)
    results["start_to_serving_ms"] = s
    results["rss_idle_kib"] = idle
    row("start -> first 200", f"{s['median']:.1f} ms (min {s['min']:.1f}, max {s['max']:.1f})", "<= 100 ms",
        "OK" if s["median"] <= 100 else "BELOW")
    row("RSS idle", f"{idle / 1024:.1f} MiB", "<= 15 MB", "OK" if idle <= 15 * 1000 else "BELOW")
    n = 20_000 if QUICK else 100_000
    for name, args in [("memory", []), ("durable", ["--db", "@"])]:
        tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
        args = [os.path.join(tmp, "jobs.db") if a == "@" else a for a in args]
        d = Daemon("--concurrency", "8", *args)
        try:
            while http("GET", d.url + "/api/stats")["queue"]["total"] < n:
                wrk(d.url + "/api/jobs", seconds=2, script="post.lua")
            deadline = time.time() + 120
            while http("GET", d.url + "/api/stats")["queue"]["pending"] + http("GET", d.url + "/api/stats")["queue"]["running"] > 0 \
                    and time.time() < deadline:
                time.sleep(0.2)
            total = http("GET", d.url + "/api/stats")["queue"]["total"]
            rss = d.rss_kib()
            results[f"rss_after_finished_{name}_kib"] = {"jobs": total, "rss_kib": rss}
            row(f"RSS after {total:,} finished jobs, {name}", f"{rss / 1024:.1f} MiB",
                "" if name == "memory" else "bounded", "")
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)


# --- 7. History at scale ------------------------------------------------------------------------


def bench_history():
    n = 100_000 if QUICK else 1_000_000
    print(f"7. History: {n:,} jobs in the database", flush=True)
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
    db = os.path.join(tmp, "jobs.db")
    d = Daemon("--db", db)  # creates the schema
    d.stop()
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
        row(f"start with {n:,} jobs (counters loaded)", f"{start_ms:.0f} ms")
        for label, path in [("GET /api/stats", "/api/stats"),
                            ("GET /api/jobs (newest 100)", "/api/jobs?limit=100"),
                            ("GET /api/jobs?status=failed&limit=100", "/api/jobs?status=failed&limit=100"),
                            ("GET /api/jobs?type=echo&limit=100 (counts type)", "/api/jobs?type=echo&limit=100"),
                            ("GET /api/jobs?before_id=500000&limit=100", "/api/jobs?before_id=500000&limit=100"),
                            ("GET /api/jobs/123456", "/api/jobs/123456")]:
            ms = timed(path)
            figures[label] = ms
            row(label, f"{ms:.2f} ms median")
        results["history"] = {"jobs": n, **figures}
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --- 7b. History search -----------------------------------------------------------------------


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


# --- 8. JSON parsing ---------------------------------------------------------------------------


def bench_json():
    print("8. JSON: parse time per key of one large object (linear: about the same at any size)", flush=True)
    per_key = {}
    for keys in (10_000, 80_000):
        out = subprocess.run([ENGINE_BENCH, "json", str(keys), "9" if QUICK else "21"],
                             capture_output=True, text=True, check=True).stdout
        f = json.loads(out)
        per_key[keys] = f
        row(f"object of {keys:,} keys ({f['bytes'] / 1e6:.2f} MB)",
            f"{f['ns_per_key']:.0f} ns/key: jansson {f['jansson_ns_per_key']:.0f}, to JSONValue {f['convert_ns_per_key']:.0f}")
    # A scan per key (quadratic) would make the conversion 8x slower per key at 8x
    # the keys; cache misses alone (the 80k-key tables outgrow the caches) make it
    # 1.3-2.6x slower on the development machine.
    ratio = per_key[80_000]["convert_ns_per_key"] / per_key[10_000]["convert_ns_per_key"]
    row("to JSONValue, per key at 80k / at 10k", f"{ratio:.2f}", "< 4 (quadratic: 8)", "OK" if ratio < 4 else "NOT LINEAR")
    # The same hostile body against the API: refused (more than 10,000 members)
    # after one linear parse, instead of holding a libmicrohttpd thread for seconds.
    body = ("{" + ",".join(f'"{i:x}":1' for i in range(80_000)) + "}").encode()
    d = Daemon()
    try:
        times = []
        for _ in range(5 if QUICK else 21):
            req = urllib.request.Request(d.url + "/api/jobs", data=body, method="POST")
            start = time.perf_counter()
            try:
                urllib.request.urlopen(req, timeout=30)
                raise RuntimeError("an 80,000-key body was accepted")
            except urllib.error.HTTPError as e:
                if e.code != 400:
                    raise
            times.append(time.perf_counter() - start)
        s = summary([t * 1000 for t in times])
        results["json"] = {"per_key": per_key, "convert_per_key_ratio": ratio, "post_80k_keys_ms": s}
        row(f"POST /api/jobs, 80,000 keys ({len(body) / 1e6:.2f} MB) -> 400", f"{s['median']:.1f} ms median (max {s['max']:.1f})")
    finally:
        d.stop()


# --- 8. Dashboards on a long queue -----------------------------------------------------------


def read_queue_state(sock):
    """Reads the handshake answer and the first text message (queue_state); returns its size."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("handshake failed")
        buf += chunk
    buf = buf.split(b"\r\n\r\n", 1)[1]

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection ended")
            buf += chunk

    while True:
        need(2)
        opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
        head = 2
        if n == 126:
            need(4)
            n, head = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            need(10)
            n, head = int.from_bytes(buf[2:10], "big"), 10
        need(head + n)
        payload, buf = buf[head:head + n], buf[head + n:]
        if opcode == 0x1 and payload.startswith(b'{"type":"queue_state"'):
            return len(payload)


def bench_dashboards():
    n, clients = 200_000, 100
    print(f"8. Dashboards: {clients} WebSocket clients receiving queue_state with {n:,} pending jobs", flush=True)
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
    db = os.path.join(tmp, "jobs.db")
    d = Daemon("--db", db)  # creates the schema
    d.stop()
    import sqlite3
    conn = sqlite3.connect(db)
    conn.execute("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                          created_at, started_at, completed_at, sequence)
        SELECT i, 'countdown', '{"seconds":60}', 'pending', 0, 'Queued', NULL, NULL, 1764000000 + i, NULL, NULL, 0
        FROM n""", (n,))
    conn.commit()
    conn.close()
    d = Daemon("--db", db, "--concurrency", "1")
    socks = []
    try:
        while http("GET", d.url + "/api/stats")["queue"]["running"] < 1:
            time.sleep(0.05)
        before = d.rss_kib()
        t0 = time.perf_counter()
        for _ in range(clients):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
            s.sendall(b"GET /ws/queue HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            socks.append(s)
        sizes = [read_queue_state(s) for s in socks]
        elapsed = (time.perf_counter() - t0) * 1000
        after = d.rss_kib()
        results["dashboards"] = {"pending_jobs": n, "clients": clients, "queue_state_bytes": sizes[0],
                                 "rss_before_kib": before, "rss_with_clients_kib": after,
                                 "all_states_received_ms": elapsed}
        row(f"RSS, {n:,} pending, no clients", f"{before / 1024:.1f} MiB")
        row(f"RSS, {n:,} pending, {clients} dashboards", f"{after / 1024:.1f} MiB (+{(after - before) / 1024:.1f} MiB)",
            "bounded", "OK" if after - before < 64 * 1024 else "BELOW")
        row("  queue_state size / all received", f"{sizes[0] / 1024:.0f} KiB / {elapsed:.0f} ms")
    finally:
        for s in socks:
            s.close()
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --- 10. Command jobs ---------------------------------------------------------------------------


def write_command_types(directory, types):
    os.makedirs(directory, exist_ok=True)
    for name, definition in types.items():
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            json.dump({"name": name, **definition}, f)


def submit_keepalive(port, body, n, connections=4):
    """POSTs `body` n times over `connections` keep-alive connections; every answer must be 201."""
    import http.client
    import threading
    payload = json.dumps(body)
    errors = []

    def client(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(count):
                conn.request("POST", "/api/jobs", payload, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 201:
                    errors.append(r.status)
        finally:
            conn.close()

    share = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=client, args=(c,)) for c in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} submissions refused: {errors[:5]}")


def wait_finished_count(d, n, timeout=300):
    """Polls /api/stats until n jobs are finished; fails if any failed."""
    deadline = time.monotonic() + timeout
    while True:
        q = http("GET", d.url + "/api/stats")["queue"]
        if q["failed"] or q["cancelled"]:
            raise RuntimeError(f"command jobs failed: {q}")
        if q["completed"] >= n:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {q['completed']} of {n} jobs completed in {timeout} s")
        time.sleep(0.005)


def run_job(d, body, timeout=600):
    """Submits one job, waits for its end; the server's run time (completed_at - started_at)."""
    job = http("POST", d.url + "/api/jobs", body)
    deadline = time.monotonic() + timeout
    while True:
        j = http("GET", f"{d.url}/api/jobs/{job['id']}")
        if j["status"] in ("completed", "failed", "cancelled"):
            if j["status"] != "completed":
                raise RuntimeError(f"job ended {j['status']}: {j.get('error')}")
            return j["completed_at"] - j["started_at"]
        if time.monotonic() > deadline:
            raise RuntimeError("job did not finish")
        time.sleep(0.01)


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


# --- 11. Dependable jobs ------------------------------------------------------------------------


def submit_collect(port, bodies, connections=4):
    """POSTs each body over keep-alive connections; the 201 answers (job JSON), in no particular order."""
    import http.client
    import threading
    out, errors = [], []

    def client(mine):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for body in mine:
                conn.request("POST", "/api/jobs", json.dumps(body), {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 201:
                    errors.append(r.status)
                else:
                    out.append(json.loads(data))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(bodies[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} submissions refused: {errors[:5]}")
    return out


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



# --- Schedules ----------------------------------------------------------------------------


def bench_schedules():
    print("13. Schedules: 10,000 loaded (100 of them every minute): start time, idle CPU, firing lag", flush=True)
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-sched-")
    db = os.path.join(tmp, "jobs.db")
    try:
        d = Daemon("--db", db)
        import concurrent.futures
        def put(i):
            cron = "* * * * *" if i < 100 else f"{i % 60} {i % 24} 1 1 *"
            http("PUT", f"{d.url}/api/schedules/s{i:05d}", {"cron": cron, "timezone": "Europe/Berlin" if i % 2 else "UTC",
                                                              "job_type": "echo", "params": {"message": f"s{i}", "delay": 1},
                                                              "overlap": "allow"})
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(10_000)))
        d.stop()
        started = time.perf_counter()
        d = Daemon("--db", db, "--concurrency", "200")
        start_ms = (time.perf_counter() - started) * 1000
        row("start with 10,000 schedules", f"{start_ms:.0f} ms to listening", "fast")
        # Idle: no slot due in the next few seconds (run between minute boundaries).
        while not 3 < time.time() % 60 < 50:
            time.sleep(0.2)
        before = d.cpu_ticks()
        time.sleep(5)
        idle = d.cpu_ticks() - before
        row("idle CPU over 5 s", f"{idle} ticks ({idle / 5:.0f}% of a core)", "0 %", "OK" if idle == 0 else "ABOVE")
        row("RSS with 10,000 schedules", f"{d.rss_kib() / 1024:.1f} MiB")
        # Wait for the next minute's 100 firings.
        slot = (int(time.time()) // 60 + 1) * 60
        while time.time() < slot + 3:
            time.sleep(0.5)
        jobs = http("GET", f"{d.url}/api/jobs?limit=1000")
        lags = sorted((j["created_at"] - slot) * 1000 for j in jobs if j.get("schedule") and abs(j["created_at"] - slot) < 30)
        if lags:
            p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            row(f"firing lag past the slot ({len(lags)} schedules due at once)", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                "p99 <= 10 ms", "OK" if p99 <= 10 else "ABOVE")
        d.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

# --- auth: bearer tokens and TLS ----------------------------------------------------------------


def bench_auth():
    """GET /api/stats with a bearer token (tokens required) vs an open daemon, and over TLS vs plain."""
    print("auth: GET /api/stats with a bearer token vs without; over TLS vs plain", flush=True)
    work = tempfile.mkdtemp(prefix="jobrunner-bench-auth-")
    token, entry = subprocess.run([BIN, "token", "new", "bench", "--scopes", "read"], capture_output=True, text=True,
                                  check=True).stdout.splitlines()
    config = os.path.join(work, "c.json")
    with open(config, "w") as f:
        f.write('{"tokens": [%s]}' % entry)
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    plain, secured, tls = Daemon(), Daemon("--config", config), Daemon("--tls-cert", cert, "--tls-key", key)
    try:
        def compare(name, a, b, target=None):
            got_a, got_b, ratios = [], [], []
            for i in range(ROUNDS):
                order = [("a", a), ("b", b)] if i % 2 == 0 else [("b", b), ("a", a)]
                got = {who: wrk(url, env=env, script=script) for who, (url, env, script) in order}
                got_a.append(got["a"])
                got_b.append(got["b"])
                ratios.append(got["a"] / got["b"])
            s = summary(ratios)
            results[f"auth {name}"] = {"a_rps": summary(got_a), "b_rps": summary(got_b), "ratio": s}
            verdict = f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})"
            if target:
                verdict += " OK" if s["median"] >= target else " BELOW"
            row(name, f"{statistics.median(got_a):,.0f}/s vs {statistics.median(got_b):,.0f}/s",
                f"ratio >= {target}" if target else "reported", verdict)

        compare("GET /api/stats, bearer token / open", (secured.url + "/api/stats", {"WRK_TOKEN": token}, "bearer.lua"),
                (plain.url + "/api/stats", None, None), target=0.95)
        compare("GET /api/stats, TLS / plain", (tls.url + "/api/stats", None, None), (plain.url + "/api/stats", None, None))
    finally:
        for d in (plain, secured, tls):
            d.stop()
        shutil.rmtree(work, ignore_errors=True)

# --- webhooks: delivery throughput, and the queue with a hanging receiver ----------------------


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
                deadline = time.monotonic() + 300
                while True:
                    got = http("GET", f"http://127.0.0.1:{port}/count")
                    if got["count"] >= n or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                d.stop()
                if got["count"] < n:
                    raise RuntimeError(f"only {got['count']} of {n} deliveries arrived")
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
                    deadline = time.monotonic() + 300
                    while True:
                        got = http("GET", f"http://127.0.0.1:{port}/count")
                        if got["count"] >= n or time.monotonic() > deadline:
                            break
                        time.sleep(0.01)
                    d.stop()
                    if got["count"] < n:
                        raise RuntimeError(f"only {got['count']} of {n} deliveries arrived")
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


def bench_openapi():
    """GET /api/openapi.json (served from the bytes cached per set of job types) vs GET /api/job-types, with 50 command types."""
    print("openapi: GET /api/openapi.json (cached document) vs GET /api/job-types, 54 job types", flush=True)
    work = tempfile.mkdtemp(prefix="jobrunner-bench-openapi-")
    params = {"name": {"type": "string", "required": True, "max_length": 64, "pattern": "^[a-z0-9_]+$"},
              "level": {"type": "integer", "default": 1, "min": 1, "max": 9},
              "mode": {"type": "string", "enum": ["full", "diff"], "default": "full"}}
    write_command_types(work, {f"type{i:02d}": {"command": ["/bin/true"], "params": params} for i in range(50)})
    d = Daemon("--job-types-dir", work)
    try:
        doc_bytes = len(urllib.request.urlopen(d.url + "/api/openapi.json", timeout=30).read())
        types_bytes = len(urllib.request.urlopen(d.url + "/api/job-types", timeout=30).read())
        got_doc, got_types, ratios = [], [], []
        for i in range(ROUNDS):
            pair = [("doc", "/api/openapi.json"), ("types", "/api/job-types")]
            got = {who: wrk(d.url + path) for who, path in (pair if i % 2 == 0 else pair[::-1])}
            got_doc.append(got["doc"])
            got_types.append(got["types"])
            ratios.append(got["doc"] * doc_bytes / (got["types"] * types_bytes))
        s = summary(ratios)
        results["openapi"] = {"doc_bytes": doc_bytes, "types_bytes": types_bytes, "doc_rps": summary(got_doc),
                              "types_rps": summary(got_types), "bytes_ratio": s}
        row(f"GET /api/openapi.json ({doc_bytes:,} B) vs /api/job-types ({types_bytes:,} B)",
            f"{statistics.median(got_doc):,.0f}/s vs {statistics.median(got_types):,.0f}/s", "reported",
            f"bytes/s ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})")
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


def bench_metrics():
    """GET /api/stats and POST /api/jobs with metrics on (the default) vs --metrics off: what counting costs."""
    print("metrics: GET /api/stats and POST /api/jobs with metrics on vs --metrics off", flush=True)
    on, off = Daemon(), Daemon("--metrics", "off")
    try:
        got_on, got_off, ratios = [], [], []
        for i in range(ROUNDS):
            order = [("on", on), ("off", off)] if i % 2 == 0 else [("off", off), ("on", on)]
            got = {who: wrk(d.url + "/api/stats") for who, d in order}
            got_on.append(got["on"])
            got_off.append(got["off"])
            ratios.append(got["on"] / got["off"])
        s = summary(ratios)
        results["metrics GET /api/stats on/off"] = {"on_rps": summary(got_on), "off_rps": summary(got_off), "ratio": s}
        row("GET /api/stats, metrics on / off", f"{statistics.median(got_on):,.0f}/s vs {statistics.median(got_off):,.0f}/s",
            "ratio >= 0.97", f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})"
            + (" OK" if s["median"] >= 0.97 else " BELOW"))
        scrape = []
        for _ in range(20):
            t = time.perf_counter()
            with urllib.request.urlopen(on.url + "/metrics", timeout=30) as r:
                size = len(r.read())
            scrape.append((time.perf_counter() - t) * 1000)
        results["metrics scrape ms"] = summary(scrape)
        row("GET /metrics (one scrape, idle daemon)", f"{statistics.median(scrape):.2f} ms, {size:,} bytes", "reported")
    finally:
        on.stop()
        off.stop()
    # Submissions: fresh daemons per round (the pending jobs pile up), in memory.
    env = {"JR_BODY": '{"job_type":"countdown","params":{"seconds":60}}'}
    got = {"on": [], "off": []}
    for i in range(ROUNDS):
        for who in (["on", "off"] if i % 2 == 0 else ["off", "on"]):
            d = Daemon() if who == "on" else Daemon("--metrics", "off")
            try:
                got[who].append(wrk(d.url + "/api/jobs", script="post.lua", env=env))
            finally:
                d.stop()
    s = summary([a / b for a, b in zip(got["on"], got["off"])])
    results["metrics POST /api/jobs on/off"] = {"on_rps": summary(got["on"]), "off_rps": summary(got["off"]), "ratio": s}
    row("POST /api/jobs (memory), metrics on / off",
        f"{statistics.median(got['on']):,.0f}/s vs {statistics.median(got['off']):,.0f}/s", "reported",
        f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})")
    # The engine alone (no HTTP): the queue's job figures on vs off.
    n = 100_000 if QUICK else 200_000
    got = {"on": [], "off": []}
    for i in range(ROUNDS):
        for who in (["on", "off"] if i % 2 == 0 else ["off", "on"]):
            args = [ENGINE_BENCH, str(n), "16"] + (["metrics"] if who == "on" else [])
            got[who].append(json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)["jobs_per_second"])
    s = summary([a / b for a, b in zip(got["on"], got["off"])])
    results["metrics engine on/off"] = {"on": summary(got["on"]), "off": summary(got["off"]), "ratio": s}
    row(f"engine, {n:,} no-op jobs, metrics on / off",
        f"{statistics.median(got['on']):,.0f} vs {statistics.median(got['off']):,.0f} jobs/s", "reported",
        f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})")


# --- PostgreSQL ----------------------------------------------------------------------------


class Postgres:
    """A throwaway cluster (scripts/pg-throwaway, fsync on to compare with SQLite's);
    closing its stdin stops it and removes its directory."""

    def __init__(self):
        self.proc = subprocess.Popen(["/bin/sh", os.path.join(ROOT, "scripts", "pg-throwaway")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, "PG_THROWAWAY_FSYNC": "on"})
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError("the throwaway PostgreSQL did not start")
        self.dir = line.split(" ", 1)[1].strip()
        self.psql = os.path.join(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1], "psql")
        self.count = 0

    def new_database(self):
        self.count += 1
        name = f"bench_{self.count}"
        subprocess.run([self.psql, "-X", "-q", "-h", self.dir, "-U", "jobrunner", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True)
        return f"postgresql:///{name}?host={self.dir}&user=jobrunner"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(60)


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


def main():
    for tool in ("wrk", "gcc", "pkg-config"):
        if not shutil.which(tool):
            sys.exit(f"bench needs {tool} (make deps installs it)")
    print(f"JobRunner benchmarks on {CORES} cores; {ROUNDS} alternating rounds of {SECONDS} s "
          "(shared machines are noisy: read ratios, not absolutes)\n", flush=True)


    sections = sys.argv[1:] or ["http", "enqueue", "pickup", "engine", "fanout", "footprint", "history", "search", "json", "dashboards", "schedules",
                                    "commands", "dependable", "auth", "openapi", "webhooks", "metrics", "postgres",
                                    "postgres_search", "cluster"]
    for name in sections:
        globals().get(f"bench_{name}", globals().get(name))()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"results": results, "rows": rows}, f, indent=2)
    print(f"\nwrote {os.path.join(OUT, 'results.json')}")


if __name__ == "__main__":
    main()
