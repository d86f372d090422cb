"""Live updates from outside: the per-job SSE stream and the WebSocket queue protocol."""
import json
import signal
import socket
import threading

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from live import RawWebSocket, parse_sse, rss_kib, sse_events
from test_rest import submit
from waits import recv_json, recv_until, wait_for, ws_closed


def stats(url):
    return requests.get(f"{url}/api/stats").json()


# --- SSE -------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "text/event-stream"])
def test_sse_streams_every_event_then_ends(daemon, accept):
    job = submit(daemon.url, "fibonacci", count=5)
    headers = {"Accept": accept} if accept else {}
    events = list(sse_events(f"{daemon.url}/api/jobs/{job['id']}/progress", headers))
    first_id, name, status = events[0]
    assert name == "status"
    assert set(status) == {"id", "type", "status", "progress", "started_at"}
    assert status["id"] == job["id"] and status["type"] == "fibonacci"
    names = [e[1] for e in events]
    assert names.count("complete") == 1 and names[-1] == "complete"
    assert set(names[1:-1]) <= {"progress"}
    ids = [e[0] for e in events]
    assert ids == sorted(set(ids)), "ids increase, no duplicates"
    final = events[-1][2]
    assert final["status"] == "completed"
    assert final["result"] == {"message": "Calculated 5 Fibonacci numbers", "count": 5,
                               "sequence": [0, 1, 1, 2, 3], "last": 3}
    assert final["duration"] > 0
    progress = [e[2] for e in events if e[1] == "progress"]
    assert progress[-1] == {"percent": 100, "message": "Complete!"}
    assert all(set(p) == {"percent", "message"} for p in progress)


def test_sse_headers_retry_and_unknown_job(daemon):
    job = submit(daemon.url, "prime", limit=10)
    wait_for(lambda: requests.get(f"{daemon.url}/api/jobs/{job['id']}").json()["status"] == "completed")
    with requests.get(f"{daemon.url}/api/jobs/{job['id']}/progress", stream=True) as r:
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["X-Accel-Buffering"] == "no"
        body = r.text
    assert body.startswith("retry: 2000\n\n")
    assert body.count("retry:") == 1
    events = list(parse_sse(body.split("\n")))
    assert [e[1] for e in events] == ["status", "complete"]
    r = requests.get(f"{daemon.url}/api/jobs/999/progress")
    assert (r.status_code, r.json()) == (404, {"error": "Job not found: 999"})


def test_sse_cancelled_events(daemon):
    job = submit(daemon.url, "countdown", seconds=30)
    stream = sse_events(f"{daemon.url}/api/jobs/{job['id']}/progress")
    assert next(stream)[1] == "status"
    requests.delete(f"{daemon.url}/api/jobs/{job['id']}")
    rest = list(stream)
    assert rest[-1][1:] == ("cancelled", {"job_id": job["id"]})
    again = list(sse_events(f"{daemon.url}/api/jobs/{job['id']}/progress"))
    assert [e[1] for e in again] == ["status", "cancelled"]
    assert again[-1][2] == {"status": "cancelled"}


def test_sse_last_event_id_resume_has_no_duplicates(daemon):
    job = submit(daemon.url, "fibonacci", count=30)
    url = f"{daemon.url}/api/jobs/{job['id']}/progress"
    first = sse_events(url)
    seen = [next(first) for _ in range(4)]
    first.close()
    last_id = seen[-1][0]
    resumed = list(sse_events(url, {"Last-Event-ID": str(last_id)}))
    assert resumed[0][1] == "status"
    assert resumed[0][0] >= last_id
    later_ids = [e[0] for e in resumed[1:]]
    assert all(i > resumed[0][0] for i in later_ids)
    assert later_ids == sorted(set(later_ids))
    assert resumed[-1][1] == "complete"
    # After the final event, a reconnect is told to stop (204), not replayed.
    r = requests.get(url, headers={"Last-Event-ID": str(resumed[-1][0])})
    assert r.status_code == 204


def test_sse_many_clients_get_the_same_events(start_daemon):
    d = start_daemon("--concurrency", "1")
    blocker = submit(d.url, "countdown", seconds=60)
    job = submit(d.url, "fibonacci", count=10)
    results = [None] * 20

    def watch(i):
        results[i] = list(sse_events(f"{d.url}/api/jobs/{job['id']}/progress"))

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    wait_for(lambda: stats(d.url)["clients"]["sse"] == 20)
    requests.delete(f"{d.url}/api/jobs/{blocker['id']}")
    for t in threads:
        t.join(30)
    assert all(r is not None for r in results)
    assert all(r == results[0] for r in results)
    assert [e[1] for e in results[0]].count("progress") == 11
    wait_for(lambda: stats(d.url)["clients"]["sse"] == 0)


