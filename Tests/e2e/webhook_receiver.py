"""A real HTTP receiver for webhook tests and the benchmark: threaded, on a
port of its own (0 unless given), recording every POST it gets."""
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time


class Receiver:
    """`answers` is consumed one per request (a status code, or "hang" to never
    answer); once empty every request gets `default`."""

    def __init__(self, answers=(), default=200, port=0):
        self.answers = list(answers)
        self.default = default
        self.received = []          # (headers dict, body bytes, status answered or "hang")
        self.cond = threading.Condition()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    headers[":path"] = self.path
                    receiver.received.append((headers, body, answer))
                    receiver.cond.notify_all()
                if answer == "hang":
                    receiver.release.wait()
                    self.close_connection = True
                    return
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True
            request_queue_size = 128

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout=30):
        """Waits until predicate(received) holds; returns a copy of what came."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"receiver: condition not met; got {len(self.received)} requests"
                self.cond.wait(remaining)
            return list(self.received)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def signature(secret, body, t):
    """The X-JobRunner-Signature the daemon sends with this body at time t:
    HMAC-SHA256 of "t.body" (docs/webhooks.md)."""
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def signed(secret, headers, body):
    """Whether a request's signature is this body's under this secret, made at
    the time it names, which is the X-JobRunner-Timestamp and within a minute of now."""
    header = headers["x-jobrunner-signature"]
    t = int(header.split(",", 1)[0].removeprefix("t="))
    return (abs(t - time.time()) < 60 and headers["x-jobrunner-timestamp"] == str(t)
            and hmac.compare_digest(header, signature(secret, body, t)))


def reserved_port():
    """A port that refuses connections (bound, not listening) until released."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]
