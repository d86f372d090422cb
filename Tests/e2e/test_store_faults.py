"""The store under faults, from outside: retention keeps the same jobs in memory and
in the file, a second daemon on one file is refused, a failed commit changes
nothing, and a database deleted under the daemon is noticed."""
import os
import resource
import subprocess
import tempfile

import requests

from conftest import BINARY
from test_rest import submit
from waits import recv_until, wait_for


def new_db():
    return os.path.join(tempfile.mkdtemp(prefix="jobrunner-faults-"), "jobs.db")


def stats(d):
    return requests.get(f"{d.url}/api/stats").json()["queue"]


def listed(d, query=""):
    return [j["id"] for j in requests.get(f"{d.url}/api/jobs?limit=1000{query}").json()]


def test_retain_by_count_keeps_the_newest_by_id_in_memory_and_file(start_daemon):
    d = start_daemon("--concurrency", "4")
    # Job 1 finishes last, so by completion time it is the newest.
    first = submit(d.url, "countdown", seconds=3)
    submit(d.url, "prime", limit=10)
    submit(d.url, "prime", limit=10)
    submit(d.url, "echo", message="late", delay=1)
    wait_for(lambda: stats(d)["completed"] == 4, timeout=30)
    d.stop()
    d = start_daemon("--db", d.db, "--retain-finished", "2")
    wait_for(lambda: stats(d)["completed"] == 2)
    assert listed(d) == [3, 4]
    assert requests.get(f"{d.url}/api/jobs/{first['id']}").status_code == 404
    assert stats(d)["total"] == 2
    d.stop()
    d = start_daemon("--db", d.db)
    assert listed(d) == [3, 4]
    assert stats(d)["completed"] == 2


def test_a_second_daemon_on_the_same_database_refuses_to_start(start_daemon):
    d = start_daemon()
    job = submit(d.url, "echo", message="mine")
    r = subprocess.run([BINARY, "--port", "0", "--db", d.db], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert d.db in r.stderr and "another jobrunnerd" in r.stderr and f"pid {d.proc.pid}" in r.stderr
    # The first daemon's jobs are untouched and it goes on.
    assert requests.get(f"{d.url}/api/jobs/{job['id']}").status_code == 200
    assert submit(d.url, "echo", message="still mine")["id"] == job["id"] + 1


def test_a_failed_commit_changes_nothing_and_counters_agree_once_the_fault_clears(start_daemon):
    db = new_db()
    # Room for the schema (with the search index of version 5) and a few
    # commits in the WAL, then every write fails.
    limit = 512 * 1024

    def limit_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    d = start_daemon("--db", db, "--concurrency", "1", preexec_fn=limit_files)
    blocker = submit(d.url, "countdown", seconds=60)
    acknowledged = []
    big = "x" * 200
    with requests.Session() as s:
        for _ in range(3000):
            r = s.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": big}})
            if r.status_code != 201:
                assert r.status_code == 503
                break
            acknowledged.append(r.json()["id"])
    assert len(acknowledged) > 2, "the size limit was never reached"
    before = stats(d)

    # Every change a client asks for is refused, and refused means not done.
    victim = acknowledged[-1]
    r = requests.delete(f"{d.url}/api/jobs/{victim}")
    assert r.status_code == 503 and r.json()["error"].startswith("Storage unavailable: ")
    assert requests.get(f"{d.url}/api/jobs/{victim}").json()["status"] == "pending"
    r = requests.post(f"{d.url}/api/jobs/clear-completed")
    assert r.status_code == 503
    assert stats(d) == before
    assert any("storage failing" in line for line in d.log)

    # The disk has room again: the same requests now work, and memory, counters
    # and file agree.
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    wait_for(lambda: requests.delete(f"{d.url}/api/jobs/{victim}").status_code == 200, timeout=30, interval=0.2)
    assert requests.get(f"{d.url}/api/jobs/{victim}").json()["status"] == "cancelled"
    wait_for(lambda: any("storage recovered" in line for line in d.log))
    # The blocker holds the only slot, so nothing moves while the counters are
    # compared with what the file holds.
    after = stats(d)
    assert after["cancelled"] == 1 and after["running"] == 1
    for status in ("pending", "running", "completed", "failed", "cancelled"):
        r = requests.get(f"{d.url}/api/jobs?status={status}&limit=1")
        assert int(r.headers["X-Total-Count"]) == after[status], status
    assert requests.delete(f"{d.url}/api/jobs/{blocker['id']}").status_code == 200
    d.stop()
    d = start_daemon("--db", db)
    assert stats(d)["cancelled"] == 2
    assert requests.get(f"{d.url}/api/jobs/{victim}").json()["status"] == "cancelled"


def test_a_database_deleted_under_the_daemon_is_noticed(start_daemon):
    d = start_daemon()
    job = submit(d.url, "countdown", seconds=60)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{job['id']}").json()["status"] == "running")
    os.unlink(d.db)
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": "after"}})
    assert r.status_code == 503
    assert "was deleted" in r.json()["error"]
    assert requests.delete(f"{d.url}/api/jobs/{job['id']}").status_code == 503
    assert requests.get(f"{d.url}/api/jobs/{job['id']}").json()["status"] == "running"
    wait_for(lambda: any("storage failing" in line and "was deleted" in line for line in d.log))


def test_a_prune_is_broadcast_so_dashboards_can_follow(start_daemon, tmp_path):
    import json
    import signal as signals
    from websockets.sync.client import connect

    config = tmp_path / "jobrunner.json"
    config.write_text(json.dumps({"db": new_db()}))
    d = start_daemon("--config", str(config))
    for _ in range(3):
        submit(d.url, "prime", limit=10)
    wait_for(lambda: stats(d)["completed"] == 3)
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "queue_state"
        config.write_text(json.dumps({"db": d.db, "retain-finished": "1"}))
        d.proc.send_signal(signals.SIGHUP)
        message, _ = recv_until(ws, lambda m: m["type"] == "jobs_pruned", what="jobs_pruned after SIGHUP")
    assert message["data"] == {"count": 2, "completed": 2, "failed": 0, "cancelled": 0}
    assert stats(d)["completed"] == 1
    assert listed(d) == [3]


def test_readyz_fails_once_the_database_is_deleted(start_daemon):
    d = start_daemon()
    assert requests.get(f"{d.url}/healthz").json() == {"status": "ok"}
    assert requests.get(f"{d.url}/readyz").json() == {"status": "ready"}
    os.unlink(d.db)
    requests.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": "x"}})
    r = requests.get(f"{d.url}/readyz")
    assert r.status_code == 503
    assert "was deleted" in r.json()["error"]
    assert requests.get(f"{d.url}/healthz").status_code == 200


def test_readyz_fails_while_draining(start_daemon):
    import signal as signals
    d = start_daemon("--shutdown-grace", "30")
    job = submit(d.url, "countdown", seconds=30)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{job['id']}").json()["status"] == "running")
    d.proc.send_signal(signals.SIGTERM)
    wait_for(lambda: requests.get(f"{d.url}/readyz").status_code == 503)
    assert requests.get(f"{d.url}/readyz").json()["reasons"] == ["shutting down"]
    d.proc.send_signal(signals.SIGTERM)  # a second signal ends the grace period
    assert d.proc.wait(timeout=15) == 0
