"""Several nodes on one PostgreSQL database (docs/cluster.md): three jobrunnerd
daemons (--node-id n1, n2, n3) share the jobs. A job submitted to any node runs
exactly once on one of them; every node shows every job and its events; a cancel
works from any node; the leader rescues the jobs of a node killed with -9, and
fires each schedule slot once, also after the leader itself is killed; a
PostgreSQL restart under load loses nothing acknowledged."""
import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from playwright.sync_api import expect
from websockets.sync.client import connect

from cluster import (FINAL, INTERRUPTED, Cluster, Watcher, all_jobs, get, job, leaders, nodes, post_job, process_gone,
                     read_pid, runs, wait_for, write_types)
from conftest import BINARY
from live import sse_events
from test_dashboard import Page
from waits import join, recv_until

NODE_KEYS = {"id", "address", "pid", "started_at", "heartbeat_at", "running", "leader", "self", "alive"}


@pytest.fixture
def types_dir(tmp_path):
    return write_types(tmp_path / "jobs.d")


@pytest.fixture
def three(postgres, start_daemon, types_dir):
    """n1, n2 and n3 on a fresh database of the session's cluster, --node-timeout 2."""
    c = Cluster(start_daemon, postgres.new_database(), types_dir, "--node-timeout", "2")
    for n in ("n1", "n2", "n3"):
        c.start(n)
    return c


def quiet_stats(c):
    """Waits until every live node's queue counts agree and nothing is pending or running; those counts."""
    last = {}

    def agreed():
        counts = [get(d, "/api/stats")["queue"] for d in c.live()]
        last.update({d.node_id: q for d, q in zip(c.live(), counts)})
        same = all(q == counts[0] for q in counts)
        return counts[0] if same and counts[0]["pending"] == 0 and counts[0]["running"] == 0 else None
    try:
        return wait_for(agreed, timeout=60, what="the nodes' counts agree")
    except AssertionError as e:
        raise AssertionError(f"{e}: {last}") from None


def test_jobs_submitted_to_any_node_run_exactly_once(three, tmp_path):
    c = three
    ring = list(c.nodes.values())
    lines = tmp_path / "lines.txt"
    bodies = [("prime", {"limit": 10}) for _ in range(300)] + [("append-line", {"tag": f"t{i}", "path": str(lines)}) for i in range(60)]

    def send(i):
        job_type, params = bodies[i]
        return post_job(ring[i % 3], job_type, params)["id"]

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(send, range(len(bodies))))
    assert len(set(ids)) == len(ids), "ids are unique across the nodes"
    counts = quiet_stats(c)
    assert counts["completed"] == len(ids) and counts["failed"] == 0 and counts["cancelled"] == 0, counts

    seen = {}
    for d in ring:
        jobs = {j["id"]: j for j in all_jobs(d)}
        assert sorted(jobs) == sorted(ids), f"{d.node_id} lists every job"
        assert all(j["status"] == "completed" for j in jobs.values())
        assert all(j["node"] in ("n1", "n2", "n3") for j in jobs.values()), "each job names the node that ran it"
        seen[d.node_id] = {i: (j["node"], j["started_at"], j["completed_at"]) for i, j in jobs.items()}
    assert seen["n1"] == seen["n2"] == seen["n3"], "every node tells the same story"
    ran_on = {node for node, _, _ in seen["n1"].values()}
    assert len(ran_on) > 1, f"the work is spread over the nodes, not all on {ran_on}"
    # At most once (and at least once): each command job's line is in the file once.
    assert sorted(lines.read_text().split()) == sorted(f"t{i}" for i in range(60))


