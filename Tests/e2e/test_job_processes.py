"""Everything a command job starts ends with it: processes that leave the job's
process group or session (coreutils `timeout`, setpgid, setsid, a double-forked
daemon) are gone after a cancel, a timeout, the job's normal end and kill -9 of
the daemon; and what a job inherits of the daemon's signal state.

The job's processes are found by a marker unique to each test, which every one
of them carries in its environment (the job's JOBRUNNER_PARAMS). Every wait has
a deadline."""
import json
import os
import re
import signal
import uuid

import pytest
import requests

from test_command_jobs import TypesDir, fixture, get_job, proc_stat, wait_finished, wait_log
from test_rest import submit
from waits import wait_for

ARG_MAX = os.sysconf("SC_ARG_MAX")
MODES = ["timeout", "setpgid", "setsid", "daemon"]
ESCAPER = {"command": [fixture("escaper.py"), "{mode}", "{end}"],
           "params": {"mode": {"type": "string", "enum": MODES + ["graceful", "uncgroup"], "required": True},
                      "end": {"type": "string", "enum": ["wait", "exit"], "default": "wait"},
                      "marker": {"type": "string", "required": True}}}


@pytest.fixture
def runner(start_daemon, tmp_path):
    d = TypesDir(tmp_path / "jobs.d")
    d.add("escaper", ESCAPER)
    d.add("escaper-timeout", {**ESCAPER, "timeout": 2})
    d.add("escaper-alone", {**ESCAPER, "concurrency": 1})
    d.add("status", {"command": ["/bin/cat", "/proc/self/status"]})
    text = {"text": {"type": "string", "required": True}}
    d.add("echo-long", {"command": ["/bin/echo", "--", "x={text}"], "params": text})
    d.add("params-long", {"command": ["/bin/true"], "params": text})
    d.add("many-long", {"command": ["/bin/echo"] + ["{text}"] * (ARG_MAX // 100_000 + 2), "params": text})

    def start(*args, **kwargs):
        return start_daemon("--job-types-dir", d.path, "--kill-grace", "1", *args, **kwargs)
    return start


@pytest.fixture
def marker():
    """A marker for this test's processes; whatever carries it at the end is
    killed, so a failing test leaks nothing."""
    m = f"escaper-{uuid.uuid4()}"
    yield m
    for pid, _, _ in marked(m):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def marked(marker):
    """(pid, process group, name) of every live process with `marker` in its
    environment."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read():
                    continue
            with open(f"/proc/{entry}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        stat = proc_stat(int(entry))
        if stat and stat[0] != "Z":
            found.append((int(entry), stat[1], name))
    return found


def start_escaper(d, marker, mode, end="wait", type_name="escaper"):
    """Submits the job and waits until its `sleep` runs outside the job's group."""
    job = submit(d.url, type_name, mode=mode, end=end, marker=marker)
    lines = wait_log(d.url, job["id"], lambda l: l["line"].startswith('{"escaped"'))
    pgid = json.loads(next(l["line"] for l in lines if l["line"].startswith('{"escaped"')))["pgid"]
    if end == "wait":
        wait_for(lambda: any(name == "sleep" and group != pgid for _, group, name in marked(marker)))
    return job


def none_left(marker):
    return not marked(marker)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_ends_processes_that_left_the_group(runner, marker, mode):
    d = runner()
    job = start_escaper(d, marker, mode)
    assert requests.delete(f"{d.url}/api/jobs/{job['id']}").status_code == 200
    assert wait_finished(d.url, job["id"])["status"] == "cancelled"
    wait_for(lambda: none_left(marker), timeout=10)


@pytest.mark.parametrize("mode", MODES)
def test_timeout_ends_processes_that_left_the_group(runner, marker, mode):
    d = runner()
    job = start_escaper(d, marker, mode, type_name="escaper-timeout")
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed" and done["error"] == "Timed out after 2 seconds"
    # The end is reported once the job's last process is gone.
    assert marked(marker) == []


@pytest.mark.parametrize("mode", MODES)
def test_the_jobs_end_ends_what_it_left_behind(runner, marker, mode):
    d = runner()
    job = start_escaper(d, marker, mode, end="exit")
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    assert marked(marker) == []


@pytest.mark.parametrize("mode", MODES)
def test_kill_9_of_the_daemon_ends_processes_that_left_the_group(runner, marker, mode):
    d = runner()
    start_escaper(d, marker, mode)
    d.proc.kill()
    d.proc.wait(10)
    wait_for(lambda: none_left(marker), timeout=10)


def test_a_process_that_left_the_group_gets_sigterm_and_the_grace(runner, marker):
    d = runner()
    job = start_escaper(d, marker, "graceful")
    assert requests.delete(f"{d.url}/api/jobs/{job['id']}").status_code == 200
    note = f"/tmp/{marker}.sigterm"
    try:
        wait_for(lambda: none_left(marker), timeout=10)
        with open(note) as f:
            assert f.read() == "escaped process got SIGTERM\n"
    finally:
        if os.path.exists(note):
            os.remove(note)


def test_a_cancelled_jobs_slot_is_free_only_once_its_last_process_is_gone(runner, marker):
    """The daemon's one slot: the next job starts only after the cancelled one's
    daemon (which ignores SIGTERM) is gone."""
    d = runner("--concurrency", "1")
    first = start_escaper(d, marker, "daemon")
    second = submit(d.url, "status")
    assert get_job(d.url, second["id"])["status"] == "pending"
    assert requests.delete(f"{d.url}/api/jobs/{first['id']}").status_code == 200
    wait_for(lambda: get_job(d.url, second["id"])["status"] != "pending", timeout=10)
    assert marked(marker) == []


def test_a_cancelled_jobs_place_in_its_types_limit_is_free_only_once_its_last_process_is_gone(runner, marker):
    """A type limited to one job: the next of that type starts only after the
    cancelled one's daemon (which ignores SIGTERM) is gone, while other types
    run meanwhile."""
    d = runner("--concurrency", "4")
    first = start_escaper(d, marker, "daemon", type_name="escaper-alone")
    second = submit(d.url, "escaper-alone", mode="graceful", end="exit", marker=f"next-{uuid.uuid4()}")
    assert get_job(d.url, second["id"])["status"] == "pending"
    assert requests.delete(f"{d.url}/api/jobs/{first['id']}").status_code == 200
    other = submit(d.url, "status")
    assert wait_finished(d.url, other["id"])["status"] == "completed"
    wait_for(lambda: get_job(d.url, second["id"])["status"] != "pending", timeout=10)
    assert marked(marker) == []


def test_a_job_starts_with_no_signal_ignored_or_blocked(runner):
    d = runner()
    job = submit(d.url, "status")
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    lines = {l["line"].split(":")[0]: l["line"].split(":", 1)[1].strip()
             for l in wait_log(d.url, job["id"], lambda l: l["line"].startswith("SigIgn"))}
    assert lines["SigIgn"] == "0000000000000000"
    assert lines["SigBlk"] == "0000000000000000"


# --- a delegated cgroup: a cgroup per job --------------------------------------------


def cgroup2_mount():
    """Where the cgroup v2 hierarchy's root is mounted (/sys/fs/cgroup, or
    /sys/fs/cgroup/unified on a hybrid system)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            if fields[dash + 1] == "cgroup2" and fields[3] == "/":
                return fields[4]
    raise AssertionError("no cgroup v2 hierarchy mounted: these tests need one (and root)")


@pytest.fixture
def delegated_cgroup():
    """A cgroup of its own to start the daemon in, as systemd's Delegate=yes
    gives a service: (its directory, a preexec_fn that moves the daemon in)."""
    path = os.path.join(cgroup2_mount(), f"jobrunner-e2e-{uuid.uuid4().hex[:12]}")
    os.mkdir(path)

    def enter():
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write("0")
    yield path, enter
    # Whatever is still in it (a failed test) goes, then the directories.
    with open(os.path.join(path, "cgroup.kill"), "w") as f:
        f.write("1")
    wait_for(lambda: "populated 0" in open(os.path.join(path, "cgroup.events")).read(), timeout=10)
    for child in job_cgroups(path):
        os.rmdir(os.path.join(path, child))
    os.rmdir(path)


def job_cgroups(path):
    return [name for name in os.listdir(path) if name.startswith("job-")]


def cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return next(line.strip()[3:] for line in f if line.startswith("0::"))


@pytest.mark.parametrize("stop", ["cancel", "kill -9"])
def test_with_a_delegated_cgroup_each_job_has_its_own(runner, delegated_cgroup, marker, stop):
    path, enter = delegated_cgroup
    name = os.path.basename(path)
    d = runner(preexec_fn=enter)
    job = start_escaper(d, marker, "daemon")
    # The supervisor (which carries the job's environment too) stays outside.
    groups = {cgroup_of(pid) for pid, _, name in marked(marker) if not name.startswith("jobrunner-")}
    assert len(groups) == 1 and re.fullmatch(rf".*/{name}/job-{d.proc.pid}-\d+", groups.pop()), groups
    assert len(job_cgroups(path)) == 1
    if stop == "cancel":
        assert requests.delete(f"{d.url}/api/jobs/{job['id']}").status_code == 200
    else:
        d.proc.kill()
        d.proc.wait(10)
    wait_for(lambda: none_left(marker), timeout=10)
    # The supervisor removes the job's cgroup as it ends.
    wait_for(lambda: not job_cgroups(path), timeout=10)


def test_with_a_delegated_cgroup_a_process_that_moves_out_of_its_jobs_still_ends(runner, delegated_cgroup, marker):
    path, enter = delegated_cgroup
    d = runner(preexec_fn=enter)
    job = submit(d.url, "escaper", mode="uncgroup", end="exit", marker=marker)
    lines = wait_log(d.url, job["id"], lambda l: l["line"].startswith('{"escaped"'))
    pid = json.loads(next(l["line"] for l in lines if l["line"].startswith('{"escaped"')))["escaped"][0]
    assert wait_finished(d.url, job["id"])["status"] == "completed"
    assert marked(marker) == [], (cgroup_of(pid), path)


# --- arguments the system cannot pass ---------------------------------------------------


@pytest.mark.parametrize("job_type,length,expected", [
    ("echo-long", 200_000, "Cannot start /bin/echo: argument 2 (from parameter 'text') is 200002 bytes, more than "
                           "the 131071 bytes the system allows in one argument: give a shorter value"),
    ("params-long", 200_000, "Cannot start /bin/true: the environment variable JOBRUNNER_PARAMS is 200011 bytes "
                             "(the longest is 'text'), more than the 131071 bytes the system allows in one variable"),
    ("many-long", 100_000, "Cannot start /bin/echo: its arguments and environment are "),
])
def test_an_argument_too_long_for_the_system_names_the_parameter_and_the_limit(runner, job_type, length, expected):
    d = runner()
    job = submit(d.url, job_type, text="a" * length)
    done = wait_finished(d.url, job["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith(expected), done["error"]
    assert "supervisor" not in done["error"]
    if job_type == "many-long":
        assert done["error"].endswith(f"(the longest parameter is 'text'), more than the {ARG_MAX} bytes "
                                      "the system allows in all"), done["error"]


def test_a_daemon_starting_in_the_same_cgroup_leaves_the_others_jobs_alone(runner, delegated_cgroup, marker):
    """A daemon removes the job cgroups of dead daemons as it starts, never
    those of one still running beside it (two daemons run from one shell)."""
    path, enter = delegated_cgroup
    first = runner(preexec_fn=enter)
    job = start_escaper(first, marker, "setsid")
    runner(preexec_fn=enter)
    before = marked(marker)
    assert get_job(first.url, job["id"])["status"] == "running" and before
    assert len(job_cgroups(path)) == 1
