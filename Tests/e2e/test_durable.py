"""Durable jobs from outside: kill -9 and restart, storage failures, history pages."""
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading

import requests

from conftest import BINARY, Daemon
from test_rest import submit
from waits import join, wait_for


def new_db():
    return os.path.join(tempfile.mkdtemp(prefix="jobrunner-durable-"), "jobs.db")


def test_every_acknowledged_job_survives_kill_9(start_daemon):
    db = new_db()
    acknowledged = {}
    lock = threading.Lock()
    for round_ in range(3):
        d = start_daemon("--db", db, "--concurrency", "2")
        stop = threading.Event()

        def client(n):
            with requests.Session() as s:
                i = 0
                while not stop.is_set():
                    message = f"r{round_}-c{n}-{i}"
                    try:
                        r = s.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": message, "delay": 30}}, timeout=5)
                    except requests.RequestException:
                        return  # the daemon died mid-request: not acknowledged
                    if r.status_code == 201:
                        with lock:
                            acknowledged[r.json()["id"]] = message
                    i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acknowledged) >= 50 * (round_ + 1), timeout=30, interval=0.01)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=15)
        stop.set()
        join(threads, 30, "the submitting clients")

    d = start_daemon("--db", db)
    jobs = []
    url = f"{d.url}/api/jobs?limit=10000"
    while url:
        r = requests.get(url)
        jobs += r.json()
        link = r.headers.get("Link")
        url = d.url + link[1:link.index(">")] if link else None
    by_id = {}
    for j in jobs:
        assert j["id"] not in by_id, "a job listed twice"
        by_id[j["id"]] = j
    missing = [i for i in acknowledged if i not in by_id]
    assert missing == [], f"{len(missing)} acknowledged jobs lost"
    for job_id, message in acknowledged.items():
        assert by_id[job_id]["params"] == {"message": message, "delay": 30}
    statuses = {j["status"] for j in jobs}
    assert statuses <= {"pending", "running", "failed"}
    interrupted = [j for j in jobs if j["status"] == "failed"]
    assert interrupted and all(j["error"] == "Interrupted: the daemon stopped while this job was running" for j in interrupted)
    assert int(requests.get(url or f"{d.url}/api/jobs?limit=1").headers["X-Total-Count"]) == len(jobs)


def test_pending_jobs_resume_in_order_after_restart(start_daemon):
    db = new_db()
    d = start_daemon("--db", db, "--concurrency", "1")
    blocker = submit(d.url, "countdown", seconds=60)
    waiting = [submit(d.url, "prime", limit=10)["id"] for _ in range(5)]
    assert d.stop() == 0
    d = start_daemon("--db", db, "--concurrency", "1")
    assert requests.get(f"{d.url}/api/jobs/{blocker['id']}").json()["status"] == "failed"
    wait_for(lambda: all(requests.get(f"{d.url}/api/jobs/{i}").json()["status"] == "completed" for i in waiting))
    started = [requests.get(f"{d.url}/api/jobs/{i}").json()["started_at"] for i in waiting]
    assert started == sorted(started), "FIFO after restart"
    assert requests.post(f"{d.url}/api/jobs/clear-completed").json()["cleared"] == 6
    d.stop()
    d = start_daemon("--db", db)
    assert submit(d.url, "prime", limit=10)["id"] == waiting[-1] + 1, "ids are never reused"


