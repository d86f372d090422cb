"""Black-box fixtures: start the built jobrunnerd binary on port 0 and read the
port it bound from its log line."""
import glob
import os
import re
import select
import signal
import subprocess
import tempfile
import threading
import time

import pytest
from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, os.environ.get("JOBRUNNERD", ".build/release/jobrunnerd"))
WWW = os.path.join(ROOT, os.environ.get("WWW_ROOT", "www"))
OUTPUT = os.path.join(ROOT, "Tests", "e2e", "output")
# A --job-types-dir with one type, `hold` (sleeps N seconds): a running job that
# outlasts whatever a test does meanwhile, however busy the machine (the longest
# built-in, countdown, lasts at most 60 s).
HOLD_TYPES = os.path.join(ROOT, "Tests", "e2e", "fixtures", "hold.d")


class Daemon:
    """The daemon on port 0 with a fresh SQLite file unless told otherwise."""

    def __init__(self, *args, preexec_fn=None):
        port = [] if "--port" in args else ["--port", "0"]
        if "--db" not in args:
            self.db = os.path.join(tempfile.mkdtemp(prefix="jobrunner-e2e-"), "jobs.db")
            args = (*args, "--db", self.db)
        else:
            self.db = args[list(args).index("--db") + 1]
        grace = [] if "--shutdown-grace" in args else ["--shutdown-grace", "1"]
        self.args = [BINARY, *port, *grace, "--www", WWW, *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=preexec_fn)
        self.log = []
        self.port = None
        deadline = time.monotonic() + 15
        while self.port is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError(f"daemon did not start (exit {self.proc.poll()}): " + "".join(self.log) + (self.proc.stderr.read() if self.proc.poll() is not None else ""))
            ready, _, _ = select.select([self.proc.stderr], [], [], remaining)
            if ready:
                line = self.proc.stderr.readline()
                self.log.append(line)
                m = re.search(r"listening on http://[^ ]*:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def _read_log(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    code = d.stop()
    assert code == 0, "".join(d.log)


@pytest.fixture
def start_daemon():
    started = []

    def start(*args, **kwargs):
        d = Daemon(*args, **kwargs)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


# Debian's chromium with the flags the browser tests use (never a downloaded browser).
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Postgres:
    """A throwaway PostgreSQL cluster (scripts/pg-throwaway: initdb in a temp dir
    as an unprivileged user, a Unix socket there, no TCP port). Its stdin is the
    lifeline: closing it, or this process ending however it ends, stops the
    server and removes the directory."""

    def __init__(self):
        script = os.path.join(ROOT, "scripts", "pg-throwaway")
        self.proc = subprocess.Popen(["/bin/sh", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.dir = self._reply("ready ", timeout=60)
        self.bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1]
        self.databases = 0

    def _reply(self, expect, timeout=30):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith(expect):
            raise RuntimeError(f"pg-throwaway: expected '{expect}', got '{line.strip()}'")
        return line[len(expect):].strip()

    def url(self, database, **extra):
        query = "".join(f"&{k}={v}" for k, v in extra.items())
        return f"postgresql:///{database}?host={self.dir}&user=jobrunner{query}"

    def new_database(self, **extra):
        """A new, empty database of its own; its URL (extra query parameters added)."""
        self.databases += 1
        name = f"e2e_{os.getpid()}_{self.databases}"
        self.sql("postgres", f"CREATE DATABASE {name}")
        return self.url(name, **extra)

    def sql(self, database, statement):
        """Runs one statement with psql; its rows, one a line, fields split by '|'."""
        r = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                            "-h", self.dir, "-U", "jobrunner", "-d", database, "-c", statement],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def stop(self):
        """Fast shutdown (clients are disconnected); returns once the server is gone."""
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        self._reply("stopped")

    def start(self):
        """Starts it again; returns once it accepts connections."""
        self.proc.stdin.write("start\n")
        self.proc.stdin.flush()
        self._reply("ready ")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="session")
def postgres():
    """One cluster for the test session; each test takes its own database."""
    cluster = Postgres()
    yield cluster
    cluster.close()


@pytest.fixture
def own_postgres():
    """A cluster of its own, for a test that stops and starts the server."""
    cluster = Postgres()
    yield cluster
    cluster.close()
