"""Schedules from outside: the REST API and its validation, jr-schedule, a real
slot firing once across kill -9 and a restart, and events over the WebSocket."""
import json
import os
import signal
import subprocess
import time

import requests
from websockets.sync.client import connect

from conftest import ROOT
from waits import recv_until

SCRIPT = os.path.join(ROOT, "scripts", "jr-schedule")


def nightly(**over):
    body = {"cron": "30 3 * * *", "timezone": "Europe/Berlin", "job_type": "echo",
            "params": {"message": "backup"}, "options": {"max_attempts": 3}, "overlap": "skip", "catch_up": "latest"}
    body.update(over)
    return body


def test_create_read_update_delete(daemon):
    url = daemon.url
    r = requests.put(f"{url}/api/schedules/nightly", json=nightly())
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["name"] == "nightly" and s["description"] == "at 03:30 every day"
    assert s["params"] == {"message": "backup", "delay": 3}
    # The next 03:30 in Berlin, in the future, at :30 past an hour in UTC.
    assert s["next_run_at"] > time.time() and int(s["next_run_at"]) % 3600 == 1800
    assert requests.post(f"{url}/api/schedules", json=nightly(name="nightly")).status_code == 409
    r = requests.put(f"{url}/api/schedules/nightly", json=nightly(cron="0 4 * * *"))
    assert r.status_code == 200 and r.json()["cron"] == "0 4 * * *"
    assert [x["name"] for x in requests.get(f"{url}/api/schedules").json()] == ["nightly"]
    assert requests.post(f"{url}/api/schedules/nightly/pause").json()["paused"] is True
    assert requests.post(f"{url}/api/schedules/nightly/resume").json()["paused"] is False
    job = requests.post(f"{url}/api/schedules/nightly/run").json()
    assert job["schedule"] == "nightly" and job["max_attempts"] == 3
    assert [j["id"] for j in requests.get(f"{url}/api/jobs?schedule=nightly").json()] == [job["id"]]
    assert requests.get(f"{url}/api/schedules/nightly").json()["last_job_id"] == job["id"]
    assert requests.delete(f"{url}/api/schedules/nightly").json() == {"deleted": "nightly"}
    assert requests.get(f"{url}/api/schedules/nightly").status_code == 404
    assert requests.delete(f"{url}/api/schedules/nightly").status_code == 404


