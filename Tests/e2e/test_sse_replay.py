"""SSE resume replays from outside: a replay is made only as fast as the client
reads, so clients that ask for a whole log and never read cost the daemon a
bounded buffer each, and a client that leaves is let go at once (its descriptor
too), without waiting for the next heartbeat.

Every wait is for a condition the daemon or /proc reports, with a deadline."""
import json
import os
import socket
import time

import pytest
import requests

from live import parse_sse, rss_kib
from test_command_jobs import log_lines, make_fifo, open_gate, wait_finished
from waits import wait_for

MiB = 1 << 20
STREAMS = 300

# Writes about 1.3 MB of short lines (the log keeps the newest 1 MiB: some
# 45,000 lines, a replay of about 5 MB as SSE events), says so on fd 3, then
# waits for a line on the FIFO and writes one more.
FILL = r"""
import os, sys
out = sys.stdout
for i in range(60000):
    out.write("%06d zzzzzzzzzzzzzz\n" % i)
out.flush()
os.write(3, b'{"progress": 50, "message": "log full"}\n')
with open(sys.argv[1]) as gate:
    gate.readline()
print("after the gate", flush=True)
"""


@pytest.fixture
def full_log(start_daemon, tmp_path):
    """A daemon (heartbeat 60 s, so only a hang-up can free an idle stream
    soon) with a running command job whose log is full."""
    types = tmp_path / "jobs.d"
    types.mkdir()
    (types / "fill.json").write_text(json.dumps({
        "name": "fill", "command": ["/usr/bin/python3", "-c", FILL, "{fifo}"],
        "params": {"fifo": {"type": "string", "required": True}}}))
    d = start_daemon("--job-types-dir", str(types), "--sse-heartbeat", "60", "--kill-grace", "1")
    fifo = make_fifo(tmp_path)
    job = requests.post(f"{d.url}/api/jobs", json={"job_type": "fill", "params": {"fifo": fifo}}).json()

    def full():
        r = requests.get(f"{d.url}/api/jobs/{job['id']}")
        return r.json()["progress"]["percent"] == 50 and int(
            requests.get(f"{d.url}/api/jobs/{job['id']}/log").headers["X-Log-Dropped"]) > 0
    wait_for(full, timeout=30)
    return d, job, fifo


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def raw_stream(port, path, headers=""):
    """A client that asks for a stream, reads its response head, then reads no more."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = s.recv(1)
        assert byte, f"closed before the response head: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def settle(measure, limit, what, timeout=20):
    """Waits (with a deadline) until `measure()` is at most `limit`; its last value names a failure."""
    values = []
    try:
        wait_for(lambda: values.append(measure()) or values[-1] <= limit, timeout, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: {values[-1]} > {limit} after {timeout} s") from None
    return values[-1]


def test_non_reading_replays_stay_bounded_and_are_let_go(full_log):
    d, job, fifo = full_log
    pid = d.proc.pid
    path = f"/api/jobs/{job['id']}/progress"
    fds_before = open_fds(pid)
    # One replay first, so what the daemon allocates once is not counted.
    warm = raw_stream(d.port, path + "?after=0")
    warm.recv(65536)
    warm.close()
    rss_before = rss_kib(pid)

    clients = []
    growth = 0

    def check():
        nonlocal growth
        growth = max(growth, rss_kib(pid) - rss_before)
        assert growth < 64 * 1024, f"RSS grew by {growth} KiB for {len(clients)} streams that do not read"

    try:
        for i in range(STREAMS):
            # Half resume by header (EventSource), half by query (a first connection).
            if i % 2:
                clients.append(raw_stream(d.port, path, "Last-Event-ID: 0\r\n"))
            else:
                clients.append(raw_stream(d.port, path + "?after=0"))
            if i % 25 == 24:
                check()
        assert open_fds(pid) >= fds_before + STREAMS
        # The daemon holds each stream's bounded buffer, not its whole replay
        # (before the fix: what the kernel did not take of 5 MB each).
        # Watched for a second after the last stream opened, while the daemon
        # fills the buffers the clients do not read.
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            check()
            time.sleep(0.05)
    finally:
        for c in clients:
            c.close()

    # Their descriptors and memory come back once they are gone.
    settle(lambda: open_fds(pid), fds_before + 2, "open descriptors after the clients left")
    settle(lambda: rss_kib(pid) - rss_before, 32 * 1024, "RSS growth (KiB) after the clients left")
    stats = requests.get(f"{d.url}/api/stats").json()
    assert stats["clients"]["sse"] == 0

    # And the job is still fine: its log resumes from any line, nothing twice.
    open_gate(fifo)
    assert wait_finished(d.url, job["id"])["status"] == "completed"


def test_a_client_leaving_an_idle_stream_is_let_go_before_the_heartbeat(full_log):
    d, job, fifo = full_log
    pid = d.proc.pid
    last = log_lines(d.url, job["id"])[-1]["seq"]
    before = open_fds(pid)
    # Caught up (nothing to replay): the stream is idle, its connection suspended.
    streams = [raw_stream(d.port, f"/api/jobs/{job['id']}/progress?after={last}") for _ in range(20)]
    for s in streams:
        data = b""
        while b"event: status" not in data:
            data += s.recv(4096)
    assert open_fds(pid) >= before + 20
    for s in streams:
        s.close()
    # The heartbeat is 60 s away: the hang-up alone frees them.
    settle(lambda: open_fds(pid), before + 2, "open descriptors after idle clients left", timeout=10)
    assert requests.get(f"{d.url}/api/stats").json()["clients"]["sse"] == 0

    # A stream that stays open still gets the live events, then the end.
    r = requests.get(f"{d.url}/api/jobs/{job['id']}/progress?after={last}", stream=True, timeout=20)
    events = parse_sse(r.iter_lines(decode_unicode=True))
    assert next(events)[1] == "status"
    open_gate(fifo)
    rest = list(events)
    assert [e[2]["line"] for e in rest if e[1] == "log"] == ["after the gate"]
    assert rest[-1][1] == "complete"


def test_a_resuming_reader_gets_the_whole_log_once_then_live_events(full_log):
    d, job, fifo = full_log
    stored = log_lines(d.url, job["id"])
    r = requests.get(f"{d.url}/api/jobs/{job['id']}/progress", headers={"Last-Event-ID": "0"}, stream=True, timeout=20)
    events = parse_sse(r.iter_lines(decode_unicode=True))
    status = next(events)
    assert status[1] == "status" and status[0] is None, "a status before a replay carries no id"
    replayed = [next(events) for _ in stored]
    assert [(e[0], e[2]) for e in replayed] == [(l["seq"], l) for l in stored]
    open_gate(fifo)
    rest = list(events)
    assert [e[2]["line"] for e in rest if e[1] == "log"] == ["after the gate"]
    assert rest[-1][1] == "complete"
    ids = [e[0] for e in replayed + rest]
    assert ids == sorted(set(ids))
