"""The daemon under test (jobrunnerd on port 0, read back from its first log line),
the bench's C programs, command job type files, and what is read from /proc."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

from .config import BIN, CORES, HERE, ROOT


class Daemon:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="jobrunner-bench-")
        args = list(args)
        if "--db" not in args:
            args += ["--db", ":memory:"]
        self.proc = subprocess.Popen([BIN, "--port", "0", "--www", os.path.join(ROOT, "www"), "--shutdown-grace", "0",
                                      "--threads", str(CORES), *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r":(\d+) \(", line)
        if not m:
            raise RuntimeError("daemon did not start: " + line)
        self.port = int(m.group(1))
        self.url = f"{'https' if 'listening on https' in line else 'http'}://127.0.0.1:{self.port}"
        # Keep reading the log (audit lines, one per submission): a full pipe would block the daemon.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def cpu_ticks(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def build_c(name):
    """Compiles one of the bench's C programs into a temporary folder."""
    out = os.path.join(tempfile.mkdtemp(), name)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmicrohttpd"], capture_output=True, text=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(HERE, name + ".c"), *flags], check=True)
    return out


def write_command_types(directory, types):
    os.makedirs(directory, exist_ok=True)
    for name, definition in types.items():
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            json.dump({"name": name, **definition}, f)


def empty_database():
    """A new SQLite file holding the daemon's schema and no jobs (the daemon
    made it), for a section to fill with SQL."""
    tmp = tempfile.mkdtemp(prefix="jobrunner-bench-db-")
    db = os.path.join(tmp, "jobs.db")
    Daemon("--db", db).stop()
    return tmp, db
