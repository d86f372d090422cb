"""Webhooks end to end: a real receiver, signatures, retries, the outbox across
kill -9, and a hanging receiver that must not slow jobs."""
import functools
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time

import requests

from conftest import BINARY, ROOT
from waits import wait_for
from webhook_receiver import Receiver, reserved_port, signed

SECRET = "s3cret-for-tests"


def config(tmp_path, hooks, **extra):
    path = tmp_path / "jobrunner.json"
    path.write_text(json.dumps({"webhooks": hooks, **extra}))
    return str(path)


# Deliveries go through attempts and backoff: a longer default deadline than the REST tests'.
wait_until = functools.partial(wait_for, timeout=30)


def deliveries(d, **params):
    r = requests.get(f"{d.url}/api/webhooks/deliveries", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def finished(d, job_id):
    job = requests.get(f"{d.url}/api/jobs/{job_id}").json()
    return job if job["status"] in ("completed", "failed", "cancelled") else None


def test_signed_deliveries_for_completed_failed_and_cancelled(start_daemon, tmp_path):
    rx = Receiver()
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET,
                                  "events": ["job_completed", "job_failed", "job_cancelled"]}],
                      job_types=[{"name": "boom", "command": ["/bin/false"]}])
        d = start_daemon("--config", path)
        ok = requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}}).json()
        bad = requests.post(f"{d.url}/api/jobs", json={"job_type": "boom"}).json()
        slow = requests.post(f"{d.url}/api/jobs", json={"job_type": "countdown", "params": {"seconds": 30}}).json()
        wait_until(lambda: requests.get(f"{d.url}/api/jobs/{slow['id']}").json()["status"] == "running", what="countdown running")
        assert requests.delete(f"{d.url}/api/jobs/{slow['id']}").status_code == 200
        got = rx.wait_for(lambda r: len(r) >= 3)
        by_event = {}
        for headers, body, _ in got:
            # The signature is the HMAC-SHA256 of the send time and the exact body under the secret.
            assert signed(SECRET, headers, body)
            assert not signed("another secret", headers, body)
            assert headers["content-type"] == "application/json"
            payload = json.loads(body)
            assert headers["x-jobrunner-event"] == payload["event"]
            assert headers["x-jobrunner-delivery"] == payload["delivery"]
            assert abs(int(headers["x-jobrunner-timestamp"]) - time.time()) < 60
            by_event[payload["event"]] = payload
        assert set(by_event) == {"job_completed", "job_failed", "job_cancelled"}
        assert by_event["job_completed"]["job"]["id"] == ok["id"]
        assert by_event["job_completed"]["job"]["status"] == "completed"
        # The job as the REST API shows it.
        assert by_event["job_completed"]["job"] == requests.get(f"{d.url}/api/jobs/{ok['id']}").json()
        assert by_event["job_failed"]["job"]["id"] == bad["id"] and by_event["job_failed"]["job"]["status"] == "failed"
        assert by_event["job_cancelled"]["job"]["id"] == slow["id"]
        # The list shows each delivery with its one successful attempt.
        listed = wait_until(lambda: [x for x in deliveries(d)["deliveries"] if x["status"] == "delivered"][2:] and deliveries(d),
                            what="three delivered")
        rows = listed["deliveries"]
        assert len(rows) == 3 and listed["next_before"] is None
        for row in rows:
            assert row["url"] == rx.url and row["attempts"] == 1 and row["last_status"] == 200 and row["last_error"] is None
            assert row["next_attempt_at"] is None
        assert {row["job_id"] for row in rows} == {ok["id"], bad["id"], slow["id"]}
        # The secret is never shown.
        assert SECRET not in requests.get(f"{d.url}/api/webhooks/deliveries").text
        assert SECRET not in "".join(d.log)
    finally:
        rx.close()