def test_sse_client_leaving_affects_no_one(start_daemon):
    d = start_daemon("--sse-heartbeat", "0.2")
    job = submit(d.url, "countdown", seconds=30)
    url = f"{d.url}/api/jobs/{job['id']}/progress"
    leaver = requests.get(url, stream=True)
    stayers = [sse_events(url) for _ in range(2)]
    for s in stayers:
        assert next(s)[1] == "status"
    wait_for(lambda: stats(d.url)["clients"]["sse"] == 3)
    leaver.close()
    # The heartbeat finds the dead client; it costs nothing afterwards.
    wait_for(lambda: stats(d.url)["clients"]["sse"] == 2, timeout=10)
    requests.delete(f"{d.url}/api/jobs/{job['id']}")
    for s in stayers:
        assert list(s)[-1][1] == "cancelled"


# --- WebSocket ---------------------------------------------------------------


def test_ws_protocol(daemon):
    with connect(f"ws://127.0.0.1:{daemon.port}/ws/queue") as ws:
        state = recv_json(ws)
        assert state["type"] == "queue_state"
        assert state["jobs"] == [] and state["stats"]["total"] == 0
        assert state["worker"]["capacity"] == 3
        assert [t["name"] for t in state["job_types"]] == ["countdown", "prime", "fibonacci", "echo"]

        ws.send(json.dumps({"type": "create_job", "job_type": "fibonacci", "params": {"count": 5}}))
        done, seen = recv_until(ws, lambda m: m["type"] == "job_completed")
        types = [m["type"] for m in seen]
        ack = next(m for m in seen if m["type"] == "job_created_ack")
        job_id = ack["job_id"]
        assert isinstance(job_id, int)
        created = next(m for m in seen if m["type"] == "job_created")
        assert created["data"]["id"] == job_id and created["data"]["status"] == "pending"
        started = next(m for m in seen if m["type"] == "job_started")
        assert set(started["data"]) == {"job_id", "started_at", "node"}
        assert started["data"]["node"] is None, "one daemon on SQLite: no node"
        progress = [m["data"] for m in seen if m["type"] == "job_progress"]
        assert progress and all(set(p) == {"job_id", "percent", "message"} for p in progress)
        assert types.index("job_created") < types.index("job_started") < types.index("job_completed")
        assert done["data"]["result"]["last"] == 3 and done["data"]["duration"] > 0
        assert "worker_stats" in types
        worker, _ = recv_until(ws, lambda m: m["type"] == "worker_stats" and m["data"]["active"] == 0)
        assert worker["data"]["processed"] == 1

        ws.send(json.dumps({"type": "create_job", "job_type": "countdown", "params": {"seconds": 30}}))
        ack, _ = recv_until(ws, lambda m: m["type"] == "job_created_ack")
        ws.send(json.dumps({"type": "cancel_job", "job_id": ack["job_id"]}))
        reply, seen = recv_until(ws, lambda m: m["type"] == "job_cancelled_ack")
        assert reply == {"type": "job_cancelled_ack", "job_id": ack["job_id"], "success": True}
        assert {"type": "job_cancelled", "data": {"job_id": ack["job_id"]}} in seen or \
            recv_until(ws, lambda m: m["type"] == "job_cancelled")

        ws.send(json.dumps({"type": "cancel_job", "job_id": ack["job_id"]}))
        err, _ = recv_until(ws, lambda m: m["type"] == "error")
        assert err["message"] == "Cannot cancel job in status: cancelled"

        ws.send(json.dumps({"type": "clear_completed"}))
        reply, seen = recv_until(ws, lambda m: m["type"] == "jobs_cleared_ack")
        assert reply["cleared"] == 2
        assert {"type": "jobs_cleared", "data": {"count": 2}} in seen

        ws.send("this is not json")
        ws.send(json.dumps([1, 2, 3]))
        ws.send(json.dumps({"type": "ping", "ts": 42}))
        assert recv_json(ws) == {"type": "pong", "ts": 42}
        ws.send(json.dumps({"type": "get_job_types"}))
        types_reply = recv_json(ws)
        assert types_reply["type"] == "job_types" and len(types_reply["job_types"]) == 4
        ws.send(json.dumps({"type": "get_state"}))
        assert recv_json(ws)["type"] == "queue_state"
        for command, message in [({"type": "create_job"}, "Missing 'job_type' field"),
                                 ({"type": "create_job", "job_type": "nope"}, "Unknown job type: nope"),
                                 ({"type": "cancel_job"}, "Missing 'job_id' field"),
                                 ({"type": "cancel_job", "job_id": 9999}, "Job not found: 9999")]:
            ws.send(json.dumps(command))
            assert recv_json(ws) == {"type": "error", "message": message}