def test_every_node_sees_every_event_of_a_job(three, tmp_path):
    c = three
    gate = tmp_path / "gate"
    n_lines = 30
    stack = contextlib.ExitStack()
    sockets = {n: stack.enter_context(connect(f"ws://127.0.0.1:{d.port}/ws/queue")) for n, d in c.nodes.items()}
    with stack:
        for ws in sockets.values():
            assert json.loads(ws.recv(timeout=10))["type"] == "queue_state"
        created = post_job(c.nodes["n1"], "gated-lines", {"gate": str(gate), "lines": n_lines})
        job_id = created["id"]
        running = wait_for(lambda: (j := job(c.nodes["n1"], job_id)) and j["status"] == "running" and j, what="started")
        runner = running["node"]
        # A stream on every node, the runner's and the two that only hear of the job.
        streams = {}
        for n, d in c.nodes.items():
            wait_for(lambda d=d: (j := job(d, job_id)) and j["status"] == "running", what=f"{n} knows the job started")
            events = sse_events(f"{d.url}/api/jobs/{job_id}/progress", timeout=30)
            first = next(events)
            assert first[1] == "status" and first[2]["status"] == "running"
            got = [first]
            t = threading.Thread(target=lambda e=events, g=got: g.extend(e), daemon=True)
            t.start()
            streams[n] = (t, got)
        gate.touch()

        def ws_events(ws):
            def mine(m):
                data = m.get("data") or {}
                return data.get("job_id", data.get("id")) == job_id
            _, seen = recv_until(ws, lambda m: mine(m) and m["type"] in ("job_completed", "job_failed", "job_cancelled"),
                                 timeout=60, what=f"the end of job {job_id}")
            return [m for m in seen if mine(m)]

        for n, ws in sockets.items():
            events = ws_events(ws)
            types = [m["type"] for m in events]
            assert types[0] == "job_created", f"{n}: {types}"
            assert "node" in events[0]["data"] and events[0]["data"]["node"] is None, f"{n}: 'node' is null until it starts: {events[0]}"
            assert types[1] == "job_started", f"{n}: {types}"
            assert events[1]["data"]["node"] == runner, f"{n}: job_started names the node that runs it: {events[1]}"
            assert types[-1] == "job_completed", f"{n}: {types}"
            assert set(types[2:-1]) <= {"job_progress"} and types[2:-1], f"{n}: {types}"
            percents = [m["data"]["percent"] for m in events if m["type"] == "job_progress"]
            assert percents == sorted(percents), f"{n}: progress in order: {percents}"
        for n, (t, got) in streams.items():
            t.join(30)
            assert not t.is_alive(), f"{n}: the stream ended after the final event"
            ids = [i for i, _, _ in got]
            assert ids == sorted(set(ids)), f"{n}: events in the job's order: {ids}"
            names = [name for _, name, _ in got]
            assert names[-1] == "complete" and got[-1][2]["status"] == "completed", f"{n} on a job run by {runner}: {names}"
            logs = [data for _, name, data in got if name == "log"]
            assert [entry["line"] for entry in logs] == [f"line {i}" for i in range(1, n_lines + 1)], f"{n}: every log line"
            assert all(i == data["seq"] for i, name, data in got if name == "log")
            percents = [data["percent"] for _, name, data in got if name == "progress"]
            assert percents and percents == sorted(percents), f"{n}: {percents}"
        log = requests.get(f"{c.nodes['n3'].url}/api/jobs/{job_id}/log?format=jsonl").text.splitlines()
        assert [json.loads(line)["line"] for line in log] == [f"line {i}" for i in range(1, n_lines + 1)]


def test_a_cancel_on_another_node_stops_the_job_where_it_runs(three, tmp_path):
    c = three
    pidfile = tmp_path / "sleeper.pid"
    created = post_job(c.nodes["n2"], "sleeper", {"pidfile": str(pidfile)})
    pid = read_pid(str(pidfile))
    running = wait_for(lambda: (j := job(c.nodes["n2"], created["id"])) and j["status"] == "running" and j["node"] and j)
    other = next(d for n, d in c.nodes.items() if n != running["node"])
    r = requests.delete(f"{other.url}/api/jobs/{created['id']}")
    assert r.status_code == 200 and r.json() == {"success": True, "job_id": created["id"]}, r.text
    for d in c.nodes.values():
        done = wait_for(lambda d=d: (j := job(d, created["id"])) and j["status"] in FINAL and j, what=f"{d.node_id} sees the end")
        assert done["status"] == "cancelled" and done["node"] == running["node"], done
    wait_for(lambda: process_gone(pid), timeout=15, what=f"process {pid} gone")
    again = requests.delete(f"{other.url}/api/jobs/{created['id']}")
    assert again.status_code == 409 and again.json()["error"] == "Cannot cancel job in status: cancelled", again.text


