"""Command job types from outside: definitions in a temporary --job-types-dir that
point at the real scripts in Tests/e2e/fixtures, run by the built daemon.

Every wait is for a condition the daemon or /proc reports, with a deadline."""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import BINARY, ROOT, WWW
from live import parse_sse, rss_kib
from test_rest import finished, submit
from waits import join, wait_for

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
DOCS = os.path.join(ROOT, "docs", "command-jobs.md")
INTERRUPTED = "Interrupted: the daemon stopped while this job was running"
MiB = 1 << 20


def fixture(name):
    return os.path.join(FIXTURES, name)


# --- definitions ------------------------------------------------------------------------


def standard_types(tmp):
    """The job types most tests use, by name."""
    return {
        "behave": {"description": "ends as told", "command": [fixture("behave.sh"), "{mode}", "{arg}"],
                   "params": {"mode": {"type": "string", "required": True,
                                       "enum": ["exit", "quiet", "signal", "sleep"]},
                              "arg": {"type": "string", "default": ""}}},
        "behave-timeout": {"command": [fixture("behave.sh"), "{mode}", "{arg}"], "timeout": 1,
                           "params": {"mode": {"type": "string", "default": "sleep"},
                                      "arg": {"type": "string", "default": ""}}},
        "argv": {"command": [fixture("argv.py"), "{value}", "--flag={value}", "literal {not a placeholder}"],
                 "params": {"value": {"type": "string", "required": True, "max_length": 1000}},
                 "env": {"JOB_GREETING": "hello from the definition"}, "cwd": str(tmp)},
        "validated": {"command": [fixture("argv.py"), "{name}", "{color}", "{count}"],
                      "params": {"name": {"type": "string", "required": True, "pattern": "^[a-z][a-z0-9-]*$",
                                          "max_length": 20, "description": "a lowercase name"},
                                 "color": {"type": "string", "enum": ["red", "green"], "default": "red"},
                                 "count": {"type": "integer", "min": 1, "max": 5, "default": 1}}},
        "forker": {"command": [fixture("forker.py")]},
        "forker-timeout": {"command": [fixture("forker.py")], "timeout": 1},
        "output": {"command": [fixture("output.py"), "{mode}", "{arg}"],
                   "params": {"mode": {"type": "string", "required": True},
                              "arg": {"type": "integer", "default": 0, "min": 0, "max": 1000}}},
        "gated": {"command": [fixture("gated.sh"), "{fifo}"],
                  "params": {"fifo": {"type": "string", "required": True}}},
    }


class TypesDir:
    """A --job-types-dir with one *.json per type."""

    def __init__(self, path):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)

    def add(self, name, definition, filename=None):
        file = os.path.join(self.path, filename or f"{name}.json")
        with open(file, "w") as f:
            json.dump({"name": name, **definition}, f, indent=2)
        return file

    def write(self, filename, text):
        file = os.path.join(self.path, filename)
        with open(file, "w") as f:
            f.write(text)
        return file


@pytest.fixture
def types(tmp_path):
    d = TypesDir(tmp_path / "jobs.d")
    for name, definition in standard_types(tmp_path).items():
        d.add(name, definition)
    return d


@pytest.fixture
def runner(start_daemon, types):
    """Starts a daemon on the standard types, kill grace 1 s."""
    def start(*args):
        return start_daemon("--job-types-dir", types.path, "--kill-grace", "1", "--sse-heartbeat", "1", *args)
    return start


# --- helpers ----------------------------------------------------------------------------


def wait_finished(url, job_id, timeout=30):
    return wait_for(lambda: finished(url, job_id), timeout=timeout)


def get_job(url, job_id):
    return requests.get(f"{url}/api/jobs/{job_id}").json()


def log_lines(url, job_id, after=None):
    q = "?format=jsonl" + (f"&after={after}" if after is not None else "")
    r = requests.get(f"{url}/api/jobs/{job_id}/log{q}")
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines()]


def wait_log(url, job_id, predicate, timeout=20):
    """The job's log lines once one of them satisfies `predicate`."""
    def check():
        lines = log_lines(url, job_id)
        return lines if any(predicate(l) for l in lines) else None
    return wait_for(check, timeout=timeout)


def job_pids(url, job_id):
    """The pids the forker fixture printed: (pids, supervisor, pgid)."""
    lines = wait_log(url, job_id, lambda l: l["line"].startswith('{"pids"'))
    info = json.loads(next(l["line"] for l in lines if l["line"].startswith('{"pids"')))
    return info["pids"], info["supervisor"], info["pgid"]