def test_ws_clients_stay_in_sync_with_rest(daemon):
    with connect(f"ws://127.0.0.1:{daemon.port}/ws/queue") as a, \
            connect(f"ws://127.0.0.1:{daemon.port}/ws/queue") as b:
        recv_json(a), recv_json(b)
        job = submit(daemon.url, "prime", limit=1000)
        for ws in (a, b):
            done, seen = recv_until(ws, lambda m: m["type"] == "job_completed")
            assert done["data"]["job_id"] == job["id"]
            assert done["data"]["result"]["prime_count"] == 168
            assert [m["type"] for m in seen][0] == "job_created"


def test_ws_application_ping(start_daemon):
    d = start_daemon("--ws-ping-interval", "0.3")
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        recv_json(ws)
        ping, _ = recv_until(ws, lambda m: m["type"] == "ping", timeout=5)
        assert isinstance(ping["ts"], float)


def test_ws_origin_check(start_daemon):
    d = start_daemon("--allowed-origins", "http://good.example,http://also.example")
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{d.port}/ws/queue", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue", origin="http://good.example") as ws:
        assert recv_json(ws)["type"] == "queue_state"


def test_ws_bad_handshakes(daemon):
    def handshake(headers):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
            s.sendall(("GET /ws/queue HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "Connection: close\r\n\r\n").encode())
            return s.recv(4096)
    assert handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n").startswith(b"HTTP/1.1 400")
    assert handshake("Upgrade: websocket\r\nSec-WebSocket-Version: 8\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n").startswith(b"HTTP/1.1 400")


def test_ws_protocol_errors_close_with_the_right_code(daemon):
    ws = RawWebSocket(daemon.port)
    assert ws.status == 101
    ws.send_frame(0x1, b'{"type":"ping"}', masked=False)
    assert ws.close_code() == 1002
    ws = RawWebSocket(daemon.port)
    ws.send_frame(0x1, b"\xff\xfe")
    assert ws.close_code() == 1007
    ws = RawWebSocket(daemon.port)
    ws.send_frame(0x1, b"x" * 70000)
    assert ws.close_code() == 1009


def test_ws_client_that_never_reads_is_closed_with_1013(start_daemon):
    d = start_daemon("--ws-max-queue", "16384")
    slow = RawWebSocket(d.port, rcvbuf=4096)
    assert slow.status == 101
    wait_for(lambda: stats(d.url)["clients"]["websocket"] == 1)
    before = rss_kib(d.proc.pid)
    with requests.Session() as s:
        for _ in range(1500):
            s.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
    grown = rss_kib(d.proc.pid) - before
    assert grown < 32 * 1024, f"RSS grew {grown} KiB"
    # The daemon drops it. Its 1013 close frame waits behind what the client never
    # read, for at most 5 s: when posting took longer than that (a loaded machine)
    # the socket is simply closed, and the client reads EOF instead.
    wait_for(lambda: stats(d.url)["clients"]["websocket"] == 0)
    assert slow.close_code() in (1013, None)
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        assert recv_json(ws)["type"] == "queue_state"


def test_shutdown_closes_streams_and_sockets_cleanly(start_daemon):
    d = start_daemon()
    job = submit(d.url, "countdown", seconds=30)
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        recv_json(ws)
        stream = sse_events(f"{d.url}/api/jobs/{job['id']}/progress")
        assert next(stream)[1] == "status"
        wait_for(lambda: stats(d.url)["clients"] == {"sse": 1, "websocket": 1})
        assert d.stop(signal.SIGTERM) == 0
        list(stream)  # the response ends properly: no exception from a cut-off chunked body
        ws_closed(ws)
        assert ws.close_code == 1001