def test_the_jobs_of_a_node_killed_with_9_are_rescued(postgres, start_daemon, types_dir, tmp_path):
    c = Cluster(start_daemon, postgres.new_database(), types_dir, "--node-timeout", "2")
    # n1 alone first, with its one slot taken, so the jobs submitted next go to n3.
    n1 = c.start("n1", "--concurrency", "1")
    blocker = post_job(n1, "sleeper", {"pidfile": str(tmp_path / "blocker.pid")})
    wait_for(lambda: job(n1, blocker["id"])["status"] == "running")
    n3 = c.start("n3")
    once = post_job(n3, "hang-once", {"marker": str(tmp_path / "once")}, max_attempts=1)
    twice = post_job(n3, "hang-once", {"marker": str(tmp_path / "twice")}, max_attempts=2, backoff={"initial": 0.1, "max": 0.1})
    pids = [read_pid(str(tmp_path / "once")), read_pid(str(tmp_path / "twice"))]
    for j in (once, twice):
        wait_for(lambda j=j: (x := job(n1, j["id"])) and x["status"] == "running" and x["node"] == "n3")
    n2 = c.start("n2")
    wait_for(lambda: {n["id"]: n["running"] for n in nodes(n2)} == {"n1": 1, "n2": 0, "n3": 2}, what="running per node")
    watchers = [Watcher(n1, "n3"), Watcher(n2, "n3")]
    killed_at = time.monotonic()
    c.kill("n3")
    failed = wait_for(lambda: (j := job(n2, once["id"])) and j["status"] in FINAL and j, what="the rescue")
    assert failed["status"] == "failed" and failed["error"] == INTERRUPTED and failed["node"] == "n3", failed
    # Its last heartbeat was about a tenth of --node-timeout (0.2 s) before the kill at most.
    assert time.monotonic() - killed_at >= 1.5, "rescued only once its heartbeat is older than --node-timeout"
    done = wait_for(lambda: (j := job(n1, twice["id"])) and j["status"] in FINAL and j, what="the retry")
    assert done["status"] == "completed" and done["node"] == "n2", done  # n1's one slot is taken
    assert [(e["attempt"], e["error"]) for e in done["errors"]] == [(1, INTERRUPTED)], done["errors"]
    assert "second attempt" in requests.get(f"{n1.url}/api/jobs/{twice['id']}/log").text.splitlines()
    # The killed node's processes did not outlive it.
    for pid in pids:
        wait_for(lambda pid=pid: process_gone(pid), timeout=15)
    # Its row: alive false once silent, gone once the leader has rescued its jobs.
    wait_for(lambda: all("n3" not in [n["id"] for n in nodes(d)] for d in (n1, n2)), what="n3's row removed")
    seen = [entry for w in watchers for entry in w.stop()]
    assert any(e is not None and e["alive"] is False for e in seen), "n3 was shown as not alive before its row went"
    assert all(e is None or not e["self"] for e in seen)
    assert [n["id"] for n in nodes(n1)] == ["n1", "n2"] and all(n["alive"] for n in nodes(n1))
    requests.delete(f"{n1.url}/api/jobs/{blocker['id']}")