def proc_stat(pid):
    """(state, pgrp) of a process, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data.rsplit(")", 1)[1].split()
    return fields[0], int(fields[2])


def alive(pid):
    s = proc_stat(pid)
    return s is not None and s[0] != "Z"


def group_members(pgid):
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = proc_stat(int(entry))
            if s and s[1] == pgid and s[0] != "Z":
                members.append(int(entry))
    return members


def nothing_left(pids, pgid):
    return not any(alive(p) for p in pids) and not group_members(pgid)


def kill_group(pgid):
    """Cleanup after a failed assertion: the test must not leak processes."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class SSE:
    """An SSE connection read event by event."""

    def __init__(self, url, headers=None):
        self.url = url
        self.end = time.monotonic() + 30
        self.response = requests.get(url, headers=headers or {}, stream=True, timeout=20)
        self.status = self.response.status_code
        self.events = parse_sse(self._lines()) if self.status == 200 else iter(())

    def _lines(self):
        # The heartbeat keeps the read timeout from firing: each read has a deadline of its own.
        for line in self.response.iter_lines(decode_unicode=True):
            if time.monotonic() > self.end:
                raise AssertionError(f"{self.url}: the awaited event did not come in time")
            yield line

    def until(self, predicate, timeout=30):
        """Events up to and including the first that satisfies `predicate`."""
        self.end = time.monotonic() + timeout
        got = []
        for event in self.events:
            got.append(event)
            if predicate(event):
                return got
        raise AssertionError(f"stream ended before the condition: {got}")

    def rest(self, timeout=30):
        """Every event until the server ends the stream."""
        self.end = time.monotonic() + timeout
        return list(self.events)

    def close(self):
        self.response.close()


def open_gate(fifo):
    """Writes a line to the gated fixture's FIFO once the job reads it."""
    def attempt():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False  # ENXIO: no reader yet
        os.write(fd, b"go\n")
        os.close(fd)
        return True
    wait_for(attempt)


def make_fifo(tmp_path, name="gate"):
    path = str(tmp_path / name)
    os.mkfifo(path)
    return path


# --- success, progress and result ---------------------------------------------------------


def test_success_streams_progress_and_ends_with_the_result(runner, tmp_path):
    d = runner()
    fifo = make_fifo(tmp_path)
    job = submit(d.url, "gated", fifo=fifo)
    stream = SSE(f"{d.url}/api/jobs/{job['id']}/progress")
    try:
        # Before the gate the job reports 50 % (in the status or as an event).
        def at_half(event):
            _, name, data = event
            return (name == "status" and data.get("progress", {}).get("percent") == 50) or \
                   (name == "progress" and data["percent"] == 50)
        early = stream.until(at_half)
        assert early[0][1] == "status"
        open_gate(fifo)
        rest = stream.rest()
    finally:
        stream.close()
    progress = [data for _, name, data in rest if name == "progress"]
    assert {"percent": 75, "message": "past the gate"} in progress
    name, final = rest[-1][1], rest[-1][2]
    assert name == "complete"
    assert final["status"] == "completed" and final["result"] == {"lines": 10}
    done = get_job(d.url, job["id"])
    assert done["status"] == "completed" and done["result"] == {"lines": 10} and done["error"] is None
    assert done["progress"]["percent"] == 100


def test_exit_0_without_a_result_line_reports_the_exit_code(runner):
    d = runner()
    job = submit(d.url, "behave", mode="quiet", arg="0")
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "completed"
    assert done["result"] == {"exit_code": 0}


# --- failures -------------------------------------------------------------------------------


def test_exit_status_names_the_last_non_empty_stderr_line(runner):
    d = runner()
    job = submit(d.url, "behave", mode="exit", arg="3")
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == "Exited with status 3: disk on fire: /dev/sda1"
    stderr = [l["line"] for l in log_lines(d.url, job["id"]) if l["stream"] == "stderr"]
    assert stderr[:2] == ["warming up", "disk on fire: /dev/sda1"]


def test_exit_status_without_stderr(runner):
    d = runner()
    job = submit(d.url, "behave", mode="quiet", arg="7")
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == "Exited with status 7"


@pytest.mark.parametrize("sig,text", [("KILL", "Killed by signal 9 (SIGKILL)"),
                                      ("SEGV", "Killed by signal 11 (SIGSEGV)")])
def test_killed_by_a_signal(runner, sig, text):
    d = runner()
    job = submit(d.url, "behave", mode="signal", arg=sig)
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == text


def test_timeout_fails_the_job(runner):
    d = runner()
    job = submit(d.url, "behave-timeout")
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == "Timed out after 1 seconds"
    assert done["completed_at"] - done["started_at"] >= 1.0


def test_cancel_a_running_job(runner):
    d = runner()
    job = submit(d.url, "behave", mode="sleep")
    wait_for(lambda: get_job(d.url, job["id"])["progress"]["message"] == "sleeping")
    r = requests.delete(f"{d.url}/api/jobs/{job['id']}")
    assert r.status_code == 200 and r.json() == {"success": True, "job_id": job["id"]}
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "cancelled"
    # The daemon goes on: the next job runs.
    nxt = submit(d.url, "behave", mode="quiet", arg="0")
    assert wait_finished(d.url, nxt["id"])["status"] == "completed"