def test_retried_after_500s_with_the_same_delivery_id(start_daemon, tmp_path):
    rx = Receiver(answers=[500, 307, 503])
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_completed"],
                                  "backoff": {"initial": 0.05, "max": 0.2}}])
        d = start_daemon("--config", path)
        job = requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}}).json()
        got = rx.wait_for(lambda r: len(r) >= 4)
        assert [answer for _, _, answer in got] == [500, 307, 503, 200]
        # A redirect is a failed attempt, not followed.
        assert all(h[":path"] == "/hook" for h, _, _ in got)
        ids = {h["x-jobrunner-delivery"] for h, _, _ in got}
        bodies = {b for _, b, _ in got}
        assert len(ids) == 1 and len(bodies) == 1            # the same delivery, byte for byte
        assert [h["x-jobrunner-attempt"] for h, _, _ in got] == ["1", "2", "3", "4"]
        # Each attempt is signed at the time it was sent.
        assert all(signed(SECRET, h, b) for h, b, _ in got)
        assert json.loads(got[0][1])["job"]["id"] == job["id"]
        row = wait_until(lambda: [x for x in deliveries(d)["deliveries"] if x["status"] == "delivered"], what="delivered")[0]
        assert row["attempts"] == 4 and row["last_status"] == 200
    finally:
        rx.close()


def documented_verification():
    """The Python of docs/webhooks.md's "Verifying a delivery", run as written
    (but the receiver's serve_forever): its verify and verify_either."""
    with open(os.path.join(ROOT, "docs", "webhooks.md")) as f:
        section = f.read().split("## Verifying a delivery", 1)[1].split("\n## ", 1)[0]
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        if "serve_forever" not in block:
            exec(block, namespace)
    return namespace["verify"], namespace["verify_either"]


def test_the_documented_verification_takes_each_attempt_and_refuses_a_replay(start_daemon, tmp_path):
    verify, verify_either = documented_verification()
    secret = SECRET.encode()
    rx = Receiver(answers=[500])
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_completed"],
                                  "backoff": {"initial": 2.5, "max": 2.5}}])
        d = start_daemon("--config", path)
        requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
        got = rx.wait_for(lambda r: len(r) >= 2)
        times = []
        for headers, body, _ in got:
            header = headers["x-jobrunner-signature"]
            assert verify(secret, header, body) and verify_either(secret, header, body), header
            assert not verify(b"another secret", header, body)
            assert not verify(secret, header, body + b" ")
            t = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", header).group(1))
            times.append(t)
            # The same request replayed later than the tolerance is refused; with
            # a fresh time put in, the signature no longer matches.
            assert not verify(secret, header, body, now=t + 301)
            assert not verify(secret, header.replace(f"t={t},", f"t={t + 3600},"), body, now=t + 3600)
            # The old form (the body alone) passes only the transition's verify_either.
            old = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            assert not verify(secret, old, body) and verify_either(secret, old, body)
        # The retry, 1.25 to 2.5 s later, carries its own time (the body is the same).
        assert got[0][1] == got[1][1] and times[1] > times[0]
    finally:
        rx.close()


def test_gives_up_after_max_attempts_and_keeps_it_visible(start_daemon, tmp_path):
    rx = Receiver(default=500)
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_completed"], "max_attempts": 2,
                                  "backoff": {"initial": 0.05, "max": 0.05}}])
        d = start_daemon("--config", path)
        requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
        row = wait_until(lambda: [x for x in deliveries(d)["deliveries"] if x["status"] == "dead"], what="dead")[0]
        assert row["attempts"] == 2 and row["last_status"] == 500 and row["last_error"] == "HTTP 500"
        assert len(rx.received) == 2
        assert any("gave up after 2 attempts" in line for line in d.log)
    finally:
        rx.close()


def test_an_undelivered_webhook_survives_kill_9(start_daemon, tmp_path):
    holder, port = reserved_port()          # the receiver is down: connections are refused
    url = f"http://127.0.0.1:{port}/hook"
    path = config(tmp_path, [{"url": url, "secret": SECRET, "events": ["job_completed"],
                              "backoff": {"initial": 0.2, "max": 0.5}}])
    d = start_daemon("--config", path)
    job = requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}}).json()
    row = wait_until(lambda: [x for x in deliveries(d)["deliveries"] if x["attempts"] >= 1], what="a failed attempt")[0]
    assert row["status"] == "pending" and row["last_status"] is None and row["last_error"]
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=15)
    holder.close()
    rx = Receiver(port=port)
    try:
        again = start_daemon("--db", d.db, "--config", path)
        got = rx.wait_for(lambda r: len(r) >= 1)
        headers, body, _ = got[0]
        assert headers["x-jobrunner-delivery"] == row["id"]
        assert json.loads(body)["job"]["id"] == job["id"]
        assert signed(SECRET, headers, body)
        done = wait_until(lambda: [x for x in deliveries(again)["deliveries"] if x["status"] == "delivered"], what="delivered")[0]
        assert done["id"] == row["id"] and done["attempts"] >= 2
    finally:
        rx.close()


