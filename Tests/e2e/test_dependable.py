"""Dependable jobs from outside (docs/jobs.md): the submission options (queue,
priority, run_at/delay, timeout, max_attempts, backoff, idempotency_key) over
REST and the WebSocket, priorities and FIFO, delays on one timer, timeouts,
retries with backoff, the retry endpoint, idempotency keys, named queues, and
what a restart (clean, or kill -9) keeps.

Every wait is for a condition the daemon reports (wait_for with a deadline, a
WebSocket or SSE event) or for the wall clock to pass a job's own run_at; the
daemon listens on port 0."""
import contextlib
import json
import signal
import threading
import time

import pytest
import requests
from websockets.sync.client import connect

from live import sse_events
from waits import join, recv_json, recv_until, wait_for

FINISHED = ("completed", "failed", "cancelled")
INTERRUPTED = "Interrupted: the daemon stopped while this job was running"

QUEUE = "Invalid 'queue' field: must match ^[a-z0-9_-]{1,64}$"
PRIORITY = "Invalid 'priority' field: must be an integer from -100 to 100"
RUN_AT = "Invalid 'run_at' field: must be a time in epoch seconds"
DELAY = "Invalid 'delay' field: must be a number of seconds from 0 to 31536000"
BOTH = "Invalid 'delay' field: give either 'run_at' or 'delay', not both"
TIMEOUT = "Invalid 'timeout' field: must be a number of seconds from more than 0 to 31536000"
ATTEMPTS = "Invalid 'max_attempts' field: must be an integer from 1 to 100"
BACKOFF = ("Invalid 'backoff' field: must be an object like {\"initial\": 1, \"max\": 3600} "
           "(seconds, 0 < initial <= max <= 31536000)")
KEY = "Invalid 'idempotency_key' field: must be a string of 1 to 200 characters"

BAD_OPTIONS = [
    ({"queue": "Reports"}, QUEUE), ({"queue": ""}, QUEUE), ({"queue": "a" * 65}, QUEUE),
    ({"queue": "a b"}, QUEUE), ({"queue": "caf\u00e9"}, QUEUE), ({"queue": 7}, QUEUE), ({"queue": ["x"]}, QUEUE),
    ({"priority": 101}, PRIORITY), ({"priority": -101}, PRIORITY), ({"priority": 1.5}, PRIORITY),
    ({"priority": "5"}, PRIORITY), ({"priority": True}, PRIORITY),
    ({"run_at": -1}, RUN_AT), ({"run_at": "tomorrow"}, RUN_AT), ({"run_at": 1e11}, RUN_AT), ({"run_at": {}}, RUN_AT),
    ({"delay": -1}, DELAY), ({"delay": 31536001}, DELAY), ({"delay": "1"}, DELAY), ({"delay": False}, DELAY),
    ({"run_at": 1800000000, "delay": 1}, BOTH),
    ({"timeout": 0}, TIMEOUT), ({"timeout": -1}, TIMEOUT), ({"timeout": 31536001}, TIMEOUT), ({"timeout": "5"}, TIMEOUT),
    ({"max_attempts": 0}, ATTEMPTS), ({"max_attempts": 101}, ATTEMPTS), ({"max_attempts": 2.5}, ATTEMPTS),
    ({"max_attempts": "3"}, ATTEMPTS), ({"max_attempts": -1}, ATTEMPTS),
    ({"backoff": 5}, BACKOFF), ({"backoff": {"initial": 0}}, BACKOFF), ({"backoff": {"initial": 10, "max": 5}}, BACKOFF),
    ({"backoff": {"min": 1}}, BACKOFF), ({"backoff": {"max": 31536001}}, BACKOFF),
    ({"backoff": {"initial": "1"}}, BACKOFF), ({"backoff": {"initial": 4000}}, BACKOFF),  # above the default max
    ({"backoff": {"initial": -1, "max": 5}}, BACKOFF),
    ({"idempotency_key": ""}, KEY), ({"idempotency_key": "k" * 201}, KEY), ({"idempotency_key": 5}, KEY),
]

# A counter in the file $1: each run appends a line; it fails ("run N failed" on
# stderr, exit 1) while it has run fewer than $2 times, then succeeds.
FLAKY = ('echo run >> "$1"; n=$(wc -l < "$1"); n=$((n + 0)); echo "attempt $n"; '
         'if [ "$n" -lt "$2" ]; then echo "attempt $n failed" >&2; exit 1; fi; '
         'printf \'{"result": {"attempts": %d}}\\n\' "$n" >&3')
FLAKY_PARAMS = {"file": {"type": "string", "required": True}, "until": {"type": "integer", "default": 1, "min": 1}}
SLEEP = 'echo sleeping; exec sleep "$1"'


def command_types(tmp_path):
    """A --job-types-dir of /bin/sh -c definitions."""
    directory = tmp_path / "jobs.d"
    directory.mkdir(exist_ok=True)
    types = {
        "flaky": {"command": ["/bin/sh", "-c", FLAKY, "flaky", "{file}", "{until}"], "params": FLAKY_PARAMS},
        "flaky3": {"command": ["/bin/sh", "-c", FLAKY, "flaky", "{file}", "{until}"], "params": FLAKY_PARAMS,
                   "max_attempts": 3},
        "sleeper": {"command": ["/bin/sh", "-c", SLEEP, "sleeper", "{seconds}"],
                    "params": {"seconds": {"type": "number", "default": 30, "min": 0}}},
        "sleeper-1s": {"command": ["/bin/sh", "-c", SLEEP, "sleeper", "{seconds}"], "timeout": 1,
                       "params": {"seconds": {"type": "number", "default": 30, "min": 0}}},
        "single": {"command": ["/bin/sh", "-c", SLEEP, "single", "{seconds}"], "concurrency": 1,
                   "params": {"seconds": {"type": "number", "default": 30, "min": 0}}},
    }
    for name, definition in types.items():
        (directory / f"{name}.json").write_text(json.dumps({"name": name, **definition}))
    return str(directory)


def runs(path):
    """How many times a flaky job ran (lines in its counter file)."""
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


# --- REST and WebSocket helpers -------------------------------------------------------------