def test_a_node_back_from_a_stall_leaves_the_retry_of_its_jobs_alone(postgres, start_daemon, types_dir, tmp_path):
    """A worker frozen (SIGSTOP) for 3x --node-timeout while it runs 12 s jobs:
    the leader rescues them and their second attempts start on another node.
    When the frozen node wakes up, its own runs are stale: their end changes
    nothing, and the second attempts run to their own end, undisturbed."""
    c = Cluster(start_daemon, postgres.new_database(), types_dir, "--node-timeout", "3")
    # n1 leads, its one slot taken: the jobs run on n2, their retries on n3.
    n1 = c.start("n1", "--concurrency", "1")
    blocker = post_job(n1, "sleeper", {"pidfile": str(tmp_path / "blocker.pid")})
    wait_for(lambda: job(n1, blocker["id"])["status"] == "running")
    n2 = c.start("n2")
    record = tmp_path / "runs.txt"
    made = [post_job(n2, "attempts", {"path": str(record), "seconds": 12}, max_attempts=3,
                     backoff={"initial": 0.1, "max": 0.1})["id"] for _ in range(2)]
    for i in made:
        wait_for(lambda i=i: (j := job(n1, i)) and j["status"] == "running" and j["node"] == "n2", what=f"job {i} on n2")
        wait_for(lambda i=i: record.exists() and len(runs(record, i)) == 1, what=f"job {i} started")
    n3 = c.start("n3")
    assert leaders(n3) == ["n1"]
    n2.proc.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        for i in made:
            retry = wait_for(lambda i=i: (j := job(n1, i)) and j["status"] == "running" and j["node"] == "n3" and j,
                             timeout=8, what=f"job {i}'s retry on n3")
            assert retry["attempt"] == 2 and [(e["attempt"], e["error"]) for e in retry["errors"]] == [(1, INTERRUPTED)], retry
            wait_for(lambda i=i: len(runs(record, i)) == 2, timeout=5, what=f"job {i}'s second run started")
        assert time.monotonic() - frozen_at < 9, "the retries started while n2 was frozen"
        time.sleep(max(0.0, frozen_at + 9 - time.monotonic()))  # the stall itself, not a wait for an event
    finally:
        n2.proc.send_signal(signal.SIGCONT)
    for i in made:
        done = wait_for(lambda i=i: (j := job(n1, i)) and j["status"] in FINAL and j, timeout=30, what=f"job {i} ended")
        assert (done["status"], done["attempt"], done["node"]) == ("completed", 2, "n3"), done
        assert [(e["attempt"], e["error"]) for e in done["errors"]] == [(1, INTERRUPTED)], done["errors"]
        for d in c.nodes.values():
            seen = wait_for(lambda d=d, i=i: (j := job(d, i)) and j["status"] in FINAL and j, what=f"{d.node_id} sees job {i} end")
            assert {k: seen[k] for k in ("status", "attempt", "node", "errors")} == \
                {k: done[k] for k in ("status", "attempt", "node", "errors")}, d.node_id
    # Once every run has ended: two runs per job; the second ran to its end
    # (never signalled); the stale first one was stopped by its own node, or ended.
    for i in made:
        recorded = wait_for(lambda i=i: (r := runs(record, i)) and all(len(events) == 2 for _, events in r) and r,
                            timeout=30, what=f"job {i}'s runs ended")
        assert len(recorded) == 2, recorded
        assert recorded[1][1] == ["start", "end"], f"job {i}: the healthy attempt was stopped: {recorded}"
        assert recorded[0][1][1] in ("term", "end"), recorded
    assert requests.delete(f"{n1.url}/api/jobs/{blocker['id']}").status_code == 200