def test_bad_input_names_the_field_and_stores_nothing(daemon):
    url = daemon.url
    cases = [
        (nightly(cron="61 * * * *"), "Invalid 'cron' field: invalid cron expression '61 * * * *': minute field '61' is out of range 0-59"),
        (nightly(cron="* * * *"), "Invalid 'cron' field:"),
        (nightly(timezone="Mars/Olympus"), "Invalid 'timezone' field: unknown time zone 'Mars/Olympus'"),
        (nightly(timezone="../../etc/passwd"), "Invalid 'timezone' field:"),
        (nightly(timezone="Factory"), "Invalid 'timezone' field: unknown time zone 'Factory'"),
        (nightly(timezone="posixrules"), "Invalid 'timezone' field: unknown time zone 'posixrules'"),
        (nightly(timezone="right/UTC"), "Invalid 'timezone' field: unknown time zone 'right/UTC'"),
        (nightly(cron="0 4 * * * " + "1," * 200_000), "Invalid 'cron' field: invalid cron expression: longer than 200 bytes"),
        (nightly(job_type="nope"), "Invalid 'job_type' field: unknown job type 'nope'"),
        (nightly(params={"delay": 99}), "Invalid 'params' field: Parameter 'delay' must be at most 30"),
        (nightly(options={"priority": 1000}), "Invalid 'options' field: Invalid 'priority' field"),
        (nightly(options={"delay": 5}), "Invalid 'options' field: 'delay' does not apply to scheduled jobs"),
        (nightly(overlap="sometimes"), "Invalid 'overlap' field: must be one of: skip, allow, cancel_previous"),
        (nightly(catch_up="all"), "Invalid 'catch_up' field: must be one of: none, latest"),
        (nightly(extra=1), "Unknown field: extra"),
    ]
    for body, message in cases:
        r = requests.put(f"{url}/api/schedules/s1", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"].startswith(message), r.json()
    r = requests.put(f"{url}/api/schedules/Bad Name", json=nightly())
    assert r.status_code == 400 and "Invalid 'name' field" in r.json()["error"]
    assert requests.get(f"{url}/api/schedules").json() == []
    # The form's preview has the same bound and says so.
    r = requests.get(f"{url}/api/cron", params={"cron": "* " * 101})
    assert r.status_code == 400 and r.json() == {"error": "Invalid 'cron' field: invalid cron expression: longer than 200 bytes"}


def test_jr_schedule(daemon):
    env = dict(os.environ, JOBRUNNER_URL=daemon.url)

    def run(*args):
        return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=20)

    r = run("add", "reports", "0 9 * * MON-FRI", "echo", '{"message":"weekly"}', "--tz", "America/New_York")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["description"]
    listed = run("list")
    assert "reports" in listed.stdout and "America/New_York" in listed.stdout and "active" in listed.stdout
    assert run("pause", "reports").stdout.strip() == "paused reports"
    assert "paused" in run("list").stdout
    assert run("resume", "reports").stdout.strip() == "resumed reports"
    assert run("run-now", "reports").stdout.startswith("created job ")
    bad = run("add", "x", "not cron", "echo")
    # One line from the daemon, nothing from a JSON printer after it.
    assert bad.returncode == 1 and "Invalid 'cron' field" in bad.stderr and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "Expecting value" not in bad.stderr, bad.stderr
    missing = run("show", "nope")
    assert missing.returncode == 1 and "Schedule not found" in missing.stderr and "Expecting value" not in missing.stderr
    assert run("rm", "reports").stdout.strip() == "deleted reports"
    assert run("rm", "reports").returncode == 1


def test_a_slot_fires_once_across_kill_9(start_daemon):
    d = start_daemon()
    with connect(f"ws://127.0.0.1:{d.port}/ws/queue") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "queue_state"
        r = requests.put(f"{d.url}/api/schedules/tick", json={"cron": "* * * * *", "job_type": "echo",
                                                              "params": {"message": "tick", "delay": 1}, "overlap": "allow"})
        slot = r.json()["next_run_at"]
        # Fired at the slot: the job and the schedule's new last run arrive as events.
        m, _ = recv_until(ws, lambda m: m["type"] == "schedule_updated" and m["data"]["last_run_at"] == slot,
                          timeout=75, what=f"schedule_updated for the slot {slot}")
        fired = m["data"]
    assert fired["next_run_at"] == slot + 60
    job = requests.get(f"{d.url}/api/jobs/{fired['last_job_id']}").json()
    assert job["schedule"] == "tick" and job["created_at"] >= slot
    assert job["created_at"] - slot < 1, "fired late"
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    again = start_daemon("--db", d.db)
    jobs = requests.get(f"{again.url}/api/jobs?schedule=tick").json()
    assert [j["id"] for j in jobs] == [job["id"]]          # the slot did not fire again
    assert requests.get(f"{again.url}/api/schedules/tick").json()["next_run_at"] == slot + 60


def test_config_file_schedules(start_daemon, tmp_path):
    config = tmp_path / "jobrunner.json"
    config.write_text(json.dumps({"schedules": [{"name": "from-file", "cron": "@daily", "job_type": "prime",
                                                 "params": {"limit": 100}}]}))
    d = start_daemon("--config", str(config))
    s = requests.get(f"{d.url}/api/schedules/from-file").json()
    assert s["cron"] == "@daily" and s["timezone"] == "UTC" and int(s["next_run_at"]) % 86400 == 0
    config.write_text(json.dumps({"schedules": [{"name": "broken", "cron": "@sometimes", "job_type": "prime"}]}))
    from conftest import BINARY
    r = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--config", str(config)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "schedules[0]" in r.stderr and "Invalid 'cron' field" in r.stderr