def test_command_deleted_after_start(start_daemon, tmp_path):
    program = str(tmp_path / "vanishing.py")
    shutil.copy(fixture("argv.py"), program)
    os.chmod(program, 0o755)
    types = TypesDir(tmp_path / "jobs.d")
    types.add("vanishing", {"command": [program, "x"]})
    types.add("behave", standard_types(tmp_path)["behave"])
    d = start_daemon("--job-types-dir", types.path)
    os.unlink(program)
    job = submit(d.url, "vanishing")
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == f"Cannot start {program}: No such file or directory"
    nxt = submit(d.url, "behave", mode="quiet", arg="0")
    assert wait_finished(d.url, nxt["id"])["status"] == "completed"
    assert d.proc.poll() is None


# --- params reach the program as they were sent ---------------------------------------------


@pytest.mark.parametrize("value", [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "first line\nsecond line",
    "-rf",
    "--help",
    "*",
    "a b  c",
    "'\"\\ |&<>",
    "caf\u00e9 \u2713",
    "",
], ids=["semicolon", "dollar-paren", "backticks", "newline", "leading-dash", "double-dash", "glob", "spaces",
        "quotes", "unicode", "empty"])
def test_a_param_is_one_argv_element_verbatim(runner, value):
    d = runner()
    job = submit(d.url, "argv", value=value)
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "completed", done
    assert done["result"]["argv"] == [value, f"--flag={value}", "literal {not a placeholder}"]
    stdout = [l["line"] for l in log_lines(d.url, job["id"]) if l["stream"] == "stdout"]
    assert json.loads(stdout[0]) == done["result"]["argv"]


def test_the_job_environment_working_directory_and_stdin(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("E2E_DAEMON_ONLY", "must not reach jobs")
    d = runner()
    job = submit(d.url, "argv", value="v")
    done = wait_finished(d.url, job["id"])
    result = done["result"]
    env = result["env"]
    assert set(env) == {"PATH", "LANG", "HOME", "JOB_GREETING", "JOBRUNNER_JOB_ID", "JOBRUNNER_PARAMS",
                        "JOBRUNNER_PROGRESS_FD"}
    assert env["JOB_GREETING"] == "hello from the definition"
    assert env["JOBRUNNER_JOB_ID"] == str(job["id"])
    assert json.loads(env["JOBRUNNER_PARAMS"]) == {"value": "v"}
    assert env["JOBRUNNER_PROGRESS_FD"] == "3"
    assert env["PATH"] == os.environ["PATH"]
    assert result["cwd"] == str(tmp_path)
    assert result["stdin"] == ""
    # Its own session and process group, not the daemon's.
    assert result["pgid"] == result["sid"]
    assert result["pgid"] != os.getpgid(d.proc.pid)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("params,message", [
    ({}, "Parameter 'name' is required"),
    ({"name": "Bad Name"}, "Parameter 'name' must match ^[a-z][a-z0-9-]*$"),
    ({"name": "ok\n; rm -rf /"}, "Parameter 'name' must match ^[a-z][a-z0-9-]*$"),
    ({"name": "-rf"}, "Parameter 'name' must match ^[a-z][a-z0-9-]*$"),
    ({"name": "a" * 21}, "Parameter 'name' is too long (max 20)"),
    ({"name": "ok", "color": "blue"}, "Parameter 'color' must be one of: red, green"),
    ({"name": "ok", "count": 9}, "Parameter 'count' must be at most 5"),
    ({"name": "ok", "count": "x"}, "Parameter 'count' must be an integer"),
    ({"name": "ok", "bogus": 1}, "Unknown parameter: bogus"),
    ({"name": "ok\u0000-rf"}, "Parameter 'name' must not contain U+0000 (NUL)"),
], ids=["required", "pattern", "pattern-newline", "pattern-dash", "max-length", "enum", "max", "integer", "unknown", "nul"])
def test_invalid_params_are_refused_with_the_rule(runner, params, message):
    d = runner()
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "validated", "params": params})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": message}
    assert requests.get(f"{d.url}/api/jobs").json() == []


def test_valid_params_are_normalised_with_defaults(runner):
    d = runner()
    job = submit(d.url, "validated", name="web-1", count="3")
    assert job["params"] == {"name": "web-1", "color": "red", "count": 3}
    done = wait_finished(d.url, job["id"])
    assert done["result"]["argv"] == ["web-1", "red", "3"]
    listed = {t["name"]: t for t in requests.get(f"{d.url}/api/job-types").json()}
    params = {p["name"]: p for p in listed["validated"]["params"]}
    assert params["name"]["required"] is True and params["name"]["pattern"] == "^[a-z][a-z0-9-]*$"
    assert params["color"]["enum"] == ["red", "green"] and params["color"]["default"] == "red"
    assert params["count"]["min"] == 1 and params["count"]["max"] == 5


# --- the process group goes with the job --------------------------------------------------