def test_nodes_list_every_node_once_with_one_leader(three, postgres, start_daemon, tmp_path):
    c = three
    pidfile = tmp_path / "sleeper.pid"
    sleeper = post_job(c.nodes["n1"], "sleeper", {"pidfile": str(pidfile)})
    read_pid(str(pidfile))
    runner = wait_for(lambda: (j := job(c.nodes["n1"], sleeper["id"])) and j["status"] == "running" and j["node"])
    now = time.time()
    answers = {}
    for n, d in c.nodes.items():
        listed = wait_for(lambda d=d: (a := nodes(d)) and {x["id"]: x["running"] for x in a}.get(runner) == 1 and a)
        assert [x["id"] for x in listed] == ["n1", "n2", "n3"], listed
        for x in listed:
            assert set(x) == NODE_KEYS, x
            node = c.nodes[x["id"]]
            assert x["self"] == (x["id"] == n) and x["alive"] is True, x
            assert x["started_at"] <= x["heartbeat_at"] and abs(now - x["heartbeat_at"]) < 10, x
            assert x["running"] == (1 if x["id"] == runner else 0), x
            assert x["pid"] == node.proc.pid, x
        assert sum(x["leader"] for x in listed) == 1, listed
        # Each node's address as it listens, from its start on.
        assert [x["address"] for x in listed] == [f"127.0.0.1:{c.nodes[x['id']].port}" for x in listed], listed
        answers[n] = [{k: v for k, v in x.items() if k not in ("self", "heartbeat_at")} for x in listed]
    assert answers["n1"] == answers["n2"] == answers["n3"], "every node lists the same nodes and the same leader"
    # A node that stops cleanly removes its own row at once.
    stopped = next(n for n in ("n1", "n2", "n3") if n != runner)
    assert c.nodes[stopped].stop() == 0
    others = [d for n, d in c.nodes.items() if n != stopped]
    for d in others:
        wait_for(lambda d=d: [x["id"] for x in nodes(d)] == sorted(x.node_id for x in others), timeout=5)
        wait_for(lambda d=d: len(leaders(d)) == 1, timeout=10, what="one leader of the two")
    requests.delete(f"{others[0].url}/api/jobs/{sleeper['id']}")


def test_one_node_without_postgresql_lists_itself(start_daemon):
    for args in ([], ["--db", ":memory:"]):
        d = start_daemon(*args)
        listed = get(d, "/api/nodes")
        assert len(listed) == 1 and set(listed[0]) == NODE_KEYS, listed
        me = listed[0]
        assert me["self"] is True and me["leader"] is True and me["alive"] is True and me["running"] == 0
        assert me["address"] == f"127.0.0.1:{d.port}" and me["pid"] == d.proc.pid
        assert me["id"] == f"{socket.gethostname()}:0", me  # HOST:PORT as configured (--port 0)
    d = start_daemon("--node-id", "solo.1:a-b")
    assert get(d, "/api/nodes")[0]["id"] == "solo.1:a-b"
    job = post_job(d, "prime", {"limit": 10})
    assert job["node"] is None, "only a PostgreSQL store names a node"