def test_a_job_interrupted_by_kill_9_is_reported_failed_after_the_restart(start_daemon, tmp_path):
    rx = Receiver()
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_failed"]}])
        d = start_daemon("--config", path)
        job = requests.post(f"{d.url}/api/jobs", json={"job_type": "countdown", "params": {"seconds": 60}}).json()
        wait_until(lambda: requests.get(f"{d.url}/api/jobs/{job['id']}").json()["status"] == "running", what="running")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=15)
        assert rx.received == []
        start_daemon("--db", d.db, "--config", path)
        headers, body, _ = rx.wait_for(lambda r: len(r) >= 1)[0]
        payload = json.loads(body)
        assert payload["event"] == "job_failed" and payload["job"]["id"] == job["id"]
        assert payload["job"]["error"].startswith("Interrupted")
        assert signed(SECRET, headers, body)
    finally:
        rx.close()


def test_a_hanging_receiver_does_not_slow_jobs(start_daemon, tmp_path):
    rx = Receiver(default="hang")
    try:
        # Each attempt waits 2 s; two at a time: 200 deliveries need at least 200 s of attempts.
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_completed"], "timeout": 2,
                                  "concurrency": 2, "backoff": {"initial": 0.1, "max": 0.2}}])
        d = start_daemon("--config", path, "--concurrency", "8")
        for _ in range(200):
            assert requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}}).status_code == 201
        wait_until(lambda: requests.get(f"{d.url}/api/stats").json()["queue"]["completed"] == 200, timeout=60,
                   what="200 jobs completed")
        # The jobs are all done while almost every delivery still waits for its first answer.
        rows = deliveries(d, limit=1000)["deliveries"]
        assert len(rows) == 200
        assert sum(1 for x in rows if x["attempts"] >= 1) < 100
        assert all(x["status"] == "pending" for x in rows)
        # The hanging POSTs time out and are retried.
        timed_out = wait_until(lambda: [x for x in deliveries(d, limit=1000)["deliveries"]
                                        if x["attempts"] >= 1 and "imeout" in (x["last_error"] or "")],
                               timeout=30, what="an attempt timed out")
        assert timed_out[0]["status"] == "pending" and timed_out[0]["next_attempt_at"] > timed_out[0]["last_attempt_at"]
        assert timed_out[0]["last_status"] is None
    finally:
        rx.close()


def test_schedule_fired_event(start_daemon, tmp_path):
    rx = Receiver()
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["schedule_fired"]}])
        d = start_daemon("--config", path)
        assert requests.put(f"{d.url}/api/schedules/nightly", json={"cron": "@daily", "job_type": "prime",
                                                                    "params": {"limit": 10}}).status_code in (200, 201)
        r = requests.post(f"{d.url}/api/schedules/nightly/run")
        assert r.status_code in (200, 201), r.text
        headers, body, _ = rx.wait_for(lambda r: len(r) >= 1)[0]
        payload = json.loads(body)
        assert payload["event"] == "schedule_fired" and headers["x-jobrunner-event"] == "schedule_fired"
        assert payload["schedule"]["name"] == "nightly" and payload["job"]["schedule"] == "nightly"
        assert payload["job"]["id"] == r.json()["id"]
        assert requests.get(f"{d.url}/api/webhooks/deliveries").json()["deliveries"][0]["schedule"] == "nightly"
    finally:
        rx.close()


