"""Section 8 (second), dashboards: 100 WebSocket clients getting queue_state with 200,000 pending jobs."""
import os
import shutil
import socket
import time

from ..client import http
from ..daemon import Daemon, empty_database
from ..report import results, row


def read_queue_state(sock):
    """Reads the handshake answer and the first text message (queue_state); returns its size."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("handshake failed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101 "):
        raise RuntimeError("handshake refused: " + head.split(b"\r\n", 1)[0].decode())

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection ended")
            buf += chunk

    while True:
        need(2)
        opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
        head = 2
        if n == 126:
            need(4)
            n, head = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            need(10)
            n, head = int.from_bytes(buf[2:10], "big"), 10
        need(head + n)
        payload, buf = buf[head:head + n], buf[head + n:]
        if opcode == 0x1 and payload.startswith(b'{"type":"queue_state"'):
            return len(payload)


def bench_dashboards():
    n, clients = 200_000, 100
    print(f"8. Dashboards: {clients} WebSocket clients receiving queue_state with {n:,} pending jobs", flush=True)
    tmp, db = empty_database()
    import sqlite3
    conn = sqlite3.connect(db)
    conn.execute("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                          created_at, started_at, completed_at, sequence)
        SELECT i, 'countdown', '{"seconds":60}', 'pending', 0, 'Queued', NULL, NULL, 1764000000 + i, NULL, NULL, 0
        FROM n""", (n,))
    conn.commit()
    conn.close()
    d = Daemon("--db", db, "--concurrency", "1")
    socks = []
    try:
        while http("GET", d.url + "/api/stats")["queue"]["running"] < 1:
            time.sleep(0.05)
        before = d.rss_kib()
        t0 = time.perf_counter()
        for _ in range(clients):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
            s.sendall(b"GET /ws/queue HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            socks.append(s)
        sizes = [read_queue_state(s) for s in socks]
        elapsed = (time.perf_counter() - t0) * 1000
        after = d.rss_kib()
        results["dashboards"] = {"pending_jobs": n, "clients": clients, "queue_state_bytes": sizes[0],
                                 "rss_before_kib": before, "rss_with_clients_kib": after,
                                 "all_states_received_ms": elapsed}
        row(f"RSS, {n:,} pending, no clients", f"{before / 1024:.1f} MiB")
        row(f"RSS, {n:,} pending, {clients} dashboards", f"{after / 1024:.1f} MiB (+{(after - before) / 1024:.1f} MiB)",
            "bounded", "OK" if after - before < 64 * 1024 else "BELOW")
        row("  queue_state size / all received", f"{sizes[0] / 1024:.0f} KiB / {elapsed:.0f} ms")
    finally:
        for s in socks:
            s.close()
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)

