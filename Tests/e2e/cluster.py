"""Helpers for the cluster tests: several jobrunnerd nodes on one PostgreSQL
database, the command job types they share, and reads every node answers."""
import json
import os
import signal
import threading

import requests

import waits


# Command job types all nodes load (--job-types-dir). Each one proves something
# from outside: a line per run in a shared file, a gate the test opens, a pid the
# test can look for in /proc.
TYPES = {
    # One line per run: a job run twice leaves its tag twice.
    "append-line": {
        "command": ["/bin/sh", "-c", 'echo "$1" >> "$2"', "append-line", "{tag}", "{path}"],
        "params": {"tag": {"type": "string", "required": True, "max_length": 64, "pattern": "^[A-Za-z0-9_-]+$"},
                   "path": {"type": "string", "required": True, "max_length": 255, "pattern": "^/"}},
    },
    # Waits (started, silent) until the gate file exists, then prints N lines with
    # a progress line each.
    "gated-lines": {
        "command": ["/bin/sh", "-c",
                    'while [ ! -e "$1" ]; do sleep 0.02; done; n=$2; i=0; while [ $i -lt $n ]; do i=$((i+1)); '
                    'echo "line $i"; printf \'{"progress": %d, "message": "%d of %d"}\\n\' $((i*100/n)) $i $n >&3; '
                    'sleep 0.03; done',
                    "gated-lines", "{gate}", "{lines}"],
        "params": {"gate": {"type": "string", "required": True, "max_length": 255, "pattern": "^/"},
                   "lines": {"type": "integer", "default": 20, "min": 1, "max": 1000}},
    },
    # Writes its pid, then sleeps (the same process) until stopped.
    "sleeper": {
        "command": ["/bin/sh", "-c", 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 600', "sleeper", "{pidfile}"],
        "params": {"pidfile": {"type": "string", "required": True, "max_length": 255, "pattern": "^/"}},
    },
    # The first attempt leaves a marker (its pid) and hangs; a later one sees the
    # marker and completes.
    "hang-once": {
        "command": ["/bin/sh", "-c",
                    'if [ -e "$1" ]; then echo "second attempt"; exit 0; fi; echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 600',
                    "hang-once", "{marker}"],
        "params": {"marker": {"type": "string", "required": True, "max_length": 255, "pattern": "^/"}},
    },
    # Each run records itself in a shared file: "start JOB PID" as it starts,
    # then "end JOB PID" after SECONDS, or "term JOB PID" if stopped by SIGTERM.
    "attempts": {
        "command": ["/bin/sh", "-c",
                    'echo "start $JOBRUNNER_JOB_ID $$" >> "$1"; trap \'echo "term $JOBRUNNER_JOB_ID $$" >> "$1"; exit 143\' TERM; '
                    'sleep "$2" & wait $!; echo "end $JOBRUNNER_JOB_ID $$" >> "$1"',
                    "attempts", "{path}", "{seconds}"],
        "params": {"path": {"type": "string", "required": True, "max_length": 255, "pattern": "^/"},
                   "seconds": {"type": "integer", "required": True, "min": 1, "max": 120}},
    },
}

INTERRUPTED = "Interrupted: the daemon stopped while this job was running"
FINAL = ("completed", "failed", "cancelled")


def write_types(directory):
    os.makedirs(directory, exist_ok=True)
    for name, definition in TYPES.items():
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            json.dump({"name": name, **definition}, f)
    return str(directory)


class Cluster:
    """Nodes n1, n2, ... on one database, started one after the other."""

    def __init__(self, start_daemon, db_url, types_dir, *extra):
        self.start_daemon = start_daemon
        self.db_url = db_url
        self.types_dir = types_dir
        self.extra = extra
        self.nodes = {}

    def start(self, node_id, *args):
        d = self.start_daemon("--db", self.db_url, "--node-id", node_id, "--job-types-dir", self.types_dir, *self.extra, *args)
        d.node_id = node_id
        self.nodes[node_id] = d
        return d

    def live(self):
        return [d for d in self.nodes.values() if d.proc.poll() is None]

    def kill(self, node_id):
        """kill -9: no clean stop, its row and heartbeat stay behind."""
        d = self.nodes[node_id]
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=15)
        return d


def get(d, path, expect=200):
    r = requests.get(f"{d.url}{path}", timeout=10)
    assert r.status_code == expect, f"{d.url}{path}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def job(d, job_id):
    """The job as node d sees it, or None while d does not know it yet."""
    r = requests.get(f"{d.url}/api/jobs/{job_id}", timeout=10)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def post_job(d, job_type, params, **options):
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": job_type, "params": params, **options}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def all_jobs(d, query=""):
    jobs = []
    url = f"{d.url}/api/jobs?limit=1000{query}"
    while url:
        r = requests.get(url, timeout=30)
        assert r.status_code == 200, r.text
        jobs += r.json()
        link = r.headers.get("Link")
        url = d.url + link[1:link.index(">")] if link else None
    return jobs


def nodes(d):
    return get(d, "/api/nodes")


def leaders(d):
    return [n["id"] for n in nodes(d) if n["leader"]]


def wait_for(predicate, timeout=30.0, **kwargs):
    """waits.wait_for with a longer default: nodes hear of each other through PostgreSQL."""
    return waits.wait_for(predicate, timeout, **kwargs)


def read_pid(path, timeout=30):
    wait_for(lambda: os.path.exists(path), timeout=timeout, what=f"{path} written")
    with open(path) as f:
        return int(f.read().strip())


def process_gone(pid):
    """True once the process has ended: no longer in /proc, or a zombie (dead,
    waiting for whoever adopted it to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def runs(path, job_id):
    """What the `attempts` runs of a job recorded, by pid in start order:
    [(pid, ["start", "end"]), ...]."""
    found = {}
    with open(path) as f:
        for line in f:
            what, job, pid = line.split()
            if int(job) == job_id:
                found.setdefault(int(pid), []).append(what)
    return list(found.items())


class Watcher(threading.Thread):
    """Polls GET /api/nodes on a node as fast as it answers, keeping every answer
    that mentions `node_id`, until stopped."""

    def __init__(self, d, node_id):
        super().__init__(daemon=True)
        self.d, self.node_id = d, node_id
        self.seen = []
        self.halt = threading.Event()
        self.start()

    def run(self):
        with requests.Session() as s:
            while not self.halt.is_set():
                try:
                    answer = s.get(f"{self.d.url}/api/nodes", timeout=5).json()
                except (requests.RequestException, ValueError):
                    continue
                entry = next((n for n in answer if n["id"] == self.node_id), None)
                self.seen.append(entry)

    def stop(self):
        self.halt.set()
        self.join(10)
        return self.seen

