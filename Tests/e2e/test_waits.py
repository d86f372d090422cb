"""The waits every e2e test uses (waits.py): an event that never comes fails the
wait at its deadline with what it waited for, even while other traffic flows."""
import json
import socket
import subprocess
import threading
import time

import pytest
from websockets.sync.client import connect

from waits import join, read_line, read_to_close, recv_until, wait_for, ws_closed


def test_wait_for_returns_the_value_or_fails_naming_what_it_waited_for():
    calls = []
    assert wait_for(lambda: calls.append(1) or (len(calls) >= 3 and "ready"), timeout=5, interval=0.01) == "ready"
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"^the moon not reached in 0.3 s$"):
        wait_for(lambda: None, timeout=0.3, interval=0.01, what="the moon")
    assert time.monotonic() - started < 2


def test_recv_until_has_one_deadline_however_many_other_messages_arrive(daemon):
    with connect(f"ws://127.0.0.1:{daemon.port}/ws/queue") as ws:
        # A pong every 50 ms (answers to this client's pings): a per-message timeout would never fire.
        stop = threading.Event()

        def ping():
            while not stop.wait(0.05):
                ws.send(json.dumps({"type": "ping", "ts": 1}))

        pinger = threading.Thread(target=ping, name="pinger")
        pinger.start()
        try:
            started = time.monotonic()
            with pytest.raises(AssertionError, match=r"^no job_completed of job 99 in 1 s; got \['queue_state', 'pong', 'pong'"):
                recv_until(ws, lambda m: m["type"] == "job_completed", timeout=1, what="job_completed of job 99")
            assert time.monotonic() - started < 3
            pong, seen = recv_until(ws, lambda m: m["type"] == "pong", timeout=5)
            assert pong == {"type": "pong", "ts": 1} and seen[-1] is pong
        finally:
            stop.set()
            join([pinger], 5, "the pinger")


def test_ws_closed_fails_while_the_server_keeps_the_socket_open(daemon):
    with connect(f"ws://127.0.0.1:{daemon.port}/ws/queue") as ws:
        with pytest.raises(AssertionError, match="did not close the WebSocket in 0.5 s"):
            ws_closed(ws, timeout=0.5)
        assert daemon.stop() == 0
        assert ws_closed(ws, timeout=10).rcvd.code == 1001


def test_read_line_fails_on_a_silent_child_and_reads_a_speaking_one():
    silent = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(AssertionError, match=r"^no greeting in 0.3 s$"):
            read_line(silent.stdout, timeout=0.3, what="greeting")
    finally:
        silent.kill()
        silent.wait(10)
    speaking = subprocess.Popen(["echo", "hello"], stdout=subprocess.PIPE, text=True)
    assert read_line(speaking.stdout, timeout=10) == "hello\n"
    speaking.wait(10)


def test_read_to_close_fails_on_a_peer_that_keeps_the_connection_open():
    server = socket.create_server(("127.0.0.1", 0))
    with socket.create_connection(server.getsockname(), timeout=5) as client:
        peer, _ = server.accept()
        peer.sendall(b"partial")
        with pytest.raises(AssertionError, match=r"did not close the connection in 0.3 s; got b'partial'"):
            read_to_close(client, timeout=0.3, what="the peer")
        peer.sendall(b" rest")
        peer.close()
        assert read_to_close(client, timeout=5) == b" rest"
    server.close()


def test_join_names_the_threads_still_running():
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, args=(30,), name="stuck-client", daemon=True)
    stuck.start()
    with pytest.raises(AssertionError, match=r"clients still running after 0.2 s: \['stuck-client'\]"):
        join([stuck], 0.2, "clients")
    release.set()
    join([stuck], 5, "clients")
