"""Running as a service: systemd notify, socket activation, drain, config, install, scripts."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter

import pytest
import requests

from conftest import BINARY, ROOT, WWW, Daemon
from test_rest import submit
from waits import join, read_line, wait_for

SCRIPTS = os.path.join(ROOT, "scripts")


def tmpdir():
    return tempfile.mkdtemp(prefix="jobrunner-svc-")


def write_config(values):
    path = os.path.join(tmpdir(), "jobrunner.json")
    with open(path, "w") as f:
        json.dump(values, f)
    return path


# --- systemd notify --------------------------------------------------------------


def test_notify_ready_watchdog_status_stopping():
    path = os.path.join(tmpdir(), "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    proc = subprocess.Popen([BINARY, "--port", "0", "--db", ":memory:", "--www", WWW],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        messages = []
        deadline = time.monotonic() + 10
        while "READY=1" not in messages:
            assert time.monotonic() < deadline, f"no READY=1 in 10 s: {messages}"
            messages += sock.recv(4096).decode().split("\n")
        # READY comes only once it is listening: the port answers now.
        port = None
        while port is None:
            line = read_line(proc.stderr, max(0.01, deadline - time.monotonic()), what="'listening on' line")
            if "listening on" in line:
                port = int(line.split(":")[-1].split(" ")[0])
        assert requests.get(f"http://127.0.0.1:{port}/api/stats").status_code == 200
        pings, deadline = 0, time.monotonic() + 5
        while pings < 3 and time.monotonic() < deadline:
            got = sock.recv(4096).decode()
            pings += got.count("WATCHDOG=1")
            messages.append(got)
        assert pings >= 3, messages
        assert any(m.startswith("STATUS=0 running, 0 pending") for m in messages), messages
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "STOPPING=1" not in sock.recv(4096).decode():
            assert time.monotonic() < deadline, "no STOPPING=1 in 10 s after SIGTERM"
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        sock.close()


class NotifyListener:
    """A datagram socket standing in for systemd's: collects what arrives."""

    def __init__(self):
        self.path = os.path.join(tmpdir(), "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive)
        self._thread.start()

    def _receive(self):
        while not self._stop.is_set():
            try:
                self.messages += self.sock.recv(4096).decode().split("\n")
            except socket.timeout:
                pass

    def close(self):
        self._stop.set()
        join([self._thread], 5, "the notify listener")
        self.sock.close()
        return self.messages


def life_of_one_job(d):
    """Runs a 1-second countdown (the queue's status changes, the watchdog interval
    passes several times), then stops the daemon; the exit code and its log lines
    with the numbers taken out."""
    job = submit(d.url, "countdown", seconds=1)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{job['id']}").json()["status"] == "completed")
    code = d.stop()
    d._drain.join(10)
    return code, [re.sub(r"\d+", "N", line) for line in d.log]


def test_without_notify_socket_everything_is_silent(monkeypatch):
    listener = NotifyListener()
    try:
        monkeypatch.setenv("WATCHDOG_USEC", "200000")
        # Told where systemd listens, this life sends every kind of notification...
        monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
        told_code, told_log = life_of_one_job(Daemon("--db", ":memory:"))
        wait_for(lambda: "STOPPING=1" in listener.messages)
        told = list(listener.messages)
        assert told_code == 0
        assert "READY=1" in told and "STOPPING=1" in told, told
        assert told.count("WATCHDOG=1") >= 3, told
        assert any(m.startswith("STATUS=1 running") for m in told), told
        # ...and not told, the same life sends nothing, logs not a word about
        # systemd (the same lines, all of them info) and exits 0.
        monkeypatch.delenv("NOTIFY_SOCKET")
        code, log = life_of_one_job(Daemon("--db", ":memory:"))
        assert code == 0
        assert listener.close()[len(told):] == []
        assert log == told_log
        assert log and all(line.startswith("jobrunnerd info: ") for line in log), log
    finally:
        listener.close()


# --- socket activation -------------------------------------------------------------


def test_socket_activation_serves_on_the_inherited_socket():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    busy_port = busy.getsockname()[1]

    def hand_over():
        os.dup2(listener.fileno(), 3)
        os.set_inheritable(3, True)

    # LISTEN_PID must be the daemon's own pid: the shell sets it to $$ and execs.
    cmd = f'LISTEN_FDS=1 LISTEN_PID=$$ exec {BINARY} --port {busy_port} --db :memory: --www {WWW}'
    proc = subprocess.Popen(["sh", "-c", cmd], preexec_fn=hand_over, close_fds=False,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stderr, what="the daemon's first log line")
        assert "inherited socket" in line and f"port {port}" in line, line
        r = requests.post(f"http://127.0.0.1:{port}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
        assert r.status_code == 201
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        listener.close()
        busy.close()


# --- drain ----------------------------------------------------------------------------


def test_sigterm_drains_then_exits_0(start_daemon):
    d = start_daemon("--shutdown-grace", "3", "--concurrency", "3")
    short = submit(d.url, "countdown", seconds=1)
    long = submit(d.url, "countdown", seconds=60)
    pending_later = submit(d.url, "countdown", seconds=1)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{long['id']}").json()["status"] == "running")
    started = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    # The signal is taken by the daemon's main thread; once it drains, /readyz says so.
    wait_for(lambda: requests.get(f"{d.url}/readyz").status_code == 503, interval=0.01)
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "prime"})
    assert (r.status_code, r.json()) == (503, {"error": "Shutting down"})
    assert d.proc.wait(15) == 0
    took = time.monotonic() - started
    assert 2.5 < took < 8, took
    again = Daemon("--db", d.db)
    try:
        assert requests.get(f"{again.url}/api/jobs/{short['id']}").json()["status"] == "completed"
        assert requests.get(f"{again.url}/api/jobs/{pending_later['id']}").json()["status"] == "completed"
        interrupted = requests.get(f"{again.url}/api/jobs/{long['id']}").json()
        assert interrupted["status"] == "failed"
        assert interrupted["error"] == "Interrupted: the daemon stopped while this job was running"
    finally:
        assert again.stop() == 0