def test_a_node_id_in_use_or_malformed_is_refused(three):
    url = three.db_url
    for node_id in ("n1", "n3"):
        r = subprocess.run([BINARY, "--port", "0", "--db", url, "--node-id", node_id], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        assert "node id" in r.stderr and "in use" in r.stderr, r.stderr
    for bad in ("has space", "x" * 65, "slash/no"):
        r = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--node-id", bad], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "node" in r.stderr.lower(), (bad, r.stderr)
    # The three went on as before.
    assert [n["id"] for n in nodes(three.nodes["n2"])] == ["n1", "n2", "n3"]


def test_a_killed_leader_is_replaced_and_each_schedule_slot_fires_once(three):
    c = three
    names = [f"tick-{i}" for i in range(6)]
    first = c.nodes["n1"]
    for name in names:
        r = requests.put(f"{first.url}/api/schedules/{name}", json={"cron": "* * * * *", "job_type": "prime",
                                                                    "params": {"limit": 10}, "overlap": "allow"})
        assert r.status_code == 201, r.text
    # Every node knows the schedules.
    for d in c.nodes.values():
        wait_for(lambda d=d: len(get(d, "/api/schedules")) == len(names))
    leader = wait_for(lambda: (ls := leaders(first)) and len(ls) == 1 and ls[0])
    # Kill it at least 15 s before the next minute, so that another takes over first.
    wait_for(lambda: time.time() % 60 < 45, timeout=20, interval=0.2)
    c.kill(leader)
    survivors = c.live()
    new = wait_for(lambda: (ls := leaders(survivors[0])) and len(ls) == 1 and ls[0] != leader and ls[0], timeout=15,
                   what="a new leader")
    for d in survivors:
        me = next(x for x in nodes(d) if x["id"] == new)
        assert me["alive"] and me["leader"]
    # Under the new leader every schedule fires the next slot, once.
    slot = (int(time.time()) // 60 + 1) * 60
    leading = c.nodes[new]
    for name in names:
        fired = wait_for(lambda name=name: (s := get(leading, f"/api/schedules/{name}"))["last_run_at"] == slot and s,
                         timeout=90, interval=0.5, what=f"{name} fired at {slot}")
        assert fired["next_run_at"] == slot + 60
    quiet_stats(c)
    for name in names:
        for d in survivors:
            jobs = all_jobs(d, f"&schedule={name}")
            slots = [int(j["created_at"] // 60) * 60 for j in jobs]
            assert len(slots) == len(set(slots)), f"{name}: a slot fired twice: {slots}"
            assert slot in slots and all(j["status"] == "completed" for j in jobs), f"{name}: {jobs}"


def test_a_frozen_leader_is_replaced_and_does_no_leader_work_when_it_wakes(postgres, start_daemon, types_dir, tmp_path):
    """The leader frozen (SIGSTOP) for 3x --node-timeout, across a minute's
    boundary: another node leads within 2x the timeout, the schedule's slot
    fires once, and a worker killed with -9 meanwhile has its job rescued. The
    old leader, woken up, leads no more and fires nothing again."""
    timeout = 3
    c = Cluster(start_daemon, postgres.new_database(), types_dir, "--node-timeout", str(timeout))
    # n1 leads; n1 and n2 have one slot each, taken, so the job below runs on n3.
    n1 = c.start("n1", "--concurrency", "1")
    b1 = post_job(n1, "sleeper", {"pidfile": str(tmp_path / "b1.pid")})
    wait_for(lambda: job(n1, b1["id"])["status"] == "running")
    n2 = c.start("n2", "--concurrency", "1")
    b2 = post_job(n2, "sleeper", {"pidfile": str(tmp_path / "b2.pid")})
    wait_for(lambda: (j := job(n2, b2["id"])) and j["status"] == "running" and j["node"] == "n2")
    n3 = c.start("n3")
    hung = post_job(n3, "hang-once", {"marker": str(tmp_path / "once")}, max_attempts=2, backoff={"initial": 0.1, "max": 0.1})
    read_pid(str(tmp_path / "once"))
    wait_for(lambda: (j := job(n2, hung["id"])) and j["status"] == "running" and j["node"] == "n3")
    assert leaders(n2) == ["n1"]
    r = requests.put(f"{n2.url}/api/schedules/tick", json={"cron": "* * * * *", "job_type": "prime", "params": {"limit": 10},
                                                          "overlap": "allow"})
    assert r.status_code == 201, r.text
    for d in c.nodes.values():
        wait_for(lambda d=d: len(get(d, "/api/schedules")) == 1)
    # Frozen 7.5 s before a minute's boundary: the slot comes due during the
    # stall, after the successor took over (within 2x the timeout).
    wait_for(lambda: 52.0 <= time.time() % 60 < 53.0, timeout=70, interval=0.02, what="the freeze's moment")
    slot = (int(time.time()) // 60 + 1) * 60
    n1.proc.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        c.kill("n3")
        assert requests.delete(f"{n2.url}/api/jobs/{b2['id']}").status_code == 200  # n2's slot for the rescued job
        wait_for(lambda: leaders(n2) == ["n2"], timeout=2 * timeout, interval=0.05, what="n2 leading")
        done = wait_for(lambda: (j := job(n2, hung["id"])) and j["status"] in FINAL and j, timeout=3 * timeout,
                        what="the killed worker's job rescued")
        assert (done["status"], done["attempt"], done["node"]) == ("completed", 2, "n2"), done
        assert [(e["attempt"], e["error"]) for e in done["errors"]] == [(1, INTERRUPTED)], done["errors"]
        fired = wait_for(lambda: (s := get(n2, "/api/schedules/tick"))["last_run_at"] == slot and s,
                         timeout=max(0.1, frozen_at + 3 * timeout - time.monotonic()), what=f"the slot {slot} fired under n2")
        assert fired["next_run_at"] == slot + 60
        time.sleep(max(0.0, frozen_at + 3 * timeout - time.monotonic()))  # the stall itself, not a wait for an event
    finally:
        n1.proc.send_signal(signal.SIGCONT)
    # Woken up, n1 beats again (its overdue timer fired at once) and hears of
    # the slot fired; it never leads again.
    watcher = Watcher(n1, "n1")
    me = wait_for(lambda: (x := next((x for x in nodes(n1) if x["id"] == "n1"), None)) and x["alive"] and x, timeout=10,
                  what="n1 alive again")
    wait_for(lambda: get(n1, "/api/schedules/tick")["last_run_at"] == slot, timeout=10, what="n1 hears of the slot")
    wait_for(lambda: next(x for x in nodes(n1) if x["id"] == "n1")["heartbeat_at"] > me["heartbeat_at"], timeout=10,
             what="n1's next heartbeat")
    seen = watcher.stop()
    assert seen and all(x is None or not x["leader"] for x in seen), "n1 led again"
    for d in (n1, n2):
        assert leaders(d) == ["n2"], d.node_id
        jobs = all_jobs(d, "&schedule=tick")
        slots = [int(j["created_at"] // 60) * 60 for j in jobs]
        assert slots.count(slot) == 1 and len(slots) == len(set(slots)), f"{d.node_id}: a slot fired twice: {slots}"
    assert get(n2, "/api/schedules/tick")["last_run_at"] >= slot


def test_a_postgresql_restart_under_load_with_three_nodes(own_postgres, start_daemon, types_dir, tmp_path):
    c = Cluster(start_daemon, own_postgres.new_database(), types_dir, "--node-timeout", "5")
    for n in ("n1", "n2", "n3"):
        c.start(n)
    ring = list(c.nodes.values())
    lines = tmp_path / "lines.txt"
    acknowledged = {}
    refused = {n: [] for n in c.nodes}
    # A submission whose commit was on its way when the server went is answered
    # only once the server can say whether it committed (a 503 always means
    # nothing changed): its client gives up waiting and moves on; such a job
    # may exist, at most once.
    unknown = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(k):
        d = ring[k % 3]
        with requests.Session() as s:
            i = 0
            while not stop.is_set():
                tag = f"c{k}-{i}"
                i += 1
                try:
                    r = s.post(f"{d.url}/api/jobs", json={"job_type": "append-line", "params": {"tag": tag, "path": str(lines)}},
                               timeout=3)
                except requests.exceptions.ReadTimeout:
                    with lock:
                        unknown.add(tag)
                    continue
                with lock:
                    if r.status_code == 201:
                        acknowledged[r.json()["id"]] = tag
                    else:
                        assert r.status_code == 503, r.text
                        assert r.json()["error"].startswith("Storage unavailable: ")
                        refused[d.node_id].append(tag)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acknowledged) >= 150, timeout=60, interval=0.01)
        own_postgres.stop()
        wait_for(lambda: all(len(r) >= 5 for r in refused.values()), timeout=30, interval=0.01, what="503 on every node")
        for d in ring:
            assert requests.get(f"{d.url}/readyz").status_code == 503
        own_postgres.start()
        count = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= count + 150, timeout=60, interval=0.01, what="submissions again")
    finally:
        stop.set()
        join(threads, 30, "the submitting clients")
    for d in ring:
        wait_for(lambda d=d: requests.get(f"{d.url}/readyz").status_code == 200)
    first = {j["id"]: j["params"]["tag"] for j in all_jobs(ring[0])}
    extra = {i: t for i, t in first.items() if i not in acknowledged}
    assert set(extra.values()) <= unknown, f"only submissions without an answer may be there unacknowledged: {extra}"
    counts = quiet_stats(c)
    assert counts["completed"] == len(first) and counts["total"] == len(first), counts
    for d in ring:
        stored = {j["id"]: j["params"]["tag"] for j in all_jobs(d)}
        assert stored == first and all(stored.get(i) == t for i, t in acknowledged.items()), \
            f"{d.node_id}: every acknowledged job, nothing refused, the same on every node"
    written = lines.read_text().split()
    assert sorted(written) == sorted(first.values()), "each stored job ran once"
    assert not {t for r in refused.values() for t in r} & set(written)


# --- The dashboard's Nodes view ------------------------------------------------


def test_the_nodes_view_lists_the_nodes_and_marks_the_leader(browser, three):
    c = three
    tab = Page(browser, c.nodes["n2"].url, viewport={"width": 1280, "height": 800})
    expect(tab.page.locator("#tab-nodes")).to_be_visible()
    tab.page.click("#tab-nodes")
    expect(tab.page.locator("#nodes-title")).to_be_focused()
    rows = tab.page.locator("#nodes-body tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-node") for i in range(3)] == ["n1", "n2", "n3"]
    leader = leaders(c.nodes["n2"])[0]
    expect(tab.page.locator(f'#nodes-body tr[data-node="{leader}"] .badge.leader')).to_have_text("leader")
    expect(tab.page.locator("#nodes-body .badge.leader")).to_have_count(1)
    expect(tab.page.locator('#nodes-body tr[data-node="n2"] th')).to_contain_text("this node")
    expect(tab.page.locator("#nodes-body .marker")).to_have_count(1)
    expect(tab.page.locator("#nodes-body .badge.alive")).to_have_count(3)
    expect(tab.page.locator('#nodes-body tr[data-node="n3"] td').first).to_have_text(f"127.0.0.1:{c.nodes['n3'].port}")
    tab.shot("nodes-three")
    # A job's detail on n2 names the node that ran it.
    done = post_job(c.nodes["n1"], "prime", {"limit": 10})
    ran = wait_for(lambda: (j := job(c.nodes["n2"], done["id"])) and j["status"] == "completed" and j["node"], what="completed")
    detail = Page(browser, f"{c.nodes['n2'].url}/#/jobs/{done['id']}", viewport={"width": 1280, "height": 800})
    expect(detail.page.locator("#detail")).to_be_visible()
    expect(detail.page.locator("#detail-fields")).to_contain_text(f"Node{ran}")
    assert detail.errors == [], detail.errors
    detail.close()
    # Open on n2 while it waits, the detail names the node as the job starts there
    # or elsewhere (from job_started), with no reload.
    queue = f"{c.nodes['n1'].url}/api/queues/default"
    assert requests.put(queue, json={"paused": True}, timeout=10).status_code == 200
    waiting = post_job(c.nodes["n1"], "prime", {"limit": 10})
    wait_for(lambda: job(c.nodes["n2"], waiting["id"]), what="n2 knows the job")
    live = Page(browser, f"{c.nodes['n2'].url}/#/jobs/{waiting['id']}", viewport={"width": 1280, "height": 800})
    expect(live.page.locator("#detail-fields")).to_contain_text("Started—")
    expect(live.page.locator("#detail-fields")).not_to_contain_text("Node")
    assert requests.put(queue, json={"paused": False}, timeout=10).status_code == 200
    ran = wait_for(lambda: (j := job(c.nodes["n2"], waiting["id"])) and j["status"] == "completed" and j["node"], what="completed")
    expect(live.page.locator("#detail-fields")).to_contain_text(f"Node{ran}")
    assert live.errors == [], live.errors
    live.close()
    # Refreshed while open: a node that stops leaves the table.
    assert c.nodes["n3"].stop() == 0
    expect(rows).to_have_count(2, timeout=10000)
    assert tab.errors == [], tab.errors
    tab.close()


def test_the_nodes_tab_stays_hidden_on_a_lone_sqlite_daemon(browser, daemon):
    post_job(daemon, "prime", {"limit": 10})
    tab = Page(browser, daemon.url, viewport={"width": 1280, "height": 800})
    expect(tab.page.locator(".row")).to_have_count(1)
    # The dashboard's read of /api/nodes has answered (one node: this one).
    tab.page.wait_for_function("() => window.jobrunner.nodes.loadedAt !== null")
    expect(tab.page.locator("#tab-nodes")).to_be_hidden()
    assert tab.errors == [], tab.errors
    tab.close()