def test_cancel_leaves_nothing_of_the_group(runner):
    d = runner()
    job = submit(d.url, "forker")
    pids, supervisor, pgid = job_pids(d.url, job["id"])
    try:
        assert all(alive(p) for p in pids) and pgid == supervisor
        assert requests.delete(f"{d.url}/api/jobs/{job['id']}").status_code == 200
        assert wait_finished(d.url, job["id"])["status"] == "cancelled"
        wait_for(lambda: nothing_left(pids + [supervisor], pgid), timeout=10)
    finally:
        kill_group(pgid)


def test_timeout_leaves_nothing_of_the_group(runner):
    d = runner()
    job = submit(d.url, "forker-timeout")
    pids, supervisor, pgid = job_pids(d.url, job["id"])
    try:
        done = wait_finished(d.url, job["id"])
        assert done["status"] == "failed" and done["error"] == "Timed out after 1 seconds"
        wait_for(lambda: nothing_left(pids + [supervisor], pgid), timeout=10)
    finally:
        kill_group(pgid)


def test_daemon_sigterm_drains_then_leaves_nothing_of_the_group(runner):
    d = runner("--shutdown-grace", "1")
    job = submit(d.url, "forker")
    pids, supervisor, pgid = job_pids(d.url, job["id"])
    try:
        assert d.stop(signal.SIGTERM, timeout=30) == 0
        wait_for(lambda: nothing_left(pids + [supervisor], pgid), timeout=10)
    finally:
        kill_group(pgid)
    again = runner("--db", d.db)
    done = get_job(again.url, job["id"])
    assert done["status"] == "failed" and done["error"] == INTERRUPTED


def test_kill_9_of_the_daemon_leaves_no_child(runner):
    d = runner()
    job = submit(d.url, "forker")
    pids, supervisor, pgid = job_pids(d.url, job["id"])
    try:
        d.proc.kill()
        d.proc.wait(10)
        wait_for(lambda: nothing_left(pids + [supervisor], pgid), timeout=10)
    finally:
        kill_group(pgid)