# --- configuration ----------------------------------------------------------------------


def capacity(d):
    return requests.get(f"{d.url}/api/stats").json()["worker"]["capacity"]


def test_config_precedence_flags_env_file_defaults(start_daemon, monkeypatch):
    config = write_config({"concurrency": 2, "sse-heartbeat": 5})
    assert capacity(start_daemon("--db", ":memory:")) == 3
    assert capacity(start_daemon("--db", ":memory:", "--config", config)) == 2
    monkeypatch.setenv("JOBRUNNER_CONCURRENCY", "4")
    assert capacity(start_daemon("--db", ":memory:", "--config", config)) == 4
    assert capacity(start_daemon("--db", ":memory:", "--config", config, "--concurrency", "5")) == 5


@pytest.mark.parametrize("values, key", [
    ({"prot": 8080}, "prot"),
    ({"port": "eighty"}, "port"),
    ({"concurrency": 0}, "concurrency"),
    ({"sync": "sometimes"}, "sync"),
    ({"retain-finished": "forever"}, "retain-finished"),
    ({"allowed-origins": {"a": 1}}, "allowed-origins"),
])
def test_config_errors_name_the_key(values, key):
    config = write_config(values)
    for extra in ([], ["--check-config"]):
        r = subprocess.run([BINARY, "--config", config, "--db", ":memory:", *extra], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2
        assert f"'{key}'" in r.stderr and config in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_environment_errors_name_the_variable():
    env = dict(os.environ, JOBRUNNER_PORT="99999")
    r = subprocess.run([BINARY, "--check-config"], capture_output=True, text=True, env=env, timeout=10)
    assert r.returncode == 2 and "JOBRUNNER_PORT" in r.stderr


def test_check_config_accepts_the_example():
    r = subprocess.run([BINARY, "--config", os.path.join(ROOT, "deploy", "jobrunner.json"), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "configuration OK" in r.stdout
    r = subprocess.run([BINARY, "--config", "/nonexistent.json", "--check-config"], capture_output=True, text=True)
    assert r.returncode == 2 and "/nonexistent.json" in r.stderr


def test_sighup_reloads_logging_and_reopens_the_file():
    folder = tmpdir()
    log = os.path.join(folder, "jobrunner.log")
    config = write_config({"access-log": False, "log-file": log})
    proc = subprocess.Popen([BINARY, "--port", "0", "--db", ":memory:", "--www", WWW, "--config", config])
    try:
        wait_for(lambda: os.path.exists(log) and "listening on" in open(log).read())
        port = int(open(log).read().split("listening on http://127.0.0.1:")[1].split(" ")[0])
        requests.get(f"http://127.0.0.1:{port}/api/stats")
        assert "GET /api/stats" not in open(log).read()
        with open(config, "w") as f:
            json.dump({"access-log": True, "log-file": log}, f)
        os.rename(log, log + ".1")  # as logrotate would
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(log) and "reloaded" in open(log).read())
        requests.get(f"http://127.0.0.1:{port}/api/stats")
        wait_for(lambda: "GET /api/stats 200" in open(log).read())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "stopped" in open(log).read()
    finally:
        proc.kill()


def test_every_log_line_lands_in_the_log_file_while_sighup_reopens_it():
    # Each SIGHUP opens the file anew and closes the old descriptor, while
    # libmicrohttpd threads write an access-log line per request on connections
    # that are opened and closed all the time (so descriptor numbers are reused at
    # once). A line must never be lost to a closed descriptor nor written into
    # whatever reused its number (a client's socket): every request has exactly
    # one intact line in the file, every response is intact, stderr stays empty.
    folder = tmpdir()
    log = os.path.join(folder, "jobrunner.log")
    config = write_config({"access-log": True, "log-file": log})
    proc = subprocess.Popen([BINARY, "--port", "0", "--db", ":memory:", "--www", WWW, "--config", config,
                             "--threads", "4"], stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    hups = [0]

    def hammer():
        while not stop.is_set():
            proc.send_signal(signal.SIGHUP)
            hups[0] += 1
            time.sleep(0.0001)  # pacing only: leaves the client threads the GIL

    try:
        wait_for(lambda: os.path.exists(log) and "listening on" in open(log).read())
        port = int(open(log).read().split("listening on http://127.0.0.1:")[1].split(" ")[0])
        n, clients = 30_000, 8
        wrong = []

        def client(k):
            # A fresh connection per request, closed by the daemon after answering
            # (raw sockets: fast enough to make thousands of lines race the reopens).
            for i in range(k, n, clients):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(f"GET /api/jobs/{1_000_000 + i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                expected = json.dumps({"error": f"Job not found: {1_000_000 + i}"}, separators=(",", ":")).encode()
                if not head.startswith(b"HTTP/1.1 404 ") or body != expected:
                    wrong.append(data)

        hupper = threading.Thread(target=hammer)
        hupper.start()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        join(threads, 180, "the access-log clients")
        stop.set()
        join([hupper], 10, "the SIGHUP sender")
        assert hups[0] > 500, hups[0]
        assert wrong == [], f"{len(wrong)} responses were not the expected 404, e.g. {wrong[0][:300]!r}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stderr.read() == ""
        with open(log, encoding="utf-8") as f:
            lines = f.read().split("\n")
        assert lines.pop() == ""  # the file ends with a complete line
        line_shape = re.compile(r"jobrunnerd (debug|info|warning|error): \S.*")
        assert [l for l in lines if not line_shape.fullmatch(l)] == []
        access = re.compile(r"jobrunnerd info: GET /api/jobs/(\d+) 404 \d+ µs")
        seen = Counter(int(m.group(1)) - 1_000_000 for m in map(access.fullmatch, lines) if m)
        missing = [i for i in range(n) if seen[i] != 1]
        assert missing == [], f"{len(missing)} requests without exactly one access-log line"
        assert sum(seen.values()) == n
    finally:
        stop.set()
        proc.kill()
        proc.wait(10)


def test_journal_gets_syslog_priorities():
    env = dict(os.environ, JOURNAL_STREAM="8:1234")
    proc = subprocess.Popen([BINARY, "--port", "0", "--db", ":memory:", "--www", WWW], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stderr, what="the daemon's first log line")
        assert line.startswith("<6>listening on"), line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        rest = proc.stderr.read()
        assert all(l.startswith("<") for l in rest.splitlines()), rest
    finally:
        proc.kill()


# --- install ---------------------------------------------------------------------------


def test_make_install_layout_and_units():
    dest = tmpdir()
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/opt/jr"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for path in ["opt/jr/bin/jobrunnerd", "opt/jr/bin/jr-submit", "opt/jr/bin/jr-watch", "opt/jr/bin/jr-list",
                 "opt/jr/bin/jr-cancel", "opt/jr/bin/jr-stats", "opt/jr/share/jobrunner/www/index.html",
                 "opt/jr/share/jobrunner/jr-lib.sh", "opt/jr/lib/systemd/system/jobrunnerd.service",
                 "opt/jr/lib/systemd/system/jobrunnerd.socket", "etc/jobrunner/jobrunner.json"]:
        assert os.path.exists(os.path.join(dest, path)), path
    unit = open(os.path.join(dest, "opt/jr/lib/systemd/system/jobrunnerd.service")).read()
    assert "ExecStart=/opt/jr/bin/jobrunnerd --config /etc/jobrunner/jobrunner.json" in unit
    for line in ["Type=notify", "StateDirectory=jobrunner", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "Restart=on-failure", "WatchdogSec="]:
        assert line in unit, line
    # The installed binary finds its dashboard without --www.
    binary = os.path.join(dest, "opt/jr/bin/jobrunnerd")
    proc = subprocess.Popen([binary, "--port", "0", "--db", ":memory:"], stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stderr, what="the installed daemon's first log line")
        assert os.path.join(dest, "opt/jr/share/jobrunner/www") in line, line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    # The installed scripts find their library.
    r = subprocess.run([os.path.join(dest, "opt/jr/bin/jr-stats"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage: jr-stats" in r.stdout
    if shutil.which("systemd-analyze"):
        units = tmpdir()
        with open(os.path.join(units, "jobrunnerd.service"), "w") as f:
            f.write(unit.replace("/opt/jr/bin/jobrunnerd", binary))
        shutil.copy(os.path.join(dest, "opt/jr/lib/systemd/system/jobrunnerd.socket"), units)
        r = subprocess.run(["systemd-analyze", "verify", os.path.join(units, "jobrunnerd.service"),
                            os.path.join(units, "jobrunnerd.socket")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run(["make", "-s", "uninstall", f"DESTDIR={dest}", "PREFIX=/opt/jr"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0
    assert not os.path.exists(os.path.join(dest, "opt/jr/bin/jobrunnerd"))
    assert os.path.exists(os.path.join(dest, "etc/jobrunner/jobrunner.json"))


# --- curl scripts -------------------------------------------------------------------------


def run_script(name, *args, url):
    env = dict(os.environ, JOBRUNNER_URL=url)
    return subprocess.run([os.path.join(SCRIPTS, name), *args], capture_output=True, text=True, env=env, timeout=30)


def test_scripts_against_a_live_daemon(daemon):
    url = daemon.url
    r = run_script("jr-submit", "echo", "message=hi \"there\"", "delay=1", url=url)
    assert r.returncode == 0
    job_id = int(r.stdout)
    watch = run_script("jr-watch", str(job_id), url=url)
    assert watch.returncode == 0
    assert json.loads(watch.stdout)["result"]["echoed"] == 'hi "there"'
    assert "100%" in watch.stderr
    long = int(run_script("jr-submit", "countdown", "seconds=30", url=url).stdout)
    listing = run_script("jr-list", "running", url=url)
    assert listing.returncode == 0
    assert f"{long}  countdown" in listing.stdout and "echo" not in listing.stdout
    assert run_script("jr-cancel", str(long), url=url).stdout.strip() == f"cancelled {long}"
    again = run_script("jr-cancel", str(long), url=url)
    assert again.returncode == 1 and "Cannot cancel job in status: cancelled" in again.stderr
    stats = run_script("jr-stats", url=url)
    assert "1 completed" in stats.stdout and "1 cancelled" in stats.stdout
    assert json.loads(run_script("jr-stats", "--json", url=url).stdout)["queue"]["total"] == 2
    bad = run_script("jr-submit", "countdown", "seconds=99", url=url)
    assert bad.returncode == 1 and "Parameter 'seconds' must be at most 60" in bad.stderr
    watch_cancelled = run_script("jr-watch", str(long), url=url)
    assert watch_cancelled.returncode == 1


def test_scripts_help_and_unreachable_daemon():
    for name in ["jr-submit", "jr-watch", "jr-list", "jr-cancel", "jr-stats", "jr-schedule"]:
        r = run_script(name, "--help", url="http://127.0.0.1:9")
        assert r.returncode == 0 and f"Usage: {name}" in r.stdout and "JOBRUNNER_URL" in r.stdout
        assert "JOBRUNNER_TOKEN" in r.stdout, name
    r = run_script("jr-stats", url="http://127.0.0.1:9")
    assert r.returncode == 1
    assert "cannot reach the JobRunner daemon at http://127.0.0.1:9" in r.stderr
