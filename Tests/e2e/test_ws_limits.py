"""The WebSocket's bounds with many jobs: a bounded queue_state, and a client that
asks for it again and again without reading is closed while others are served."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from websockets.sync.client import connect

from live import RawWebSocket, rss_kib
from test_rest import submit
from waits import recv_until, wait_for

PENDING = 3000


def stats(url):
    return requests.get(f"{url}/api/stats").json()


def post_jobs(url, count, job_type="echo", params=None, threads=8):
    """Creates `count` jobs over parallel keep-alive connections."""
    params = params or {"message": "queued", "delay": 1}

    def worker(n):
        with requests.Session() as s:
            for _ in range(n):
                r = s.post(f"{url}/api/jobs", json={"job_type": job_type, "params": params})
                assert r.status_code == 201, r.text

    share = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, share))


def blocked_daemon(start_daemon, *args):
    """One worker slot held by a 60 s countdown, and PENDING echo jobs behind it."""
    d = start_daemon("--concurrency", "1", "--sync", "normal", *args)
    blocker = submit(d.url, "countdown", seconds=60)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{blocker['id']}").json()["status"] == "running")
    post_jobs(d.url, PENDING)
    return d, blocker


def test_queue_state_is_bounded_with_exact_counts(start_daemon):
    d, blocker = blocked_daemon(start_daemon)
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue", max_size=None) as ws:
        state = json.loads(ws.recv(timeout=10))
        assert state["type"] == "queue_state"  # always the first frame
        assert state["truncated"] is True
        running = [j for j in state["jobs"] if j["status"] == "running"]
        pending = [j["id"] for j in state["jobs"] if j["status"] == "pending"]
        assert [j["id"] for j in running] == [blocker["id"]]
        # The first 1,000 in run order.
        assert pending == list(range(blocker["id"] + 1, blocker["id"] + 1001))
        assert len(state["jobs"]) == 1001
        # The counts are exact and agree with REST.
        assert state["stats"]["pending"] == PENDING and state["stats"]["running"] == 1
        assert state["stats"]["total"] == PENDING + 1
        assert {k: state["stats"][k] for k in ("pending", "running", "completed", "failed", "cancelled", "total")} == \
            {k: stats(d.url)["queue"][k] for k in ("pending", "running", "completed", "failed", "cancelled", "total")}
        # The rest is read through REST pages.
        page = requests.get(f"{d.url}/api/jobs?status=pending&after_id={pending[-1]}&limit=1000&order=asc")
        assert [j["id"] for j in page.json()] == list(range(pending[-1] + 1, pending[-1] + 1001))
        assert 'rel="next"' in page.headers["Link"]
        # get_state answers with the same bound.
        ws.send(json.dumps({"type": "get_state"}))
        # Broadcasts (the blocker's progress) may come first.
        again, _ = recv_until(ws, lambda m: m["type"] == "queue_state", what="queue_state answering get_state")
        assert len(again["jobs"]) == 1001 and again["truncated"] is True


def test_get_state_spam_from_a_client_that_never_reads(start_daemon):
    d, _ = blocked_daemon(start_daemon, "--ws-max-queue", "65536", "--ws-ping-interval", "1")
    # A reader that keeps up: it must hear the daemon's ping every second throughout.
    pings = []
    closed = []
    watcher_ready = threading.Event()

    def watch():
        with connect(f"ws://127.0.0.1:{d.port}/ws/queue", max_size=None, max_queue=None) as ws:
            watcher_ready.set()
            try:
                while not closed:
                    try:
                        message = json.loads(ws.recv(timeout=0.5))
                    except TimeoutError:
                        continue
                    if message["type"] == "ping":
                        pings.append(time.monotonic())
                        ws.send(json.dumps({"type": "pong", "ts": message["ts"]}))
            except Exception as e:  # noqa: BLE001 - reported below
                closed.append(repr(e))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watcher_ready.wait(10)
    wait_for(lambda: stats(d.url)["clients"]["websocket"] == 1)
    before = rss_kib(d.proc.pid)

    slow = RawWebSocket(d.port, rcvbuf=4096)
    assert slow.status == 101
    # 1,000 requests for a ~250 KB snapshot each: 250 MB if each were queued.
    request = json.dumps({"type": "get_state"}).encode()
    for _ in range(1000):
        slow.send_frame(0x1, request)
    started = time.monotonic()
    # Jobs keep arriving, as events for both clients.
    post_jobs(d.url, 1500, job_type="prime", params={"limit": 10})
    grown = rss_kib(d.proc.pid) - before
    assert grown < 64 * 1024, f"RSS grew {grown} KiB"
    assert slow.close_code() == 1013
    wait_for(lambda: stats(d.url)["clients"]["websocket"] == 1)
    ended = time.monotonic()
    closed.append("done")
    watcher.join(10)
    assert closed == ["done"], closed
    during = [t for t in pings if started <= t <= ended]
    assert len(during) >= 2, pings
    gaps = [b - a for a, b in zip([started] + during, during + [ended])]
    assert max(gaps) < 3.0, f"pings late: gaps {gaps}"