def test_restart_after_kill_9_marks_the_running_job_interrupted(runner, types):
    d = runner()
    job = submit(d.url, "behave", mode="sleep")
    wait_for(lambda: get_job(d.url, job["id"])["progress"]["message"] == "sleeping")
    d.proc.kill()
    d.proc.wait(10)
    again = runner("--db", d.db)
    done = get_job(again.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == INTERRUPTED
    # Jobs of the type still run after the restart.
    nxt = submit(again.url, "behave", mode="quiet", arg="0")
    assert wait_finished(again.url, nxt["id"])["status"] == "completed"


# --- hostile output ----------------------------------------------------------------------


def text_log(url, job_id):
    r = requests.get(f"{url}/api/jobs/{job_id}/log")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    # Whatever bytes the job wrote, a browser shows the log as text (it does not
    # sniff ESC and NUL into a download).
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    return r, r.content.decode("utf-8")  # strict: raises on invalid UTF-8


@pytest.mark.parametrize("db", ["durable", "memory"])
def test_binary_output_becomes_valid_utf8(runner, db):
    d = runner(*(["--db", ":memory:"] if db == "memory" else []))
    job = submit(d.url, "output", mode="binary")
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    _, text = text_log(d.url, job["id"])
    assert "\ufffd" in text
    assert text.endswith("after binary\n")
    lines = log_lines(d.url, job["id"])
    assert [l["line"] for l in lines][-1] == "after binary"
    assert any("\x00\x01\x02 nul and control \x1b[31m" == l["line"] for l in lines)


def test_invalid_utf8_is_replaced_per_sequence(runner):
    d = runner()
    job = submit(d.url, "output", mode="invalid-utf8")
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    raw = [b"caf\xc3 \xff\xfe end", b"overlong \xc0\xaf and surrogate \xed\xa0\x80",
           "valid: caf\u00e9 \u2713 \U0001F600".encode(), b"truncated at the end \xe2\x82"]
    expected = [b.decode("utf-8", "replace") for b in raw]
    assert [l["line"] for l in log_lines(d.url, job["id"]) if l["stream"] == "stdout"] == expected
    _, text = text_log(d.url, job["id"])
    assert text == "".join(e + "\n" for e in expected)


class PeakRSS:
    """Samples a process's RSS in the background until stopped."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss_kib(pid)
        self.peak = self.base
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return
            time.sleep(0.01)

    def stop(self):
        self.running = False
        join([self.thread], 5, "the RSS sampler")
        self.peak = max(self.peak, rss_kib(self.pid))
        return (self.peak - self.base) * 1024


def check_bounded_log(url, job_id, budget=MiB):
    """The documented bound: the newest lines within the budget, the first text
    line and X-Log-Dropped saying how many older ones went."""
    r, text = text_log(url, job_id)
    dropped = int(r.headers["X-Log-Dropped"])
    assert dropped > 0
    first, _, rest = text.partition("\n")
    assert first == f"[{dropped} earlier lines dropped: the log keeps the newest {budget} bytes]"
    kept = rest.encode()
    assert len(kept) <= budget
    return dropped, rest.splitlines()


def test_a_10_mb_line_without_newline(runner):
    d = runner()
    rss = PeakRSS(d.proc.pid)
    job = submit(d.url, "output", mode="long-line", arg=10)
    done = wait_finished(d.url, job["id"], timeout=60)
    growth = rss.stop()
    assert done["status"] == "completed" and done["result"] == {"wrote": 10 * MiB}
    dropped, lines = check_bounded_log(d.url, job["id"])
    assert lines and all(set(line) == {"x"} for line in lines)
    assert max(len(line) for line in lines) <= 64 * 1024
    assert growth < 100 * MiB, f"RSS grew by {growth / MiB:.0f} MiB"


@pytest.mark.parametrize("db", ["durable", "memory"])
def test_200_mb_of_output_keeps_memory_and_log_bounded(runner, db):
    d = runner(*(["--db", ":memory:"] if db == "memory" else []))
    rss = PeakRSS(d.proc.pid)
    job = submit(d.url, "output", mode="flood", arg=200)
    done = wait_finished(d.url, job["id"], timeout=120)
    growth = rss.stop()
    assert done["status"] == "completed"
    written = done["result"]["lines"]
    dropped, lines = check_bounded_log(d.url, job["id"])
    # The newest lines, none missing, none twice, and as many kept + dropped as written.
    numbers = [int(line.split()[0]) for line in lines]
    assert numbers == list(range(written - len(lines), written))
    assert dropped + len(lines) == written
    assert sum(len(line) + 1 for line in lines) >= MiB * 3 // 4 - 1024
    assert growth < 100 * MiB, f"RSS grew by {growth / MiB:.0f} MiB while the job wrote 200 MB"


@pytest.mark.parametrize("mode,result,notes", [
    ("fd3-closed", {"exit_code": 0}, 0),
    ("fd3-unused", {"exit_code": 0}, 0),
    ("fd3-garbage", {"ok": True}, 8),
    ("fd3-huge", {"survived": True}, None),
])
def test_misused_progress_fd_is_noted_never_fatal(runner, mode, result, notes):
    d = runner()
    job = submit(d.url, "output", mode=mode)
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "completed", done
    assert done["result"] == result
    lines = log_lines(d.url, job["id"])
    jobrunner = [l["line"] for l in lines if l["stream"] == "jobrunner"]
    if notes is None:
        assert jobrunner, "the 1 MB line is noted"
        assert all(len(n) < 1000 for n in jobrunner), "notes quote a prefix, not the whole line"
    else:
        assert len(jobrunner) == notes, jobrunner
    if mode == "fd3-garbage":
        assert all(n.startswith("ignored") for n in jobrunner)
        assert any("second result" in n for n in jobrunner)


def test_a_1_mb_progress_line_never_becomes_the_message(runner, tmp_path):
    d = runner()
    job = submit(d.url, "output", mode="fd3-huge")
    events = []
    stream = SSE(f"{d.url}/api/jobs/{job['id']}/progress")
    try:
        events = stream.rest()
    finally:
        stream.close()
    assert events[-1][1] == "complete"
    for _, name, data in events:
        if name == "progress":
            assert len(data["message"]) <= 1000
        if name == "status":
            assert len(data["progress"]["message"]) <= 1000


# --- log endpoints and SSE log events ---------------------------------------------------


def run_gated(d, tmp_path, name="gate"):
    fifo = make_fifo(tmp_path, name)
    job = submit(d.url, "gated", fifo=fifo)
    open_gate(fifo)
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    return job


STDOUT = [f"line {i}" for i in range(1, 11)]
STDERR = ["stderr after 5", "stderr after 10"]


def test_log_as_text_jsonl_and_after(runner, tmp_path):
    d = runner()
    job = run_gated(d, tmp_path)
    lines = log_lines(d.url, job["id"])
    assert [l["line"] for l in lines if l["stream"] == "stdout"] == STDOUT
    assert [l["line"] for l in lines if l["stream"] == "stderr"] == STDERR
    assert all(set(l) == {"seq", "ts", "stream", "line"} for l in lines)
    seqs = [l["seq"] for l in lines]
    assert seqs == sorted(set(seqs))
    assert all(abs(l["ts"] - time.time()) < 60 for l in lines)

    r = requests.get(f"{d.url}/api/jobs/{job['id']}/log?format=jsonl")
    assert r.headers["Content-Type"] == "application/x-ndjson"
    assert r.headers["X-Log-Dropped"] == "0" and r.headers["X-Log-Last-Seq"] == str(seqs[-1])

    r, text = text_log(d.url, job["id"])
    assert text == "".join(l["line"] + "\n" for l in lines)
    assert r.headers["X-Log-Dropped"] == "0"

    fifth = next(l["seq"] for l in lines if l["line"] == "line 5")
    after = log_lines(d.url, job["id"], after=fifth)
    assert after == [l for l in lines if l["seq"] > fifth]
    r = requests.get(f"{d.url}/api/jobs/{job['id']}/log?after={fifth}")
    assert r.text == "".join(l["line"] + "\n" for l in after)
    assert log_lines(d.url, job["id"], after=seqs[-1]) == []

    assert requests.get(f"{d.url}/api/jobs/999/log").status_code == 404
    assert requests.get(f"{d.url}/api/jobs/{job['id']}/log?format=xml").status_code == 400
    assert requests.get(f"{d.url}/api/jobs/{job['id']}/log?after=-1").status_code == 400


@pytest.mark.parametrize("resume", ["last-event-id", "after"])
def test_sse_log_events_replay_without_gaps_or_duplicates(runner, tmp_path, resume):
    d = runner()
    fifo = make_fifo(tmp_path)
    job = submit(d.url, "gated", fifo=fifo)
    url = f"{d.url}/api/jobs/{job['id']}/progress"
    # The job may have written its first lines before we connect: `after=0`
    # replays every line so far, then the stream goes live.
    first = SSE(f"{url}?after=0")
    try:
        seen = first.until(lambda e: e[1] == "log" and e[2]["line"] == "line 5")
    finally:
        first.close()
    logs = [(i, data) for i, name, data in seen if name == "log"]
    assert all(i == data["seq"] for i, data in logs), "a log event's id is the line's seq"
    last = logs[-1][0]
    open_gate(fifo)
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    if resume == "last-event-id":
        second = SSE(url, headers={"Last-Event-ID": str(last)})
    else:
        second = SSE(f"{url}?after={last}")
    try:
        rest = second.rest()
    finally:
        second.close()
    assert rest[0][1] == "status" and rest[-1][1] == "complete"
    logs += [(i, data) for i, name, data in rest if name == "log"]
    ids = [i for i, _ in logs]
    assert ids == sorted(set(ids)), "no duplicates, in order"
    assert [data for _, data in logs] == log_lines(d.url, job["id"]), "nothing missing"
    # Once the final event was seen, a reconnect is told to stop.
    final_id = rest[-1][0]
    assert requests.get(url, headers={"Last-Event-ID": str(final_id)}).status_code == 204


def test_durable_log_survives_restart_and_goes_with_clear_completed(runner, tmp_path):
    d = runner()
    job = run_gated(d, tmp_path)
    before = log_lines(d.url, job["id"])
    assert len(before) == 12
    assert d.stop() == 0
    again = runner("--db", d.db)
    assert log_lines(again.url, job["id"]) == before
    assert requests.post(f"{again.url}/api/jobs/clear-completed").json() == {"cleared": 1}
    assert requests.get(f"{again.url}/api/jobs/{job['id']}/log").status_code == 404
    assert again.stop() == 0
    with sqlite3.connect(d.db) as db:
        assert db.execute("SELECT count(*) FROM job_logs").fetchone()[0] == 0


# --- definitions: start, config file, SIGHUP --------------------------------------------


def start_fails(*args):
    """Runs the daemon expecting it to refuse to start; its exit code and stderr."""
    proc = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--www", WWW, *args],
                          capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stderr


BAD_DEFINITIONS = [
    ("relative-program", {"command": ["true"]}, "command"),
    ("missing-program", {"command": ["/nonexistent/jobrunner-e2e"]}, "command"),
    ("directory-program", {"command": ["/tmp"]}, "command"),
    ("empty-command", {"command": []}, "command"),
    ("unknown-field", {"command": ["/bin/true"], "timout": 5}, "timout"),
    ("unknown-placeholder", {"command": ["/bin/echo", "{nope}"]}, "command"),
    ("param-type", {"command": ["/bin/true"], "params": {"n": {"type": "float"}}}, "params.n.type"),
    ("param-pattern", {"command": ["/bin/true"], "params": {"s": {"type": "string", "pattern": "(["}}},
     "params.s.pattern"),
    ("param-default", {"command": ["/bin/true"], "params": {"n": {"type": "integer", "min": 1, "max": 5,
                                                                  "default": 9}}}, "params.n.default"),
    ("param-enum", {"command": ["/bin/true"], "params": {"n": {"type": "integer", "enum": ["a"]}}}, "params.n.enum"),
    ("timeout", {"command": ["/bin/true"], "timeout": -1}, "timeout"),
    ("concurrency", {"command": ["/bin/true"], "concurrency": 0}, "concurrency"),
    ("max-attempts", {"command": ["/bin/true"], "max_attempts": "3"}, "max_attempts"),
    ("env-reserved", {"command": ["/bin/true"], "env": {"JOBRUNNER_JOB_ID": "1"}}, "env"),
    ("cwd", {"command": ["/bin/true"], "cwd": "relative/dir"}, "cwd"),
]


@pytest.mark.parametrize("definition,field", [(d, f) for _, d, f in BAD_DEFINITIONS],
                         ids=[n for n, _, _ in BAD_DEFINITIONS])
def test_a_bad_definition_stops_the_start_naming_file_and_field(tmp_path, definition, field):
    types = TypesDir(tmp_path / "jobs.d")
    types.add("fine", {"command": ["/bin/true"]})
    bad = types.add("broken", definition)
    code, err = start_fails("--job-types-dir", types.path)
    assert code == 2, err
    assert bad in err and f"field '{field}'" in err, err


@pytest.mark.parametrize("name,content,expected", [
    ("invalid-json", '{"name": "x", "command": ["/bin/true"]', "not valid JSON"),
    ("uppercase-name", '{"name": "Upper", "command": ["/bin/true"]}', "field 'name'"),
    ("built-in-name", '{"name": "echo", "command": ["/bin/true"]}', "field 'name'"),
    ("not-an-object", '["/bin/true"]', "must be a JSON object"),
])
def test_a_broken_file_stops_the_start(tmp_path, name, content, expected):
    types = TypesDir(tmp_path / "jobs.d")
    bad = types.write(f"{name}.json", content)
    code, err = start_fails("--job-types-dir", types.path)
    assert code == 2, err
    assert bad in err and expected in err, err


def test_a_fifo_among_the_definitions_stops_the_start_at_once(tmp_path):
    # A FIFO would block the open (no writer ever comes): refused by name instead.
    types = TypesDir(tmp_path / "jobs.d")
    types.add("fine", {"command": ["/bin/true"]})
    fifo = os.path.join(types.path, "pipe.json")
    os.mkfifo(fifo)
    code, err = start_fails("--job-types-dir", types.path)
    assert code == 2 and f"{fifo}: not a regular file" in err, err


def test_sighup_with_a_fifo_among_the_definitions_keeps_the_daemon_serving(runner, types):
    d = runner()
    before = requests.get(f"{d.url}/api/job-types").json()
    fifo = os.path.join(types.path, "pipe.json")
    os.mkfifo(fifo)
    d.proc.send_signal(signal.SIGHUP)
    line = wait_for(lambda: next((l for l in d.log if "SIGHUP: job types not reloaded" in l), None))
    assert f"{fifo}: not a regular file" in line, line
    assert requests.get(f"{d.url}/api/job-types").json() == before
    # The main thread is not stuck in an open: SIGTERM still drains and exits.
    assert d.stop(signal.SIGTERM, timeout=15) == 0


def test_a_name_defined_twice_stops_the_start(tmp_path):
    types = TypesDir(tmp_path / "jobs.d")
    types.add("twice", {"command": ["/bin/true"]}, filename="a.json")
    second = types.add("twice", {"command": ["/bin/false"]}, filename="b.json")
    code, err = start_fails("--job-types-dir", types.path)
    assert code == 2 and second in err and "field 'name'" in err and "defined twice" in err, err


def test_job_types_in_the_config_file(start_daemon, tmp_path):
    config = tmp_path / "jobrunner.json"
    config.write_text(json.dumps({"job_types": [
        {"name": "from-config", "command": [fixture("argv.py"), "{word}"], "params": {"word": {"type": "string"}}},
    ]}))
    d = start_daemon("--config", str(config))
    job = submit(d.url, "from-config", word="$HOME")
    assert wait_finished(d.url, job["id"])["result"]["argv"] == ["$HOME"]

    config.write_text(json.dumps({"job_types": [{"name": "from-config", "command": ["/bin/true"], "nope": 1}]}))
    code, err = start_fails("--config", str(config))
    assert code == 2, err
    assert f"{config} (job_types)[0]" in err and "field 'nope'" in err, err


def test_sighup_with_a_bad_file_is_refused_and_the_old_types_stay(runner, types):
    d = runner()
    before = requests.get(f"{d.url}/api/job-types").json()
    bad = types.add("newcomer", {"command": ["/bin/true"], "timeout": "soon"})
    d.proc.send_signal(signal.SIGHUP)
    line = wait_for(lambda: next((l for l in d.log if "SIGHUP: job types not reloaded" in l), None))
    assert bad in line and "field 'timeout'" in line, line
    assert requests.get(f"{d.url}/api/job-types").json() == before
    job = submit(d.url, "behave", mode="quiet", arg="0")
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "newcomer", "params": {}})
    assert r.status_code == 400
    assert d.proc.poll() is None


def test_sighup_with_a_new_valid_file_adds_the_type(runner, types):
    d = runner()
    types.add("newcomer", {"description": "added on SIGHUP", "command": [fixture("argv.py"), "{x}"],
                           "params": {"x": {"type": "integer", "default": 4}}})
    d.proc.send_signal(signal.SIGHUP)

    def listed():
        return {t["name"]: t for t in requests.get(f"{d.url}/api/job-types").json()}.get("newcomer")
    added = wait_for(listed)
    assert added["description"] == "added on SIGHUP"
    assert [p["name"] for p in added["params"]] == ["x"]
    job = submit(d.url, "newcomer")
    assert wait_finished(d.url, job["id"])["result"]["argv"] == ["4"]
    # The types that were there stay.
    names = {t["name"] for t in requests.get(f"{d.url}/api/job-types").json()}
    assert {"behave", "argv", "countdown", "newcomer"} <= names


def test_a_type_concurrency_limits_its_own_jobs(start_daemon, tmp_path):
    types = TypesDir(tmp_path / "jobs.d")
    gated = standard_types(tmp_path)["gated"]
    types.add("one-at-a-time", {**gated, "concurrency": 1})
    d = start_daemon("--job-types-dir", types.path, "--concurrency", "3")
    gates = [make_fifo(tmp_path, f"gate{i}") for i in range(2)]
    jobs = [submit(d.url, "one-at-a-time", fifo=g) for g in gates]
    wait_for(lambda: get_job(d.url, jobs[0]["id"])["progress"]["percent"] == 50)
    try:
        # A free global slot, but the type allows one: the second waits.
        assert get_job(d.url, jobs[1]["id"])["status"] == "pending"
    finally:
        for g in gates:
            open_gate(g)
    for j in jobs:
        assert wait_finished(d.url, j["id"])["status"] == "completed"


def test_max_attempts_retries_a_failing_job(start_daemon, tmp_path):
    types = TypesDir(tmp_path / "jobs.d")
    types.add("flaky", {"command": [fixture("flaky.sh"), "{counter}", "3"], "max_attempts": 3,
                        "params": {"counter": {"type": "string", "required": True}}})
    d = start_daemon("--job-types-dir", types.path)
    counter = str(tmp_path / "runs")
    job = submit(d.url, "flaky", counter=counter)
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"attempts": 3}


# --- the examples of docs/command-jobs.md ---------------------------------------------------


def doc_block(name):
    """The fenced block after `<!-- example: NAME -->` in docs/command-jobs.md."""
    with open(DOCS) as f:
        text = f.read()
    m = re.search(r"<!-- example: " + re.escape(name) + r" -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert m, f"docs/command-jobs.md has no example {name}"
    return m.group(1)


def doc_definition(name, script):
    """The documented definition with its program pointed at the fixture."""
    definition = json.loads(doc_block(name))
    definition["command"][0] = fixture(script)
    return definition


@pytest.mark.parametrize("script", ["checksum.sh", "word_count.py"])
def test_the_documented_scripts_are_the_fixtures(script):
    with open(fixture(script)) as f:
        assert doc_block(script) == f.read()


def test_the_documented_shell_example_runs(start_daemon, tmp_path):
    types = TypesDir(tmp_path / "jobs.d")
    definition = doc_definition("checksum.json", "checksum.sh")
    types.add(definition.pop("name"), definition)
    data = tmp_path / "data dir; $(id)"
    data.mkdir()
    for i in range(5):
        (data / f"file {i}.txt").write_text(f"content {i}\n")
    d = start_daemon("--job-types-dir", types.path)
    job = submit(d.url, "checksum", directory=str(data))
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"files": 5, "algorithm": "sha256"}
    stdout = [l["line"] for l in log_lines(d.url, job["id"]) if l["stream"] == "stdout"]
    assert len(stdout) == 5 and all(len(l.split()[0]) == 64 for l in stdout)

    job = submit(d.url, "checksum", directory=str(tmp_path / "missing"), algorithm="md5")
    done = wait_finished(d.url, job["id"])
    assert done["error"] == f"Exited with status 2: not a directory: {tmp_path / 'missing'}"

    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "checksum", "params": {"directory": "relative"}})
    assert r.status_code == 400 and r.json() == {"error": "Parameter 'directory' must match ^/"}
    # A NUL would end the program's argument after the pattern passed on the whole value.
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "checksum", "params": {"directory": "/etc\u0000/x"}})
    assert r.status_code == 400 and r.json() == {"error": "Parameter 'directory' must not contain U+0000 (NUL)"}


def test_the_documented_python_example_runs(start_daemon, tmp_path):
    types = TypesDir(tmp_path / "jobs.d")
    definition = doc_definition("word-count.json", "word_count.py")
    types.add(definition.pop("name"), definition)
    text = tmp_path / "text.txt"
    text.write_text("the cat and the hat\n" * 300 + "The end.\n")
    d = start_daemon("--job-types-dir", types.path)
    job = submit(d.url, "word-count", path=str(text), top=2)
    stream = SSE(f"{d.url}/api/jobs/{job['id']}/progress")
    try:
        events = stream.rest()
    finally:
        stream.close()
    assert events[-1][1] == "complete"
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"words": 1502, "distinct": 5, "top": [["the", 601], ["cat", 300]]}
    stdout = [l["line"] for l in log_lines(d.url, job["id"]) if l["stream"] == "stdout"]
    assert stdout == ["     601 the", "     300 cat"]

    job = submit(d.url, "word-count", path=str(tmp_path / "nope.txt"))
    done = wait_finished(d.url, job["id"])
    assert done["error"] == f"Exited with status 1: cannot read {tmp_path / 'nope.txt'}: No such file or directory"
