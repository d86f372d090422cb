"""HTTPS and wss through libmicrohttpd's GnuTLS support, with certificates made at
test time by openssl, and the certificate reloaded on SIGHUP while serving."""
import hashlib
import json
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
import requests
from websockets.sync.client import connect

from conftest import BINARY, WWW
from test_auth import TOKENS, write_config
from waits import recv_until


def make_certificate(directory, name):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost: (cert, key) paths."""
    cert, key = os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


class TLSDaemon:
    """The daemon on port 0 serving HTTPS; its log lines arrive on a queue."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="jobrunner-tls-")
        self.cert, self.key = make_certificate(self.dir, "first")
        self.ca = self.cert
        self.proc = subprocess.Popen([BINARY, "--port", "0", "--shutdown-grace", "1", "--www", WWW, "--db", ":memory:",
                                      "--tls-cert", self.cert, "--tls-key", self.key, *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        m = self.wait_for_line(r"listening on https://[^ ]*:(\d+)")
        self.port = int(m.group(1))
        self.url = f"https://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def wait_for_line(self, pattern, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no log line like {pattern!r}: {''.join(self.log)}")
            m = re.search(pattern, line)
            if m:
                return m

    def served_certificate(self):
        """The DER certificate a new handshake presents."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.getpeercert(binary_form=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


@pytest.fixture
def tls_daemon():
    started = []

    def start(*args):
        d = TLSDaemon(*args)
        started.append(d)
        return d

    yield start
    for d in started:
        assert d.stop() == 0, "".join(d.log)


class KeepAlive:
    """One TLS connection used for several requests."""

    def __init__(self, port):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))

    def get(self, path):
        self.tls.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.tls.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
        while len(body) < length:
            body += self.tls.recv(4096)
        return head

    def close(self):
        self.tls.close()


def der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_rest_sse_and_wss_over_tls(tls_daemon):
    d = tls_daemon()
    assert requests.get(f"{d.url}/healthz", verify=d.ca).json() == {"status": "ok"}
    assert requests.get(f"https://localhost:{d.port}/", verify=d.ca).status_code == 200
    context = ssl.create_default_context(cafile=d.ca)
    with connect(f"wss://127.0.0.1:{d.port}/ws/queue", ssl=context) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "queue_state"
        ws.send(json.dumps({"type": "create_job", "job_type": "echo", "params": {"delay": 1}}))
        m, _ = recv_until(ws, lambda m: m["type"] == "job_created_ack", what="job_created_ack")
        job_id = m["job_id"]
        with requests.get(f"{d.url}/api/jobs/{job_id}/progress", verify=d.ca, stream=True, timeout=20) as sse:
            assert sse.headers["Content-Type"] == "text/event-stream"
            assert "event: complete" in sse.text
        m, _ = recv_until(ws, lambda m: m["type"] == "job_completed", what="job_completed")
        assert m["data"]["job_id"] == job_id
    # A big frame both ways crosses libmicrohttpd's TLS forwarding intact.
    with connect(f"wss://127.0.0.1:{d.port}/ws/queue", ssl=context) as ws:
        json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"type": "ping", "ts": "x" * 60000}))
        m, _ = recv_until(ws, lambda m: m["type"] == "pong", what="pong to a 60 kB ping")
        assert m["ts"] == "x" * 60000


def test_plain_http_is_not_answered_on_the_tls_port(tls_daemon):
    d = tls_daemon()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{d.port}/healthz", timeout=10)
    assert requests.get(f"{d.url}/healthz", verify=d.ca).status_code == 200


def test_session_cookie_is_secure_and_origins_are_https(tls_daemon, tmp_path):
    config = tmp_path / "c.json"
    write_config(config, ["boss"])
    d = tls_daemon("--config", str(config))
    r = requests.post(f"{d.url}/api/session", json={"token": TOKENS["boss"][0]}, verify=d.ca)
    assert "; Secure" in r.headers["Set-Cookie"]
    bearer = {"Authorization": f"Bearer {TOKENS['boss'][0]}"}
    body = {"job_type": "echo", "params": {"delay": 1}}
    own = requests.post(f"{d.url}/api/jobs", json=body, verify=d.ca, headers={**bearer, "Origin": d.url})
    assert own.status_code == 201
    plain = requests.post(f"{d.url}/api/jobs", json=body, verify=d.ca,
                          headers={**bearer, "Origin": f"http://127.0.0.1:{d.port}"})
    assert plain.status_code == 403


def test_sighup_swaps_the_certificate_without_dropping_the_listener(tls_daemon):
    d = tls_daemon()
    assert d.served_certificate() == der(d.cert)
    first = d.served_certificate()
    kept = KeepAlive(d.port)
    assert kept.get("/healthz").startswith(b"HTTP/1.1 200")
    second_cert, second_key = make_certificate(d.dir, "second")
    os.replace(second_cert, d.cert)
    os.replace(second_key, d.key)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_line(r"SIGHUP: TLS certificate reloaded")
    assert d.served_certificate() == der(d.cert)
    # The listener never closed, and a connection made before keeps working (on the old certificate).
    assert kept.get("/healthz").startswith(b"HTTP/1.1 200")
    assert kept.tls.getpeercert(binary_form=True) == first
    kept.close()
    assert requests.get(f"{d.url}/healthz", verify=d.cert).status_code == 200
    # A broken pair is refused and the served certificate stays.
    served = d.served_certificate()
    with open(d.key, "w") as f:
        f.write("not a key\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for_line(r"TLS certificate not reloaded, the previous one stays")
    assert d.served_certificate() == served


def test_bad_certificate_files_stop_the_start():
    out = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--tls-cert", "/nonexistent.pem",
                          "--tls-key", "/nonexistent.key"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "cannot read TLS certificate /nonexistent.pem" in out.stderr
    out = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--tls-cert", "/etc/hostname"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--tls-cert and --tls-key go together" in out.stderr
    with tempfile.TemporaryDirectory() as directory:
        cert, _ = make_certificate(directory, "a")
        _, other_key = make_certificate(directory, "b")
        out = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--tls-cert", cert, "--tls-key", other_key],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and f"cannot use TLS certificate {cert}" in out.stderr


def test_dashboard_over_https_goes_live_on_wss(tls_daemon):
    from playwright.sync_api import expect, sync_playwright
    from conftest import CHROMIUM, FLAGS

    d = tls_daemon()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(ignore_https_errors=True).new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(d.url)
        expect(page.locator("#connection")).to_have_class(re.compile("live"))
        page.click('[data-type="echo"]')
        page.fill("#param-delay", "1")
        with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST") as created:
            page.click("#submit")
        job = created.value.json()
        expect(page.locator(f'.row[data-id="{job["id"]}"] .badge')).to_have_text("completed", timeout=15000)
        assert errors == []
        browser.close()


def drip_headers(sock, every=0.3, limit=30):
    """Sends a request line, then a header line every `every` seconds (never the
    blank line that ends the head) until the daemon closes the connection:
    seconds until then, or None if it was still open after `limit` seconds."""
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sock.settimeout(every)
    i = 0
    while time.monotonic() - started < limit:
        try:
            sock.sendall(b"X-Drip-%d: y\r\n" % i)
            i += 1
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return time.monotonic() - started
    return None


def test_a_client_dripping_header_lines_is_cut_off_at_the_header_deadline(tls_daemon):
    d = tls_daemon("--idle-timeout", "2")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with context.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=10)) as s:
        # Each line restarts the idle timeout; the head's own deadline (the same
        # 2 s, from the connection's start) does not move.
        took = drip_headers(s)
    assert took is not None, "a dripping client held its connection for 30 s"
    assert took < 6
    # A request whose head comes in time is answered, and a keep-alive
    # connection gets the same time again for each later request.
    c = KeepAlive(d.port)
    try:
        assert c.get("/healthz").startswith(b"HTTP/1.1 200")
        assert c.get("/healthz").startswith(b"HTTP/1.1 200")
    finally:
        c.close()
    # A stream outlives the deadline: it applies to a request's head only.
    job = requests.post(f"{d.url}/api/jobs", json={"job_type": "countdown", "params": {"seconds": 4}}, verify=d.ca).json()
    with requests.get(f"{d.url}/api/jobs/{job['id']}/progress", verify=d.ca, stream=True, timeout=20) as sse:
        assert "event: complete" in sse.text
