"""Waits with a deadline, for every e2e test: a lost event fails the test with a
message naming what it waited for; it never hangs the run.

- `wait_for`: polls something the daemon reports until it holds.
- `recv_json` / `recv_until`: WebSocket messages, one or until one matches,
  with one deadline for the whole wait (a stream of other broadcasts does not
  keep it alive).
- `ws_closed`: reads a WebSocket until the server closes it.
- `read_line`: one line from a child's pipe, or a failure at the deadline.
- `read_to_close`: a raw socket's bytes until the daemon closes it.
- `join`: threads that must end in time.

The per-test timeout (pytest-timeout, Tests/e2e/pytest.ini) is the backstop for
whatever is not written with these."""
import json
import threading
import time

from websockets.exceptions import ConnectionClosed


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns something true (returned) or fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        time.sleep(interval)


def recv_json(ws, timeout=20, what="a WebSocket message"):
    """The next WebSocket message, decoded."""
    try:
        return json.loads(ws.recv(timeout=timeout))
    except TimeoutError:
        raise AssertionError(f"no {what} in {timeout} s") from None


def recv_until(ws, predicate, timeout=20, what=None):
    """Messages until one satisfies `predicate`: (that one, every one read). One
    deadline for all of them."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {what or 'matching WebSocket message'} in {timeout} s; "
                                 f"got {[m.get('type') for m in seen]}")
        try:
            m = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            continue  # the deadline check above names what was missed
        seen.append(m)
        if predicate(m):
            return m, seen


def ws_closed(ws, timeout=15):
    """Reads until the server closes the WebSocket; the ConnectionClosed it raised."""
    deadline = time.monotonic() + timeout
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                ws.recv(timeout=remaining)
            except TimeoutError:
                pass
    except ConnectionClosed as e:
        return e
    raise AssertionError(f"the server did not close the WebSocket in {timeout} s")


def read_line(stream, timeout=15, what="a line"):
    """One line from a pipe (a child's stderr), read on a helper thread so a
    silent child fails the test at the deadline instead of hanging it."""
    box = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        raise AssertionError(f"no {what} in {timeout} s")
    return box[0]


def read_to_close(sock, timeout=10, what="the daemon"):
    """Every byte until the peer closes the socket, with one deadline for all of them."""
    deadline = time.monotonic() + timeout
    out = b""
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            return out
        out += chunk
    raise AssertionError(f"{what} did not close the connection in {timeout} s; got {out[:300]!r}")


def join(threads, timeout=30, what="threads"):
    """Joins each thread with one deadline for all; fails naming what is still running."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"{what} still running after {timeout} s: {alive}"

