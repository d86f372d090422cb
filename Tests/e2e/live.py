"""Helpers for the live-update tests: an SSE reader and a raw WebSocket client."""
import base64
import json
import os
import socket
import struct
import time

import requests


def sse_events(url, headers=None, timeout=20, deadline=120):
    """Yields (id, event, data) for each event of an SSE response until the server
    ends it; fails if the stream is still open `deadline` s after it was opened."""
    with requests.get(url, headers=headers or {}, stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "text/event-stream"
        yield from parse_sse(within(r.iter_lines(decode_unicode=True), deadline, f"the SSE stream {url}"))


def within(lines, seconds, what):
    """The lines of a stream until `seconds` have passed, then a failure: heartbeats
    keep a read timeout from ever firing on a stream whose end was lost."""
    end = time.monotonic() + seconds
    for line in lines:
        if time.monotonic() > end:
            raise AssertionError(f"{what} still open after {seconds} s")
        yield line


def parse_sse(lines):
    event = {}
    for line in lines:
        if line == "":
            if "event" in event:
                yield event.get("id"), event["event"], json.loads(event["data"])
            event = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            if field == "id":
                event["id"] = int(value)
            elif field in ("event", "data"):
                event[field] = value


class RawWebSocket:
    """A client that does only what it is told: handshake, masked frames, raw reads."""

    def __init__(self, port, path="/ws/queue", rcvbuf=None, headers=""):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{headers}\r\n").encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])

    def _read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send_frame(self, opcode, payload, fin=True, masked=True):
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        mbit = 0x80 if masked else 0
        if n < 126:
            header += bytes([mbit | n])
        elif n < 65536:
            header += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            header += bytes([mbit | 127]) + struct.pack("!Q", n)
        if masked:
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            header += mask
        self.sock.sendall(header + payload)

    def recv_frame(self):
        b0, b1 = self._read_exactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exactly(8))[0]
        return b0 & 0x0F, self._read_exactly(n)

    def close_code(self, timeout=30):
        """Reads until the server's close frame and returns its code (None on EOF);
        fails if frames keep coming for `timeout` s without one."""
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                op, payload = self.recv_frame()
                if op == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        except (EOFError, ConnectionResetError):
            return None
        raise AssertionError(f"no close frame in {timeout} s")

    def close(self):
        self.sock.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
