"""The daemon on PostgreSQL (`--db postgresql://...`), against a throwaway cluster
the tests start themselves: jobs run and survive a restart of the daemon, the
password never reaches the log, a PostgreSQL restart under load answers 503
while it is down, then reconnects with nothing acknowledged lost; search and
filters answer as on SQLite, and webhooks are kept in PostgreSQL's outbox."""
import json
import signal
import subprocess
import threading

import requests

from conftest import BINARY
from test_rest import finished, submit
from waits import join, wait_for
from webhook_receiver import Receiver, reserved_port, signed


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
    # Ids are never reused; they come from a sequence in blocks, so a restart
    # leaves a gap.
    following = submit(d.url, "echo", message="next")["id"]
    assert following > waiting["id"]
    assert [j["id"] for j in all_jobs(d)] == [echo["id"], prime["id"], blocker["id"], waiting["id"], following]
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
    # A submission whose COMMIT was on its way when the server went is answered
    # only once the server can say whether it committed (a 503 always means
    # nothing changed): its client stops waiting; it may be stored, at most once.
    unknown = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        with requests.Session() as s:
            i = 0
            while not stop.is_set():
                message = f"c{n}-{i}"
                i += 1
                try:
                    r = s.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": message, "delay": 1}}, timeout=3)
                except requests.exceptions.ReadTimeout:
                    with lock:
                        unknown.add(message)
                    continue
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
        join(threads, 30, "the submitting clients")
    wait_for(lambda: any("storage recovered" in line for line in d.log))
    assert requests.get(f"{d.url}/readyz").status_code == 200
    d.stop()

    # After a restart of the daemon: every acknowledged job is there with its
    # message, and no refused one is.
    d = start_daemon("--db", url)
    stored = {j["id"]: j["params"]["message"] for j in all_jobs(d)}
    assert {i: stored.get(i) for i in acknowledged} == acknowledged
    assert not set(refused) & set(stored.values())
    extra = [m for i, m in stored.items() if i not in acknowledged]
    assert set(extra) <= unknown and len(extra) == len(set(extra)), extra


def test_a_second_daemon_with_a_live_node_id_refuses_to_start(postgres, start_daemon):
    url = postgres.new_database()
    d = start_daemon("--db", url, "--node-id", "alpha")
    job = submit(d.url, "echo", message="mine", delay=1)
    r = subprocess.run([BINARY, "--port", "0", "--db", url, "--node-id", "alpha"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "node id 'alpha' is in use by another running jobrunnerd" in r.stderr, r.stderr
    # The first node goes on; another id joins the same database.
    assert submit(d.url, "echo", message="still mine", delay=1)["id"] > job["id"]
    other = start_daemon("--db", url, "--node-id", "beta")
    assert requests.get(f"{other.url}/api/jobs/{job['id']}").json()["params"]["message"] == "mine"


MESSAGES = ["backup main database", "disk-usage /var", "hello world", "Héllo Wörld", "backups nightly",
            "report 2025 Q4", "archive \"quoted\" thing", "日本語 テキスト"]
QUEUES = ["default", "nightly", "reports"]


def fill_history(d):
    """The same 40 jobs on any daemon: varied words and queues, held back for ten
    minutes (pending), every fourth cancelled."""
    for i in range(40):
        r = requests.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": MESSAGES[i % len(MESSAGES)]},
                                                     "queue": QUEUES[i % len(QUEUES)], "delay": 600})
        assert r.status_code == 201, r.text
        if i % 4 == 0:
            assert requests.delete(f"{d.url}/api/jobs/{r.json()['id']}").status_code == 200


def answer(d, query):
    r = requests.get(f"{d.url}/api/jobs?{query}")
    assert r.status_code == 200, f"{query}: {r.status_code} {r.text}"
    return [j["id"] for j in r.json()], r.headers.get("X-Total-Count"), r.headers.get("X-Total-Count-Capped"), r.headers.get("Link")