def test_start_refuses_a_corrupt_or_newer_database():
    db = new_db()
    with open(db, "w") as f:
        f.write("garbage " * 1000)
    r = subprocess.run([BINARY, "--port", "0", "--db", db], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert db in r.stderr and "not a database" in r.stderr
    db = new_db()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 42")
    conn.close()
    r = subprocess.run([BINARY, "--port", "0", "--db", db], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "schema version 42 is newer" in r.stderr


def test_disk_full_answers_503_and_loses_nothing(start_daemon):
    db = new_db()
    # A file-size limit: SQLite's writes fail as on a full disk once the WAL grows
    # past it (room for the schema, its search index and some jobs first).
    limit = 512 * 1024

    def limit_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    d = start_daemon("--db", db, "--concurrency", "1", preexec_fn=limit_files)
    blocker = submit(d.url, "countdown", seconds=60)
    acknowledged = []
    refused = None
    big = "x" * 200
    with requests.Session() as s:
        for _ in range(3000):
            r = s.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": big}})
            if r.status_code == 201:
                acknowledged.append(r.json()["id"])
            else:
                refused = r
                break
    assert refused is not None, "the size limit was never reached"
    assert acknowledged, "the size limit left no room for a single job"
    assert refused.status_code == 503
    assert refused.json()["error"].startswith("Storage unavailable: ")
    # Reads keep working while writes fail.
    assert requests.get(f"{d.url}/api/stats").status_code == 200
    assert requests.get(f"{d.url}/api/jobs/{acknowledged[-1]}").json()["status"] == "pending"
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    d = start_daemon("--db", db)
    for job_id in [blocker["id"]] + acknowledged[-50:]:
        assert requests.get(f"{d.url}/api/jobs/{job_id}").status_code == 200


def test_history_pages_and_filters(start_daemon):
    d = start_daemon("--concurrency", "1")
    submit(d.url, "countdown", seconds=60)
    with requests.Session() as s:
        for i in range(40):
            s.post(f"{d.url}/api/jobs", json={"job_type": "echo" if i % 2 else "fibonacci", "params": {}})
    r = requests.get(f"{d.url}/api/jobs?limit=10")
    ids = [j["id"] for j in r.json()]
    assert ids == list(range(32, 42))
    assert r.headers["X-Total-Count"] == "41"
    assert r.headers["Link"] == '</api/jobs?limit=10&before_id=32&order=asc>; rel="next"'
    older = requests.get(f"{d.url}/api/jobs?limit=10&before_id=32").json()
    assert [j["id"] for j in older] == list(range(22, 32))
    r = requests.get(f"{d.url}/api/jobs?after_id=35&order=desc&type=echo")
    assert [j["id"] for j in r.json()] == [41, 39, 37]
    assert r.headers["X-Total-Count"] == "20"
    r = requests.get(f"{d.url}/api/jobs?status=running")
    assert [j["id"] for j in r.json()] == [1] and r.headers["X-Total-Count"] == "1"
    for bad in ("limit=0", "limit=10001", "limit=x", "status=nope", "order=up", "after_id=-1"):
        r = requests.get(f"{d.url}/api/jobs?{bad}")
        assert r.status_code == 400 and "error" in r.json(), bad


def test_queue_state_holds_at_most_1000_finished(start_daemon):
    from websockets.sync.client import connect
    import json
    d = start_daemon()
    with requests.Session() as s:
        for _ in range(1100):
            s.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
    wait_for(lambda: requests.get(f"{d.url}/api/stats").json()["queue"]["completed"] == 1100)
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        state = json.loads(ws.recv(timeout=10))
    assert len(state["jobs"]) == 1000
    assert state["stats"]["completed"] == 1100 and state["truncated"] is True
    # The snapshot holds the 1,000 most recently finished, in id order. Jobs run
    # side by side may finish out of id order, so which 100 are left out is
    # read from the jobs' own completion times, not assumed to be ids 1-100.
    ids = [j["id"] for j in state["jobs"]]
    assert ids == sorted(ids) and ids[-1] == 1100
    everything = requests.get(f"{d.url}/api/jobs", params={"limit": 2000}).json()
    done = {j["id"]: j["completed_at"] for j in everything}
    left_out = set(done) - set(ids)
    assert len(left_out) == 100
    assert max(done[i] for i in left_out) <= min(done[i] for i in ids)


def test_retain_finished_by_count(start_daemon):
    d = start_daemon("--retain-finished", "5")
    for _ in range(12):
        submit(d.url, "prime", limit=10)
    wait_for(lambda: requests.get(f"{d.url}/api/stats").json()["queue"]["completed"] == 12)
    d.stop()
    d = start_daemon("--db", d.db, "--retain-finished", "5")
    wait_for(lambda: requests.get(f"{d.url}/api/stats").json()["queue"]["completed"] == 5)
    assert [j["id"] for j in requests.get(f"{d.url}/api/jobs").json()] == list(range(8, 13))


def test_memory_mode_still_works(start_daemon):
    d = start_daemon("--db", ":memory:")
    job = submit(d.url, "prime", limit=10)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{job['id']}").json()["status"] == "completed")


def test_start_refuses_a_read_only_database():
    # Root may write anything, so the daemon runs as nobody on a file it may only read.
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed"
    folder = tempfile.mkdtemp(prefix="jobrunner-ro-")
    os.chmod(folder, 0o755)
    db = os.path.join(folder, "jobs.db")
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    os.chmod(db, 0o644)
    r = subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", BINARY, "--port", "0",
                        "--db", db], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert f"cannot use database {db}" in r.stderr and "read-only" in r.stderr
