"""The daemon on PostgreSQL (`--db postgresql://...`), against a throwaway cluster
the tests start themselves: jobs run and survive a restart of the daemon, the
password never reaches the log, and a PostgreSQL restart under load answers 503
while it is down, then reconnects with nothing acknowledged lost."""
import subprocess
import threading

import requests

from conftest import BINARY
from test_rest import finished, submit, wait_for


def all_jobs(d):
    jobs = []
    url = f"{d.url}/api/jobs?limit=1000"
    while url:
        r = requests.get(url)
        assert r.status_code == 200, r.text
        jobs += r.json()
        link = r.headers.get("Link")
        url = d.url + link[1:link.index(">")] if link else None
    return jobs


def test_jobs_run_and_survive_a_restart_on_postgresql(postgres, start_daemon):
    url = postgres.new_database(password="hunter2")  # trust auth: never asked for, but must never be logged
    d = start_daemon("--db", url, "--concurrency", "1")
    assert any("jobs in postgresql:///" in line and "password=***" in line for line in d.log), "".join(d.log)
    echo = submit(d.url, "echo", message="héllo ✓", delay=1)
    prime = submit(d.url, "prime", limit=100)
    wait_for(lambda: finished(d.url, prime["id"]))
    blocker = submit(d.url, "countdown", seconds=60)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{blocker['id']}").json()["status"] == "running")
    waiting = submit(d.url, "echo", message="still waiting", delay=1)
    assert finished(d.url, echo["id"])["result"]["message"] == "héllo ✓"
    # The database holds what the API said, committed.
    rows = postgres.sql(url.split("?")[0].rsplit("/", 1)[1], "SELECT id, status FROM jobs ORDER BY id")
    assert rows.split() == [f"{echo['id']}|completed", f"{prime['id']}|completed", f"{blocker['id']}|running",
                            f"{waiting['id']}|pending"]
    d.stop()
    assert not any("hunter2" in line for line in d.log)

    d = start_daemon("--db", url, "--concurrency", "1")
    assert requests.get(f"{d.url}/api/jobs/{prime['id']}").json()["result"]["prime_count"] == 25
    interrupted = requests.get(f"{d.url}/api/jobs/{blocker['id']}").json()
    assert interrupted["status"] == "failed" and interrupted["error"].startswith("Interrupted")
    wait_for(lambda: finished(d.url, waiting["id"]))
    assert submit(d.url, "echo", message="next")["id"] == waiting["id"] + 1
    assert [j["id"] for j in all_jobs(d)] == [echo["id"], prime["id"], blocker["id"], waiting["id"], waiting["id"] + 1]
    d.stop()
    assert not any("hunter2" in line for line in d.log)


def test_an_unreachable_server_stops_the_start_with_a_clear_error():
    url = "postgresql://jobs:hunter2@localhost/jobs?host=/nonexistent-jobrunner-socket"
    r = subprocess.run([BINARY, "--port", "0", "--db", url], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "postgresql://jobs:***@localhost/jobs" in r.stderr and "cannot be reached" in r.stderr
    assert "hunter2" not in r.stderr


def test_a_postgresql_restart_under_load_is_503_then_nothing_acknowledged_is_lost(own_postgres, start_daemon):
    url = own_postgres.new_database()
    d = start_daemon("--db", url, "--concurrency", "2")
    acknowledged = {}
    refused = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        with requests.Session() as s:
            i = 0
            while not stop.is_set():
                message = f"c{n}-{i}"
                i += 1
                r = s.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": message, "delay": 1}}, timeout=30)
                with lock:
                    if r.status_code == 201:
                        acknowledged[r.json()["id"]] = message
                    else:
                        assert r.status_code == 503, r.text
                        assert r.json()["error"].startswith("Storage unavailable: ")
                        refused.append(message)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acknowledged) >= 100, timeout=30, interval=0.01)
        own_postgres.stop()
        wait_for(lambda: len(refused) >= 20, timeout=30, interval=0.01)
        r = requests.get(f"{d.url}/readyz")
        assert r.status_code == 503 and "cannot be reached" in r.json()["error"]
        wait_for(lambda: any("storage failing" in line for line in d.log))
        own_postgres.start()
        count = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= count + 100, timeout=30, interval=0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    wait_for(lambda: any("storage recovered" in line for line in d.log))
    assert requests.get(f"{d.url}/readyz").status_code == 200
    d.stop()

    # After a restart of the daemon: every acknowledged job is there with its
    # message, and no refused one is.
    d = start_daemon("--db", url)
    stored = {j["id"]: j["params"]["message"] for j in all_jobs(d)}
    assert {i: stored.get(i) for i in acknowledged} == acknowledged
    assert not set(refused) & set(stored.values())
    assert len(stored) == len(acknowledged)


def test_a_second_daemon_on_the_same_database_refuses_to_start(postgres, start_daemon):
    url = postgres.new_database()
    d = start_daemon("--db", url)
    job = submit(d.url, "echo", message="mine", delay=1)
    r = subprocess.run([BINARY, "--port", "0", "--db", url], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"in use by another jobrunnerd (jobrunnerd pid {d.proc.pid} on " in r.stderr, r.stderr
    assert submit(d.url, "echo", message="still mine", delay=1)["id"] == job["id"] + 1