def test_config_is_checked_and_reloaded_on_sighup(start_daemon, tmp_path):
    bad = tmp_path / "bad.json"
    for hooks, field in [([{"url": "ftp://x/", "secret": "s", "events": ["job_failed"]}], "webhooks[0].url"),
                         ([{"url": "http://x/", "secret": "", "events": ["job_failed"]}], "webhooks[0].secret"),
                         ([{"url": "http://x/", "secret": "s", "events": ["job_exploded"]}], "webhooks[0].events"),
                         ([{"url": "http://x/", "secret": "s", "events": ["job_failed"], "timeout": 0}], "webhooks[0].timeout")]:
        bad.write_text(json.dumps({"webhooks": hooks}))
        r = subprocess.run([BINARY, "--port", "0", "--db", ":memory:", "--config", str(bad)], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and field in r.stderr, r.stderr
    rx = Receiver()
    try:
        path = tmp_path / "jobrunner.json"
        path.write_text(json.dumps({"webhooks": []}))
        d = start_daemon("--config", str(path), "--db", ":memory:")
        path.write_text(json.dumps({"webhooks": [{"url": "gopher://nope", "secret": "x", "events": ["job_completed"]}]}))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("configuration not reloaded" in line and "webhooks[0].url" in line for line in d.log), what="refusal logged")
        path.write_text(json.dumps({"webhooks": [{"url": rx.url, "secret": SECRET, "events": ["job_completed"]}]}))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("1 webhook endpoints loaded" in line for line in d.log), what="reload logged")
        requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
        headers, body, _ = rx.wait_for(lambda r: len(r) >= 1)[0]
        assert signed(SECRET, headers, body)
        assert SECRET not in "".join(d.log)
    finally:
        rx.close()


def test_deliveries_list_pages_and_validates(start_daemon, tmp_path):
    rx = Receiver()
    try:
        d = start_daemon("--config", config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_completed"]}]))
        for _ in range(5):
            requests.post(f"{d.url}/api/jobs", json={"job_type": "prime", "params": {"limit": 10}})
        wait_until(lambda: len([x for x in deliveries(d)["deliveries"] if x["status"] == "delivered"]) == 5, what="5 delivered")
        first = deliveries(d, limit=2)
        assert len(first["deliveries"]) == 2 and first["next_before"] == first["deliveries"][-1]["seq"]
        second = deliveries(d, limit=2, before=first["next_before"])
        third = deliveries(d, limit=2, before=second["next_before"])
        seqs = [x["seq"] for page in (first, second, third) for x in page["deliveries"]]
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 5 and third["next_before"] is None
        for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"before": "-1"}, {"before": "abc"}):
            r = requests.get(f"{d.url}/api/webhooks/deliveries", params=bad)
            assert r.status_code == 400 and "error" in r.json(), bad
    finally:
        rx.close()


def test_the_deliveries_list_needs_admin(start_daemon, tmp_path):
    def token(name, scopes):
        out = subprocess.run([BINARY, "token", "new", name, "--scopes", scopes], capture_output=True, text=True, check=True)
        secret, entry = out.stdout.splitlines()
        return secret, json.loads(entry)
    reader, reader_entry = token("reader", "read")
    admin, admin_entry = token("boss", "admin")
    d = start_daemon("--config", config(tmp_path, [], tokens=[reader_entry, admin_entry]))
    url = f"{d.url}/api/webhooks/deliveries"
    assert requests.get(url).status_code == 401
    r = requests.get(url, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "error" in r.json()
    r = requests.get(url, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and r.json() == {"deliveries": [], "next_before": None}


def test_a_failed_attempt_with_attempts_left_is_job_retrying(start_daemon, tmp_path):
    rx = Receiver()
    try:
        path = config(tmp_path, [{"url": rx.url, "secret": SECRET, "events": ["job_retrying", "job_failed"]}],
                      job_types=[{"name": "boom", "command": ["/bin/false"]}])
        d = start_daemon("--config", path)
        job = requests.post(f"{d.url}/api/jobs", json={"job_type": "boom", "max_attempts": 2,
                                                       "backoff": {"initial": 0.05, "max": 0.05}}).json()
        got = rx.wait_for(lambda r: len(r) >= 2)
        # Two deliveries (possibly in either order: each goes out on its own).
        by_event = {p["event"]: p for p in (json.loads(body) for _, body, _ in got)}
        assert set(by_event) == {"job_retrying", "job_failed"} and len(got) == 2
        assert all(p["job"]["id"] == job["id"] for p in by_event.values())
        retrying = by_event["job_retrying"]["job"]
        assert retrying["status"] == "pending" and retrying["attempt"] == 2 and retrying["run_at"] is not None
        assert len(retrying["errors"]) == 1
        failed = by_event["job_failed"]["job"]
        assert failed["status"] == "failed" and len(failed["errors"]) == 2
    finally:
        rx.close()