def post(url, body, headers=None):
    return requests.post(f"{url}/api/jobs", json=body, headers=headers or {})


def create(url, job_type, params=None, **options):
    r = post(url, {"job_type": job_type, "params": params or {}, **options})
    assert r.status_code == 201, r.text
    return r.json()


def get(url, job_id):
    r = requests.get(f"{url}/api/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def in_status(url, job_id, *statuses):
    j = get(url, job_id)
    return j if j["status"] in statuses else None


def finished(url, job_id, timeout=30):
    return wait_for(lambda: in_status(url, job_id, *FINISHED), timeout=timeout)


def cancel(url, job_id):
    r = requests.delete(f"{url}/api/jobs/{job_id}")
    assert r.status_code == 200, r.text


def put_queue(url, name, body):
    return requests.put(f"{url}/api/queues/{name}", json=body)


def queues(url):
    r = requests.get(f"{url}/api/queues")
    assert r.status_code == 200, r.text
    return {q["name"]: q for q in r.json()}


@contextlib.contextmanager
def ws_open(d):
    """A WebSocket client past its queue_state."""
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        assert recv_json(ws)["type"] == "queue_state"
        yield ws


def ws_command(ws, command, replies):
    """Sends a command; its reply (one of `replies`, or an error), skipping broadcasts."""
    ws.send(json.dumps(command))
    reply, _ = recv_until(ws, lambda m: m["type"] in (*replies, "error"))
    return reply


def started_order(ws, ids, timeout=30):
    """Ids in the order of their job_started broadcasts, until every one of `ids` started."""
    order = []
    deadline = time.monotonic() + timeout
    while not set(ids) <= set(order):
        m, _ = recv_until(ws, lambda m: m["type"] == "job_started" and m["data"]["job_id"] in ids,
                          max(0.01, deadline - time.monotonic()), what=f"job_started of {sorted(set(ids) - set(order))}")
        order.append(m["data"]["job_id"])
    return order


# --- options: accepted, shown, refused --------------------------------------------------------


def test_defaults_shown_on_every_job(daemon):
    j = create(daemon.url, "prime", {"limit": 10})
    assert {k: j[k] for k in ("queue", "priority", "run_at", "attempt", "max_attempts", "timeout",
                              "idempotency_key", "errors")} == {
        "queue": "default", "priority": 0, "run_at": None, "attempt": 1, "max_attempts": 1, "timeout": None,
        "idempotency_key": None, "errors": []}
    done = finished(daemon.url, j["id"])
    assert done["status"] == "completed" and done["errors"] == [] and done["attempt"] == 1


def test_options_over_rest_are_kept_and_shown(start_daemon):
    d = start_daemon("--concurrency", "1")
    blocker = create(d.url, "countdown", {"seconds": 60})
    wait_for(lambda: in_status(d.url, blocker["id"], "running"))
    j = create(d.url, "prime", {"limit": 10}, queue="reports-2_x", priority=100, delay=3600, timeout=31536000,
               max_attempts=100, backoff={"initial": 0.5, "max": 10}, idempotency_key="k" * 200)
    assert (j["queue"], j["priority"], j["timeout"], j["max_attempts"], j["idempotency_key"], j["attempt"]) == \
        ("reports-2_x", 100, 31536000, 100, "k" * 200, 1)
    assert j["status"] == "pending"
    assert abs(j["run_at"] - (j["created_at"] + 3600)) < 1
    assert get(d.url, j["id"]) == j
    # Bounds at the other end; null means "not given".
    at = time.time() + 7200
    low = create(d.url, "prime", {"limit": 10}, queue="a" * 64, priority=-100, run_at=at, max_attempts=1, timeout=0.25,
                 backoff={"initial": 31536000, "max": 31536000})
    assert (low["queue"], low["priority"], low["max_attempts"], low["timeout"]) == ("a" * 64, -100, 1, 0.25)
    assert abs(low["run_at"] - at) < 1e-3
    nulls = create(d.url, "prime", {"limit": 10}, queue=None, priority=None, run_at=None, delay=None, timeout=None,
                   max_attempts=None, backoff=None, idempotency_key=None)
    assert (nulls["queue"], nulls["priority"], nulls["run_at"], nulls["max_attempts"], nulls["timeout"],
            nulls["idempotency_key"]) == ("default", 0, None, 1, None, None)
    assert create(d.url, "prime", {"limit": 10}, delay=0)["run_at"] is not None  # due now: runs when a slot frees
    assert requests.get(f"{d.url}/api/stats").json()["queue"]["total"] == 5


@pytest.mark.parametrize("options,message", BAD_OPTIONS, ids=[f"{i}-{next(iter(o))}" for i, (o, _) in enumerate(BAD_OPTIONS)])
def test_bad_option_over_rest_is_400_with_message(daemon, options, message):
    r = post(daemon.url, {"job_type": "prime", "params": {"limit": 10}, **options})
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert requests.get(f"{daemon.url}/api/stats").json()["queue"]["total"] == 0


def test_bad_options_over_ws_get_the_same_messages(daemon):
    with ws_open(daemon) as ws:
        for options, message in BAD_OPTIONS:
            reply = ws_command(ws, {"type": "create_job", "job_type": "prime", "params": {"limit": 10}, **options},
                               ["job_created_ack"])
            assert reply == {"type": "error", "message": message}, options
    assert requests.get(f"{daemon.url}/api/stats").json()["queue"]["total"] == 0


def test_options_over_ws_are_kept(start_daemon):
    d = start_daemon("--concurrency", "1")
    with ws_open(d) as ws:
        blocker = ws_command(ws, {"type": "create_job", "job_type": "countdown", "params": {"seconds": 60}},
                             ["job_created_ack"])
        assert blocker["type"] == "job_created_ack"
        at = time.time() + 3600
        ack = ws_command(ws, {"type": "create_job", "job_type": "prime", "params": {"limit": 10}, "queue": "ws-q",
                              "priority": -7, "run_at": at, "timeout": 2.5, "max_attempts": 4,
                              "backoff": {"initial": 2, "max": 8}, "idempotency_key": "ws-key"}, ["job_created_ack"])
        assert ack["type"] == "job_created_ack" and "duplicate" not in ack
        j = get(d.url, ack["job_id"])
        assert (j["queue"], j["priority"], j["timeout"], j["max_attempts"], j["idempotency_key"], j["status"]) == \
            ("ws-q", -7, 2.5, 4, "ws-key", "pending")
        assert abs(j["run_at"] - at) < 1e-3
        ack = ws_command(ws, {"type": "create_job", "job_type": "prime", "params": {"limit": 10}, "delay": 60},
                         ["job_created_ack"])
        j = get(d.url, ack["job_id"])
        assert abs(j["run_at"] - (j["created_at"] + 60)) < 1


# --- priorities, FIFO, delays --------------------------------------------------------------------


def test_priority_order_then_fifo_across_queues_and_types(start_daemon):
    d = start_daemon("--concurrency", "1")
    with ws_open(d) as ws:
        blocker = create(d.url, "countdown", {"seconds": 30})
        wait_for(lambda: in_status(d.url, blocker["id"], "running"))
        spec = [("a", 0, "prime", "default"), ("b", 5, "fibonacci", "default"), ("c", -3, "prime", "default"),
                ("d", 5, "prime", "other"), ("e", 10, "prime", "default"), ("f", 0, "fibonacci", "other"),
                ("g", 5, "prime", "default"), ("h", -3, "prime", "other")]
        ids = {}
        for name, priority, job_type, queue in spec:
            params = {"limit": 10} if job_type == "prime" else {"count": 5}
            ids[name] = create(d.url, job_type, params, priority=priority, queue=queue)["id"]
        assert all(get(d.url, i)["status"] == "pending" for i in ids.values())
        cancel(d.url, blocker["id"])
        order = started_order(ws, set(ids.values()))
    by_id = {v: k for k, v in ids.items()}
    assert [by_id[i] for i in order] == ["e", "b", "d", "g", "a", "f", "c", "h"]
    jobs = [finished(d.url, i) for i in order]
    assert all(j["status"] == "completed" for j in jobs)
    starts = [j["started_at"] for j in jobs]
    assert starts == sorted(starts)


def test_delay_and_run_at_start_no_earlier_than_their_time(start_daemon):
    d = start_daemon("--concurrency", "3")
    with ws_open(d) as ws:
        later = create(d.url, "prime", {"limit": 10}, delay=1.5)
        soon = create(d.url, "prime", {"limit": 10}, delay=1)
        at = create(d.url, "prime", {"limit": 10}, run_at=time.time() + 2)
        past = create(d.url, "prime", {"limit": 10}, run_at=time.time() - 100)
        now = create(d.url, "prime", {"limit": 10})
        for j in (later, soon, at):
            assert j["status"] == "pending" and j["run_at"] > j["created_at"]
        assert abs(soon["run_at"] - (soon["created_at"] + 1)) < 0.05
        order = started_order(ws, {later["id"], soon["id"], at["id"], past["id"], now["id"]})
    assert set(order[:2]) == {past["id"], now["id"]}
    assert order[2:] == [soon["id"], later["id"], at["id"]]
    for j, delay in ((soon, 1), (later, 1.5)):
        ran = finished(d.url, j["id"])
        assert ran["status"] == "completed"
        assert ran["started_at"] >= j["run_at"]
        assert ran["started_at"] >= j["created_at"] + delay - 0.005
    ran = finished(d.url, at["id"])
    assert ran["status"] == "completed" and ran["started_at"] >= at["run_at"]


def test_one_timer_follows_the_earliest_delayed_job(start_daemon):
    """A far job first, then a nearer one: the timer moves to the nearer one."""
    d = start_daemon()
    with ws_open(d) as ws:
        far = create(d.url, "prime", {"limit": 10}, delay=3600)
        near = create(d.url, "prime", {"limit": 10}, delay=0.5)
        nearer = create(d.url, "prime", {"limit": 10}, delay=0.3)
        order = started_order(ws, {near["id"], nearer["id"]}, timeout=10)
    assert order == [nearer["id"], near["id"]]
    assert get(d.url, far["id"])["status"] == "pending"
    assert get(d.url, far["id"])["run_at"] == far["run_at"]


def test_due_delayed_job_with_higher_priority_goes_first(start_daemon):
    d = start_daemon("--concurrency", "1")
    with ws_open(d) as ws:
        blocker = create(d.url, "countdown", {"seconds": 30})
        wait_for(lambda: in_status(d.url, blocker["id"], "running"))
        low = [create(d.url, "prime", {"limit": 10})["id"] for _ in range(2)]
        high = create(d.url, "prime", {"limit": 10}, priority=10, delay=0.3)
        wait_for(lambda: time.time() > high["run_at"] + 0.1)  # its own time has passed
        cancel(d.url, blocker["id"])
        order = started_order(ws, {*low, high["id"]})
    assert order == [high["id"], *low]


def test_cancelled_delayed_job_never_runs(start_daemon):
    d = start_daemon()
    with ws_open(d) as ws:
        delayed = create(d.url, "prime", {"limit": 10}, delay=0.3)
        cancel(d.url, delayed["id"])
        wait_for(lambda: time.time() > delayed["run_at"] + 0.1)
        sentinel = create(d.url, "prime", {"limit": 10})
        order = started_order(ws, {sentinel["id"]})
    assert order == [sentinel["id"]]
    j = get(d.url, delayed["id"])
    assert j["status"] == "cancelled" and j["started_at"] is None


# --- timeouts --------------------------------------------------------------------------------------


def test_timeout_on_a_built_in(daemon):
    j = create(daemon.url, "countdown", {"seconds": 30}, timeout=1)
    assert j["timeout"] == 1
    done = finished(daemon.url, j["id"], timeout=15)
    assert (done["status"], done["error"]) == ("failed", "Timed out after 1 seconds")
    assert done["completed_at"] - done["started_at"] < 5
    half = finished(daemon.url, create(daemon.url, "echo", {"delay": 30}, timeout=0.5)["id"], timeout=15)
    assert (half["status"], half["error"]) == ("failed", "Timed out after 0.5 seconds")
    quick = finished(daemon.url, create(daemon.url, "prime", {"limit": 10}, timeout=30)["id"])
    assert quick["status"] == "completed"


def test_timeout_on_a_command_type(start_daemon, tmp_path):
    d = start_daemon("--job-types-dir", command_types(tmp_path))
    by_submission = create(d.url, "sleeper", {"seconds": 30}, timeout=1)
    by_type = create(d.url, "sleeper-1s", {"seconds": 30})
    assert (by_submission["timeout"], by_type["timeout"]) == (1, 1)
    for j in (by_submission, by_type):
        done = finished(d.url, j["id"], timeout=15)
        assert (done["status"], done["error"]) == ("failed", "Timed out after 1 seconds")
        assert done["completed_at"] - done["started_at"] < 8
    # The type's timeout is a default: a submission may give its job longer.
    longer = create(d.url, "sleeper-1s", {"seconds": 1.5}, timeout=10)
    assert longer["timeout"] == 10
    done = finished(d.url, longer["id"], timeout=15)
    assert done["status"] == "completed", done["error"]


def test_timed_out_attempts_are_retried(daemon):
    j = create(daemon.url, "countdown", {"seconds": 30}, timeout=0.5, max_attempts=2,
               backoff={"initial": 0.1, "max": 0.1})
    done = finished(daemon.url, j["id"], timeout=15)
    assert (done["status"], done["attempt"], done["error"]) == ("failed", 2, "Timed out after 0.5 seconds")
    assert [(e["attempt"], e["error"]) for e in done["errors"]] == [(1, "Timed out after 0.5 seconds"),
                                                                      (2, "Timed out after 0.5 seconds")]


# --- retries -----------------------------------------------------------------------------------


def check_backoff(errors, retrying, backoff):
    """Each retry's run_at lies in [base/2, base] after its failure (base = initial * 2^(n-1), capped)."""
    for e, r in zip(errors, retrying):
        base = min(backoff["max"], backoff["initial"] * 2 ** (e["attempt"] - 1))
        waited = r["run_at"] - e["at"]
        assert base / 2 - 1e-3 <= waited <= base + 1e-3, (e, r, base)


def test_failing_twice_then_succeeding(start_daemon, tmp_path):
    d = start_daemon("--job-types-dir", command_types(tmp_path))
    counter = str(tmp_path / "count")
    backoff = {"initial": 0.2, "max": 0.3}
    # Held in a paused queue until both streams are open, so no event is missed.
    assert put_queue(d.url, "hold", {"paused": True}).status_code == 200
    j = create(d.url, "flaky", {"file": counter, "until": 3}, max_attempts=3, backoff=backoff, queue="hold")
    sse = sse_events(f"{d.url}/api/jobs/{j['id']}/progress")
    assert next(sse)[1] == "status"
    with ws_open(d) as ws:
        assert put_queue(d.url, "hold", {"paused": False}).status_code == 200
        done, seen = recv_until(ws, lambda m: m["type"] in ("job_completed", "job_failed")
                                and m["data"]["job_id"] == j["id"])
    assert done["type"] == "job_completed"
    retrying = [m["data"] for m in seen if m["type"] == "job_retrying"]
    assert [(r["job_id"], r["attempt"]) for r in retrying] == [(j["id"], 2), (j["id"], 3)]
    assert [r["error"] for r in retrying] == ["Exited with status 1: attempt 1 failed",
                                              "Exited with status 1: attempt 2 failed"]
    assert [m["data"]["job_id"] for m in seen if m["type"] == "job_started"] == [j["id"]] * 3
    job = get(d.url, j["id"])
    assert (job["status"], job["attempt"], job["error"], job["result"]) == ("completed", 3, None, {"attempts": 3})
    assert [(e["attempt"], e["error"]) for e in job["errors"]] == [(1, "Exited with status 1: attempt 1 failed"),
                                                                     (2, "Exited with status 1: attempt 2 failed")]
    check_backoff(job["errors"], retrying, backoff)
    assert job["started_at"] >= retrying[-1]["run_at"]
    assert runs(counter) == 3
    rest = list(sse)
    names = [e[1] for e in rest]
    assert names.count("retrying") == 2 and names[-1] == "complete"
    assert [e[2]["attempt"] for e in rest if e[1] == "retrying"] == [2, 3]
    assert [e[2] for e in rest if e[1] == "retrying"] == [{k: r[k] for k in ("attempt", "run_at", "error")}
                                                          for r in retrying]
    ids = [e[0] for e in rest]
    assert ids == sorted(set(ids))


def test_attempts_exhausted_fails_with_every_error(start_daemon, tmp_path):
    d = start_daemon("--job-types-dir", command_types(tmp_path))
    counter = str(tmp_path / "count")
    backoff = {"initial": 0.1, "max": 0.15}
    j = create(d.url, "flaky", {"file": counter, "until": 99}, max_attempts=3, backoff=backoff)
    done = finished(d.url, j["id"])
    assert (done["status"], done["attempt"], done["max_attempts"]) == ("failed", 3, 3)
    assert done["error"] == "Exited with status 1: attempt 3 failed"
    assert [(e["attempt"], e["error"]) for e in done["errors"]] == [
        (a, f"Exited with status 1: attempt {a} failed") for a in (1, 2, 3)]
    ats = [e["at"] for e in done["errors"]]
    assert ats == sorted(ats)
    assert ats[1] - ats[0] >= 0.05 and ats[2] - ats[1] >= 0.075  # at least base/2 apart
    assert runs(counter) == 3


def test_type_max_attempts_is_a_default(start_daemon, tmp_path):
    d = start_daemon("--job-types-dir", command_types(tmp_path))
    by_type = create(d.url, "flaky3", {"file": str(tmp_path / "a"), "until": 2}, backoff={"initial": 0.1, "max": 0.1})
    assert by_type["max_attempts"] == 3
    once = create(d.url, "flaky3", {"file": str(tmp_path / "b"), "until": 2}, max_attempts=1)
    assert once["max_attempts"] == 1
    assert finished(d.url, by_type["id"])["status"] == "completed"
    done = finished(d.url, once["id"])
    assert (done["status"], done["error"], done["errors"]) == ("failed", "Exited with status 1: attempt 1 failed", [])
    assert (runs(str(tmp_path / "a")), runs(str(tmp_path / "b"))) == (2, 1)


def test_cancel_is_not_retried(start_daemon, tmp_path):
    d = start_daemon("--job-types-dir", command_types(tmp_path))
    with ws_open(d) as ws:
        running = create(d.url, "countdown", {"seconds": 30}, max_attempts=5, backoff={"initial": 0.1, "max": 0.1})
        wait_for(lambda: in_status(d.url, running["id"], "running"))
        cancel(d.url, running["id"])
        # A job waiting out its backoff is pending: cancelling it ends it too.
        counter = str(tmp_path / "count")
        waiting = create(d.url, "flaky", {"file": counter, "until": 99}, max_attempts=5,
                         backoff={"initial": 60, "max": 60})
        wait_for(lambda: (j := get(d.url, waiting["id"]))["status"] == "pending" and j["attempt"] == 2)
        cancel(d.url, waiting["id"])
        sentinel = create(d.url, "prime", {"limit": 10})
        _, seen = recv_until(ws, lambda m: m["type"] == "job_completed" and m["data"]["job_id"] == sentinel["id"])
    assert [m["data"]["job_id"] for m in seen if m["type"] == "job_retrying"] == [waiting["id"]]
    j = get(d.url, running["id"])
    assert (j["status"], j["attempt"], j["errors"]) == ("cancelled", 1, [])
    j = get(d.url, waiting["id"])
    assert (j["status"], j["attempt"], len(j["errors"])) == ("cancelled", 2, 1)
    assert runs(counter) == 1


def test_interruption_by_a_stop_is_not_retried(start_daemon, tmp_path):
    db = str(tmp_path / "jobs.db")
    types = command_types(tmp_path)
    d = start_daemon("--db", db, "--job-types-dir", types)
    j = create(d.url, "sleeper", {"seconds": 30}, max_attempts=3, backoff={"initial": 0.1, "max": 0.1})
    wait_for(lambda: in_status(d.url, j["id"], "running"))
    assert d.stop() == 0
    d = start_daemon("--db", db, "--job-types-dir", types)
    done = get(d.url, j["id"])
    assert (done["status"], done["error"], done["attempt"]) == ("failed", INTERRUPTED, 1)


# --- the retry endpoint ----------------------------------------------------------------------------


def test_retry_endpoint_runs_a_failed_job_again(start_daemon, tmp_path):
    d = start_daemon("--job-types-dir", command_types(tmp_path))
    counter = str(tmp_path / "count")
    j = create(d.url, "flaky", {"file": counter, "until": 3}, max_attempts=2, backoff={"initial": 0.1, "max": 0.1})
    failed = finished(d.url, j["id"])
    assert (failed["status"], len(failed["errors"])) == ("failed", 2)
    with ws_open(d) as ws:
        r = requests.post(f"{d.url}/api/jobs/{j['id']}/retry")
        assert r.status_code == 200, r.text
        again = r.json()
        assert (again["id"], again["status"], again["attempt"], again["error"], again["started_at"]) == \
            (j["id"], "pending", 1, None, None)
        assert again["errors"] == failed["errors"]
        retried, _ = recv_until(ws, lambda m: m["type"] == "job_retried")
        assert retried["data"]["id"] == j["id"] and retried["data"]["status"] == "pending"
        recv_until(ws, lambda m: m["type"] == "job_completed" and m["data"]["job_id"] == j["id"])
    done = get(d.url, j["id"])
    assert (done["status"], done["attempt"], done["result"]) == ("completed", 1, {"attempts": 3})
    assert done["errors"] == failed["errors"]
    assert runs(counter) == 3


def test_retry_endpoint_refusals(start_daemon):
    d = start_daemon("--concurrency", "1")
    running = create(d.url, "countdown", {"seconds": 30})
    wait_for(lambda: in_status(d.url, running["id"], "running"))
    pending = create(d.url, "prime", {"limit": 10})
    for job_id, status in ((running["id"], "running"), (pending["id"], "pending")):
        r = requests.post(f"{d.url}/api/jobs/{job_id}/retry")
        assert r.status_code == 409
        assert r.json()["error"] == f"Cannot retry job in status: {status}"
    for path in ("999", "abc", "0"):
        r = requests.post(f"{d.url}/api/jobs/{path}/retry")
        assert (r.status_code, r.json()) == (404, {"error": f"Job not found: {path}"})
    # A cancelled job may be retried too.
    cancel(d.url, pending["id"])
    cancel(d.url, running["id"])
    r = requests.post(f"{d.url}/api/jobs/{pending['id']}/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert finished(d.url, pending["id"])["status"] == "completed"
    r = requests.post(f"{d.url}/api/jobs/{pending['id']}/retry")
    assert (r.status_code, r.json()["error"]) == (409, "Cannot retry job in status: completed")


def test_retry_over_ws(start_daemon):
    d = start_daemon("--concurrency", "1")
    with ws_open(d) as ws:
        failed = create(d.url, "countdown", {"seconds": 30}, timeout=0.2)
        finished(d.url, failed["id"])
        running = create(d.url, "countdown", {"seconds": 30})
        wait_for(lambda: in_status(d.url, running["id"], "running"))
        assert ws_command(ws, {"type": "retry_job", "job_id": running["id"]}, ["job_retried_ack"]) == \
            {"type": "error", "message": "Cannot retry job in status: running"}
        assert ws_command(ws, {"type": "retry_job", "job_id": 999}, ["job_retried_ack"]) == \
            {"type": "error", "message": "Job not found: 999"}
        assert ws_command(ws, {"type": "retry_job"}, ["job_retried_ack"]) == \
            {"type": "error", "message": "Missing or invalid 'job_id' field"}
        ws.send(json.dumps({"type": "retry_job", "job_id": failed["id"]}))
        ack, seen = recv_until(ws, lambda m: m["type"] in ("job_retried_ack", "error"))
        assert ack == {"type": "job_retried_ack", "job_id": failed["id"]}
        # The broadcast goes out before the ack (it is committed first).
        retried = [m for m in seen if m["type"] == "job_retried"]
        assert len(retried) == 1 and retried[0]["data"]["id"] == failed["id"]
        assert retried[0]["data"]["status"] == "pending" and retried[0]["data"]["attempt"] == 1
    assert get(d.url, failed["id"])["status"] == "pending"


# --- idempotency ---------------------------------------------------------------------------------


def test_same_key_twice_gives_the_same_job(start_daemon):
    d = start_daemon()
    body = {"job_type": "prime", "params": {"limit": 10}, "idempotency_key": "order-42"}
    first = post(d.url, body)
    assert first.status_code == 201
    second = post(d.url, body)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Location"] == f"/api/jobs/{first.json()['id']}"
    # Other params with the same key: still the first job, unchanged.
    other = post(d.url, {"job_type": "countdown", "params": {"seconds": 5}, "idempotency_key": "order-42"})
    assert (other.status_code, other.json()["id"], other.json()["type"]) == (200, first.json()["id"], "prime")
    # Still held once the job finished ...
    finished(d.url, first.json()["id"])
    assert post(d.url, body).status_code == 200
    assert requests.get(f"{d.url}/api/stats").json()["queue"]["total"] == 1
    # ... and free again once the job is cleared.
    assert requests.post(f"{d.url}/api/jobs/clear-completed").json() == {"cleared": 1}
    fresh = post(d.url, body)
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("store", ["memory", "durable"])
def test_twenty_concurrent_submissions_with_one_key_make_one_job(start_daemon, store):
    """Five bursts of 20 simultaneous POSTs, one key per burst: one job (one 201) each."""
    d = start_daemon(*(["--db", ":memory:"] if store == "memory" else []))
    outcomes = []
    for burst in range(5):
        barrier = threading.Barrier(20)
        answers = [None] * 20

        def client(i):
            with requests.Session() as s:
                barrier.wait(timeout=15)
                r = s.post(f"{d.url}/api/jobs", json={"job_type": "countdown", "params": {"seconds": 30},
                                                       "idempotency_key": f"same-{burst}"}, timeout=15)
                answers[i] = (r.status_code, r.json()["id"])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        join(threads, 30, f"burst {burst}'s clients")
        outcomes.append((sorted(a[0] for a in answers).count(201), len({a[1] for a in answers})))
    total = requests.get(f"{d.url}/api/stats").json()["queue"]["total"]
    # Per burst: (how many 201s, how many distinct job ids); then jobs in all.
    assert (outcomes, total) == ([(1, 1)] * 5, 5)


def test_idempotency_key_header(start_daemon):
    d = start_daemon()
    body = {"job_type": "prime", "params": {"limit": 10}}
    first = post(d.url, body, {"Idempotency-Key": "hdr-1"})
    assert first.status_code == 201 and first.json()["idempotency_key"] == "hdr-1"
    again = post(d.url, body, {"Idempotency-Key": "hdr-1"})
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    # Header and body naming the same key agree; the body alone finds it too.
    same = post(d.url, {**body, "idempotency_key": "hdr-1"}, {"Idempotency-Key": "hdr-1"})
    assert (same.status_code, same.json()["id"]) == (200, first.json()["id"])
    assert post(d.url, {**body, "idempotency_key": "hdr-1"}).status_code == 200
    r = post(d.url, {**body, "idempotency_key": "other"}, {"Idempotency-Key": "hdr-1"})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid 'idempotency_key' field: differs from the Idempotency-Key header"})
    r = post(d.url, body, {"Idempotency-Key": "h" * 201})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid Idempotency-Key header: must be 1 to 200 characters"})
    assert post(d.url, body, {"Idempotency-Key": "h" * 200}).status_code == 201


def test_ws_duplicate_ack_and_keys_shared_with_rest(start_daemon):
    d = start_daemon()
    with ws_open(d) as ws:
        command = {"type": "create_job", "job_type": "prime", "params": {"limit": 10}, "idempotency_key": "ws-1"}
        first = ws_command(ws, command, ["job_created_ack"])
        assert first["type"] == "job_created_ack" and "duplicate" not in first
        second = ws_command(ws, command, ["job_created_ack"])
        assert second == {"type": "job_created_ack", "job_id": first["job_id"], "duplicate": True}
        r = post(d.url, {"job_type": "prime", "params": {"limit": 10}}, {"Idempotency-Key": "ws-1"})
        assert (r.status_code, r.json()["id"]) == (200, first["job_id"])
        made = create(d.url, "prime", {"limit": 10}, idempotency_key="rest-1")
        third = ws_command(ws, {**command, "idempotency_key": "rest-1"}, ["job_created_ack"])
        assert third == {"type": "job_created_ack", "job_id": made["id"], "duplicate": True}
    assert requests.get(f"{d.url}/api/stats").json()["queue"]["total"] == 2


def test_idempotency_key_survives_a_restart(start_daemon, tmp_path):
    db = str(tmp_path / "jobs.db")
    d = start_daemon("--db", db)
    first = create(d.url, "prime", {"limit": 10}, idempotency_key="durable-key")
    finished(d.url, first["id"])
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    d = start_daemon("--db", db)
    r = post(d.url, {"job_type": "prime", "params": {"limit": 10}, "idempotency_key": "durable-key"})
    assert (r.status_code, r.json()["id"]) == (200, first["id"])


def test_prune_frees_keys_and_is_announced(start_daemon, tmp_path):
    config = tmp_path / "jobrunner.json"
    config.write_text("{}")
    d = start_daemon("--config", str(config), "--db", str(tmp_path / "jobs.db"))
    old = create(d.url, "prime", {"limit": 10}, idempotency_key="pruned-key")
    finished(d.url, old["id"])
    newest = create(d.url, "prime", {"limit": 10})
    finished(d.url, newest["id"])
    with ws_open(d) as ws:
        config.write_text(json.dumps({"retain-finished": "1"}))
        d.proc.send_signal(signal.SIGHUP)
        pruned, _ = recv_until(ws, lambda m: m["type"] == "jobs_pruned")
    assert pruned["data"] == {"count": 1, "completed": 1, "failed": 0, "cancelled": 0}
    assert requests.get(f"{d.url}/api/jobs/{old['id']}").status_code == 404
    r = post(d.url, {"job_type": "prime", "params": {"limit": 10}, "idempotency_key": "pruned-key"})
    assert r.status_code == 201 and r.json()["id"] != old["id"]


# --- named queues -----------------------------------------------------------------------------------


def test_paused_queue_holds_its_jobs_while_others_run(start_daemon):
    d = start_daemon("--concurrency", "2")
    with ws_open(d) as ws:
        running = create(d.url, "countdown", {"seconds": 2}, queue="slow")
        wait_for(lambda: in_status(d.url, running["id"], "running"))
        r = put_queue(d.url, "slow", {"paused": True})
        assert (r.status_code, r.json()) == (200, {"name": "slow", "paused": True, "concurrency": None})
        updated, _ = recv_until(ws, lambda m: m["type"] == "queue_updated")
        assert updated["data"] == {"name": "slow", "paused": True, "concurrency": None}
        held = [create(d.url, "prime", {"limit": 10}, queue="slow", priority=100)["id"] for _ in range(2)]
        others = [create(d.url, "prime", {"limit": 10}, queue="fast")["id"] for _ in range(3)]
        for i in others:
            assert finished(d.url, i)["status"] == "completed"
        # The job already running when the queue was paused goes on to its end.
        assert finished(d.url, running["id"])["status"] == "completed"
        assert [get(d.url, i)["status"] for i in held] == ["pending", "pending"]
        q = queues(d.url)
        assert q["slow"]["paused"] is True and q["slow"]["counts"]["pending"] == 2
        r = put_queue(d.url, "slow", {"paused": False})
        assert r.json() == {"name": "slow", "paused": False, "concurrency": None}
        started_order(ws, set(held))
    for i in held:
        assert finished(d.url, i)["status"] == "completed"


def test_queue_concurrency_holds_the_second_job(start_daemon):
    d = start_daemon("--concurrency", "3")
    r = put_queue(d.url, "one", {"concurrency": 1})
    assert (r.status_code, r.json()) == (200, {"name": "one", "paused": False, "concurrency": 1})
    first = create(d.url, "countdown", {"seconds": 30}, queue="one")
    second = create(d.url, "countdown", {"seconds": 30}, queue="one")
    elsewhere = create(d.url, "countdown", {"seconds": 30})
    wait_for(lambda: in_status(d.url, elsewhere["id"], "running"))
    wait_for(lambda: in_status(d.url, first["id"], "running"))
    assert get(d.url, second["id"])["status"] == "pending"
    assert requests.get(f"{d.url}/api/stats").json()["worker"]["active"] == 2
    cancel(d.url, first["id"])
    wait_for(lambda: in_status(d.url, second["id"], "running"))
    # null lifts the limit; paused stays as it was.
    third = create(d.url, "countdown", {"seconds": 30}, queue="one")
    assert get(d.url, third["id"])["status"] == "pending"
    r = put_queue(d.url, "one", {"concurrency": None})
    assert r.json() == {"name": "one", "paused": False, "concurrency": None}
    wait_for(lambda: in_status(d.url, third["id"], "running"))


def test_type_concurrency_from_the_definition(start_daemon, tmp_path):
    d = start_daemon("--concurrency", "3", "--job-types-dir", command_types(tmp_path))
    a = create(d.url, "single", {"seconds": 30})
    b = create(d.url, "single", {"seconds": 30}, queue="elsewhere")
    other = create(d.url, "sleeper", {"seconds": 30})
    wait_for(lambda: in_status(d.url, other["id"], "running"))
    wait_for(lambda: in_status(d.url, a["id"], "running"))
    assert get(d.url, b["id"])["status"] == "pending"
    cancel(d.url, a["id"])
    wait_for(lambda: in_status(d.url, b["id"], "running"))


def test_get_queues_counts(start_daemon):
    d = start_daemon("--concurrency", "1")
    assert requests.get(f"{d.url}/api/queues").json() == [
        {"name": "default", "paused": False, "concurrency": None,
         "counts": {"pending": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}}]
    done = create(d.url, "prime", {"limit": 10}, queue="a")
    finished(d.url, done["id"])
    bad = create(d.url, "countdown", {"seconds": 30}, queue="a", timeout=0.2)
    finished(d.url, bad["id"])
    running = create(d.url, "countdown", {"seconds": 30}, queue="b")
    wait_for(lambda: in_status(d.url, running["id"], "running"))
    create(d.url, "prime", {"limit": 10}, queue="b")
    gone = create(d.url, "prime", {"limit": 10})
    cancel(d.url, gone["id"])
    assert put_queue(d.url, "empty", {"paused": True}).status_code == 200
    q = queues(d.url)
    assert set(q) == {"default", "a", "b", "empty"}
    assert q["a"]["counts"] == {"pending": 0, "running": 0, "completed": 1, "failed": 1, "cancelled": 0, "total": 2}
    assert q["b"]["counts"] == {"pending": 1, "running": 1, "completed": 0, "failed": 0, "cancelled": 0, "total": 2}
    assert q["default"]["counts"] == {"pending": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 1, "total": 1}
    assert q["empty"] == {"name": "empty", "paused": True, "concurrency": None,
                          "counts": {"pending": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}}
    assert [x["name"] for x in requests.get(f"{d.url}/api/queues").json()] == ["a", "b", "default", "empty"]
    requests.post(f"{d.url}/api/jobs/clear-completed")
    q = queues(d.url)
    # A queue whose last job is gone and that has no settings leaves the list.
    assert "a" not in q and q["b"]["counts"]["total"] == 2 and q["empty"]["paused"] is True
    assert put_queue(d.url, "empty", {"paused": False}).status_code == 200
    assert set(queues(d.url)) == {"b", "default"}


def test_queues_named_by_submitters_leave_with_their_jobs(start_daemon):
    d = start_daemon()
    jobs = [create(d.url, "prime", {"limit": 10}, queue=f"made-up-{i}") for i in range(40)]
    for job in jobs:
        finished(d.url, job["id"])
    assert len(queues(d.url)) == 41
    body = {"filter": {"queue": [f"made-up-{i}" for i in range(20)]}, "expected_count": 20}
    r = requests.post(f"{d.url}/api/jobs/bulk/delete", json=body)
    assert r.status_code == 200 and r.json()["done"] == 20, r.text
    assert len(queues(d.url)) == 21
    requests.post(f"{d.url}/api/jobs/clear-completed")
    assert set(queues(d.url)) == {"default"}


def test_put_queue_validation(daemon):
    url = daemon.url
    cases = [
        ("Bad", {"paused": True}, "Invalid queue name: must match ^[a-z0-9_-]{1,64}$"),
        ("a" * 65, {"paused": True}, "Invalid queue name: must match ^[a-z0-9_-]{1,64}$"),
        ("ok", {"paused": "yes"}, "Invalid 'paused' field: must be true or false"),
        ("ok", {"paused": None}, "Invalid 'paused' field: must be true or false"),
        ("ok", {"concurrency": 0}, "Invalid 'concurrency' field: must be an integer from 1 to 10000, or null"),
        ("ok", {"concurrency": 10001}, "Invalid 'concurrency' field: must be an integer from 1 to 10000, or null"),
        ("ok", {"concurrency": "2"}, "Invalid 'concurrency' field: must be an integer from 1 to 10000, or null"),
        ("ok", {"pause": True}, "Unknown field: pause (known: paused, concurrency)"),
    ]
    for name, body, message in cases:
        r = put_queue(url, name, body)
        assert (r.status_code, r.json()) == (400, {"error": message}), (name, body)
    r = requests.put(f"{url}/api/queues/ok", data="[1]", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid JSON body"})
    assert "ok" not in queues(url)
    # Each field alone changes only itself.
    assert put_queue(url, "ok", {"paused": True}).json() == {"name": "ok", "paused": True, "concurrency": None}
    assert put_queue(url, "ok", {"concurrency": 2}).json() == {"name": "ok", "paused": True, "concurrency": 2}
    assert put_queue(url, "ok", {}).json() == {"name": "ok", "paused": True, "concurrency": 2}
    r = requests.get(f"{url}/api/queues/ok")
    assert r.status_code == 405


def test_queue_settings_survive_a_restart(start_daemon, tmp_path):
    db = str(tmp_path / "jobs.db")
    d = start_daemon("--db", db)
    assert put_queue(d.url, "reports", {"paused": True}).status_code == 200
    assert put_queue(d.url, "batch", {"concurrency": 2}).status_code == 200
    held = create(d.url, "prime", {"limit": 10}, queue="reports")
    assert d.stop() == 0
    d = start_daemon("--db", db)
    q = queues(d.url)
    assert (q["reports"]["paused"], q["reports"]["concurrency"], q["reports"]["counts"]["pending"]) == (True, None, 1)
    assert (q["batch"]["paused"], q["batch"]["concurrency"]) == (False, 2)
    sentinel = create(d.url, "prime", {"limit": 10})
    assert finished(d.url, sentinel["id"])["status"] == "completed"
    assert get(d.url, held["id"])["status"] == "pending"
    assert put_queue(d.url, "reports", {"paused": False}).status_code == 200
    assert finished(d.url, held["id"])["status"] == "completed"
    # And after kill -9 as well.
    assert put_queue(d.url, "reports", {"paused": True, "concurrency": 5}).status_code == 200
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    d = start_daemon("--db", db)
    q = queues(d.url)
    assert (q["reports"]["paused"], q["reports"]["concurrency"]) == (True, 5)


# --- restart with delayed and retrying jobs -----------------------------------------------------------


def test_kill_9_keeps_delayed_and_retrying_jobs_and_runs_each_once(start_daemon, tmp_path):
    db = str(tmp_path / "jobs.db")
    types = command_types(tmp_path)
    d = start_daemon("--db", db, "--job-types-dir", types)
    files = {name: str(tmp_path / f"{name}.count") for name in ("early", "later", "retry")}
    # Due while the daemon is down; due after the restart; failing once, then waiting out its backoff.
    early = create(d.url, "flaky", {"file": files["early"]}, delay=1)
    later = create(d.url, "flaky", {"file": files["later"]}, delay=6)
    retry = create(d.url, "flaky", {"file": files["retry"], "until": 2}, max_attempts=3,
                   backoff={"initial": 8, "max": 8})
    interrupted = create(d.url, "sleeper", {"seconds": 30}, max_attempts=3, backoff={"initial": 0.1, "max": 0.1})
    waiting = wait_for(lambda: (j := get(d.url, retry["id"]))["status"] == "pending" and j["attempt"] == 2 and j)
    assert len(waiting["errors"]) == 1 and waiting["run_at"] - waiting["errors"][0]["at"] >= 4 - 1e-3
    wait_for(lambda: in_status(d.url, interrupted["id"], "running"))
    before = {j["id"]: get(d.url, j["id"]) for j in (early, later)}
    before[retry["id"]] = waiting
    assert runs(files["early"]) == 0 and runs(files["retry"]) == 1
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    wait_for(lambda: time.time() > early["run_at"] + 0.2)  # early's time passes while nothing runs

    d = start_daemon("--db", db, "--job-types-dir", types)
    for job_id in (later["id"], retry["id"]):
        now = get(d.url, job_id)
        assert now["status"] == "pending"
        for field in ("run_at", "attempt", "errors", "max_attempts", "created_at"):
            assert now[field] == before[job_id][field], field
    j = get(d.url, interrupted["id"])
    assert (j["status"], j["error"], j["attempt"]) == ("failed", INTERRUPTED, 1)
    for job_id in (early["id"], later["id"], retry["id"]):
        done = finished(d.url, job_id, timeout=30)
        assert done["status"] == "completed", done
        assert done["started_at"] >= before[job_id]["run_at"]
    done = get(d.url, retry["id"])
    assert (done["attempt"], done["errors"]) == (2, waiting["errors"])
    # No due job ran twice: each counter file holds one line per run.
    assert {name: runs(path) for name, path in files.items()} == {"early": 1, "later": 1, "retry": 2}
    assert get(d.url, interrupted["id"])["status"] == "failed"