def test_search_queue_and_time_filters_answer_as_on_sqlite(postgres, start_daemon):
    pg = start_daemon("--db", postgres.new_database())
    lite = start_daemon()
    for d in (pg, lite):
        fill_history(d)
    queries = ["q=backup", "q=back*", "q=%22main%20database%22", "q=%22database%20main%22", "q=disk-usage", "q=h%C3%A9llo",
               "q=HELLO%20w%C3%B6*", "q=%E6%97%A5%E6%9C%AC%E8%AA%9E", "q=quoted", "q=nothing", "q=backup&queue=nightly",
               "queue=nightly,reports", "queue=reports&status=cancelled", "q=message&limit=3", "q=back*&limit=2&before_id=30&order=desc",
               "q=report&after_id=5&limit=2", "q=hello&queue=default&status=pending"]
    for query in queries:
        got = answer(pg, query)
        assert got == answer(lite, query), query
    assert answer(pg, "q=backup&queue=nightly")[0] == [17]  # job i is id i + 1: "backup main database" at i % 8 == 0, nightly at i % 3 == 1
    assert answer(pg, "q=%22main%20database%22")[1] == "5"
    # Time ranges against each daemon's own creation times.
    for d in (pg, lite):
        jobs = all_jobs(d)
        start = jobs[10]["created_at"]
        end = jobs[30]["created_at"]
        expected = [j["id"] for j in jobs if start <= j["created_at"] < end and j["queue"] == "nightly"]
        ids, total, capped, _ = answer(d, f"created_after={start}&created_before={end}&queue=nightly")
        assert ids == expected and total == str(len(expected)) and capped is None
    # Bulk actions act on what the search selects, the same on both.
    for body in [{"filter": {"q": "back*", "queue": "default"}, "dry_run": True},
                 {"filter": {"q": "back*", "status": "cancelled"}, "dry_run": True}]:
        counts = [requests.post(f"{d.url}/api/jobs/bulk/delete", json=body).json() for d in (pg, lite)]
        assert counts[0] == counts[1] and counts[0]["count"] > 0, counts
    done = [requests.post(f"{d.url}/api/jobs/bulk/delete", json={"filter": {"q": "back*", "status": "cancelled"},
                                                                 "expected_count": counts[0]["count"]}).json() for d in (pg, lite)]
    assert done[0] == done[1] and done[0]["done"] == counts[0]["count"], done
    assert answer(pg, "q=back*") == answer(lite, "q=back*") and answer(pg, "q=back*&status=cancelled")[0] == []
    # Bad input is the same clear 400 on both.
    for d in (pg, lite):
        r = requests.get(f"{d.url}/api/jobs?q=%22%22")
        assert r.status_code == 400 and "letter or digit" in r.json()["error"]


def test_a_webhook_from_postgresql_is_delivered_and_survives_kill_9(postgres, start_daemon, tmp_path):
    holder, port = reserved_port()  # the receiver is down: connections are refused
    path = tmp_path / "jobrunner.json"
    path.write_text(json.dumps({"webhooks": [{"url": f"http://127.0.0.1:{port}/hook", "secret": "pg-secret",
                                              "events": ["job_completed"], "backoff": {"initial": 0.2, "max": 0.5}}]}))
    url = postgres.new_database()
    d = start_daemon("--db", url, "--config", str(path))
    job = submit(d.url, "prime", limit=10)
    wait_for(lambda: [x for x in requests.get(f"{d.url}/api/webhooks/deliveries").json()["deliveries"] if x["attempts"] >= 1])
    # The delivery is a row in PostgreSQL, written with the job's completion.
    database = url.split("?")[0].rsplit("/", 1)[1]
    assert postgres.sql(database, "SELECT job_id, event, status FROM webhook_deliveries").split() == [f"{job['id']}|job_completed|pending"]
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    holder.close()
    rx = Receiver(port=port)
    try:
        again = start_daemon("--db", url, "--config", str(path))
        headers, body, _ = rx.wait_for(lambda r: len(r) >= 1)[0]
        assert json.loads(body)["job"]["id"] == job["id"] and json.loads(body)["event"] == "job_completed"
        assert signed("pg-secret", headers, body)
        done = wait_for(lambda: [x for x in requests.get(f"{again.url}/api/webhooks/deliveries").json()["deliveries"]
                                 if x["status"] == "delivered"])[0]
        assert done["id"] == headers["x-jobrunner-delivery"] and done["attempts"] >= 2
        assert postgres.sql(database, "SELECT status FROM webhook_deliveries").split() == ["delivered"]
    finally:
        rx.close()
