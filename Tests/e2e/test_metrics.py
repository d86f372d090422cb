"""GET /metrics and the health checks from outside (docs/metrics.md): the live output
passes Debian's `promtool check metrics`, every family moves as jobs run, labels stay
bounded, the scope rule holds, and /healthz and /readyz tell drain and storage
failure apart from being alive."""
import os
import re
import signal
import subprocess
import tempfile
import time

import requests

from test_auth import TOKENS, auth, write_config
from test_command_jobs import TypesDir, standard_types
from test_rest import submit
from waits import wait_for

PROMTOOL = "/usr/bin/promtool"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(d, headers=None):
    r = requests.get(f"{d.url}/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def promtool_check(text):
    """`promtool check metrics` (its lint included) on the text: exit 0 and no complaint."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def parse(text):
    """{(name, ((label, value), ...)): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def job_state(d, job_id):
    return requests.get(f"{d.url}/api/jobs/{job_id}").json()["status"]


def post(d, body):
    r = requests.post(f"{d.url}/api/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_every_family_moves_as_jobs_run_and_promtool_passes(start_daemon, tmp_path):
    types = TypesDir(tmp_path / "types")
    types.add("behave", standard_types(tmp_path)["behave"])
    d = start_daemon("--job-types-dir", types.path, "--concurrency", "4")
    first = scrape(d)
    promtool_check(first)
    before = parse(first)
    assert value(before, "jobrunner_worker_slots") == 4
    assert value(before, "jobrunner_store_commit_failures_total") == 0

    # Completed, in a named queue.
    done = post(d, {"job_type": "echo", "params": {"message": "hi", "delay": 1}, "queue": "reports"})
    # Failed after an automatic retry (two attempts), then retried by hand and failed again.
    flaky = post(d, {"job_type": "behave", "params": {"mode": "exit", "arg": "3"}, "max_attempts": 2,
                     "backoff": {"initial": 0.05, "max": 0.05}})
    # Running until cancelled, with a live SSE client watching it.
    sleeper = post(d, {"job_type": "behave", "params": {"mode": "sleep"}})
    # Pending for an hour.
    later = post(d, {"job_type": "countdown", "params": {"seconds": 1}, "queue": "later", "delay": 3600})

    wait_for(lambda: job_state(d, sleeper["id"]) == "running")
    stream = requests.get(f"{d.url}/api/jobs/{sleeper['id']}/progress", stream=True, timeout=30)
    assert stream.status_code == 200
    now = parse(scrape(d))
    assert value(now, "jobrunner_jobs", queue="default", type="behave", state="running") >= 1
    assert value(now, "jobrunner_jobs", queue="later", type="countdown", state="pending") == 1
    assert value(now, "jobrunner_jobs_held", state="pending") >= 1
    assert value(now, "jobrunner_worker_busy_slots") >= 1
    wait_for(lambda: value(parse(scrape(d)), "jobrunner_live_clients", kind="sse") == 1)

    assert requests.delete(f"{d.url}/api/jobs/{sleeper['id']}").status_code == 200
    wait_for(lambda: job_state(d, sleeper["id"]) == "cancelled")
    wait_for(lambda: job_state(d, done["id"]) == "completed")
    wait_for(lambda: job_state(d, flaky["id"]) == "failed")
    assert requests.post(f"{d.url}/api/jobs/{flaky['id']}/retry").status_code == 200
    wait_for(lambda: job_state(d, flaky["id"]) == "failed")
    stream.close()
    wait_for(lambda: value(parse(scrape(d)), "jobrunner_live_clients", kind="sse") == 0)

    # Requests with ids and unknown paths count under the route pattern and `other`.
    assert requests.get(f"{d.url}/api/jobs/{done['id']}").status_code == 200
    assert requests.get(f"{d.url}/api/jobs/987654321").status_code == 404
    assert requests.get(f"{d.url}/no/such/page-1234").status_code == 404
    assert requests.put(f"{d.url}/api/stats").status_code == 405

    text = scrape(d)
    promtool_check(text)
    m = parse(text)
    behave = {"queue": "default", "type": "behave"}
    assert value(m, "jobrunner_jobs_created_total", queue="reports", type="echo") == 1
    assert value(m, "jobrunner_jobs_created_total", **behave) == 2
    assert value(m, "jobrunner_jobs_finished_total", queue="reports", type="echo", state="completed") == 1
    assert value(m, "jobrunner_jobs_finished_total", **behave, state="failed") == 2  # first run, then the retry by hand
    assert value(m, "jobrunner_jobs_finished_total", **behave, state="cancelled") == 1
    # flaky: 2 attempts, then 2 more after the manual retry; sleeper: 1.
    assert value(m, "jobrunner_job_attempts_total", **behave) == 5
    assert value(m, "jobrunner_job_retries_total", **behave, kind="automatic") == 2
    assert value(m, "jobrunner_job_retries_total", **behave, kind="manual") == 1
    assert value(m, "jobrunner_jobs", **behave, state="running") == 0
    assert value(m, "jobrunner_jobs", **behave, state="pending") == 0
    assert value(m, "jobrunner_jobs", queue="later", type="countdown", state="pending") == 1
    assert value(m, "jobrunner_jobs_held", state="completed") == 1
    assert value(m, "jobrunner_jobs_held", state="failed") == 1
    assert value(m, "jobrunner_jobs_held", state="cancelled") == 1

    # Histograms: every ended attempt has a run time, every start a pickup latency.
    assert value(m, "jobrunner_job_run_seconds_count", type="behave") == 5
    assert value(m, "jobrunner_job_run_seconds_count", type="echo") == 1
    assert 1.0 <= value(m, "jobrunner_job_run_seconds_sum", type="echo") < 10
    assert value(m, "jobrunner_job_run_seconds_bucket", type="echo", le="0.5") == 0
    assert value(m, "jobrunner_job_run_seconds_bucket", type="echo", le="+Inf") == 1
    assert value(m, "jobrunner_job_pickup_latency_seconds_count", type="behave") == 5
    assert value(m, "jobrunner_job_pickup_latency_seconds_count", type="countdown") == 0
    # Retries wait out their backoff before they are due: pickup counts from then on.
    assert value(m, "jobrunner_job_pickup_latency_seconds_sum", type="behave") < 5
    assert value(m, "jobrunner_store_commit_seconds_count") > 0
    assert value(m, "jobrunner_store_commit_batch_size_sum") >= value(m, "jobrunner_store_commit_batch_size_count") > 0
    assert value(m, "jobrunner_store_failing") == 0 and value(m, "jobrunner_draining") == 0

    http = "jobrunner_http_requests_total"
    assert value(m, http, method="POST", route="/api/jobs", code="201") == 4
    assert value(m, http, method="GET", route="/api/jobs/:id", code="404") == 1
    assert value(m, http, method="GET", route="/api/jobs/:id", code="200") >= 5
    assert value(m, http, method="GET", route="/api/jobs/:id/progress", code="200") == 1
    assert value(m, http, method="DELETE", route="/api/jobs/:id", code="200") == 1
    assert value(m, http, method="POST", route="/api/jobs/:id/retry", code="200") == 1
    assert value(m, http, method="GET", route="other", code="404") == 1
    assert value(m, http, method="PUT", route="other", code="405") == 1
    # The scrapes before this one (a scrape is counted once it is answered).
    assert value(m, http, method="GET", route="/metrics", code="200") >= 4
    assert "987654321" not in text and "page-1234" not in text

    assert value(m, "process_resident_memory_bytes") > 1 << 20
    assert value(m, "process_open_fds") > 3
    assert value(m, "process_max_fds") >= value(m, "process_open_fds")
    assert abs(value(m, "process_start_time_seconds") - time.time()) < 300
    assert value(m, "process_cpu_seconds_total") >= value(before, "process_cpu_seconds_total")
    assert later["status"] == "pending"


def test_queue_labels_are_capped(start_daemon):
    """Clients name queues: past 100 names they share one label, so a client cannot
    grow the metrics without end."""
    d = start_daemon("--db", ":memory:", "--concurrency", "1")
    for i in range(105):
        post(d, {"job_type": "echo", "params": {"message": "x"}, "queue": f"q{i:03d}", "delay": 3600})
    text = scrape(d)
    promtool_check(text)
    m = parse(text)
    queues = {dict(labels)["queue"] for (name, labels) in m if name == "jobrunner_jobs_created_total"}
    assert len(queues) == 101 and "~other" in queues
    assert value(m, "jobrunner_jobs", queue="~other", type="echo", state="pending") == 5
    assert value(m, "jobrunner_jobs", queue="q099", type="echo", state="pending") == 1
    assert sum(v for (name, _), v in m.items() if name == "jobrunner_jobs_created_total") == 105


def test_metrics_off_is_a_404_and_the_api_works(start_daemon):
    d = start_daemon("--metrics", "off")
    r = requests.get(f"{d.url}/metrics")
    assert r.status_code == 404
    assert r.json() == {"error": "Metrics are turned off (--metrics off)"}
    assert requests.get(f"{d.url}/api/stats").status_code == 200


def test_a_bad_metrics_flag_is_refused(start_daemon):
    from conftest import BINARY
    r = subprocess.run([BINARY, "--metrics", "maybe", "--port", "0", "--db", ":memory:"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "invalid --metrics 'maybe': must be one of on, off" in r.stderr


def test_metrics_need_the_read_scope(start_daemon):
    path = os.path.join(tempfile.mkdtemp(prefix="jobrunner-metrics-"), "jobrunner.json")
    write_config(path, ["reader", "blind"])
    d = start_daemon("--config", path)
    r = requests.get(f"{d.url}/metrics")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(f"{d.url}/metrics", headers=auth("blind")).status_code == 403
    promtool_check(scrape(d, auth("reader")))
    # Health checks stay open for load balancers.
    assert requests.get(f"{d.url}/healthz").status_code == 200
    assert requests.get(f"{d.url}/readyz").status_code == 200
    assert TOKENS["reader"][0] not in scrape(d, auth("reader"))


def test_health_during_drain(start_daemon):
    d = start_daemon("--shutdown-grace", "30")
    job = submit(d.url, "countdown", seconds=30)
    wait_for(lambda: job_state(d, job["id"]) == "running")
    assert requests.get(f"{d.url}/readyz").json() == {"status": "ready"}
    d.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: requests.get(f"{d.url}/readyz").status_code == 503)
    r = requests.get(f"{d.url}/readyz")
    assert r.json() == {"status": "not ready", "error": "shutting down", "reasons": ["shutting down"]}
    # Alive while it drains: the running job goes on, metrics say so.
    assert requests.get(f"{d.url}/healthz").json() == {"status": "ok"}
    m = parse(scrape(d))
    assert value(m, "jobrunner_draining") == 1
    assert value(m, "jobrunner_jobs", queue="default", type="countdown", state="running") == 1
    d.proc.send_signal(signal.SIGTERM)  # a second signal ends the grace period
    assert d.proc.wait(timeout=15) == 0


def test_health_during_storage_failure(start_daemon):
    d = start_daemon()
    assert requests.get(f"{d.url}/readyz").status_code == 200
    os.unlink(d.db)
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": "x"}})
    assert r.status_code == 503
    r = requests.get(f"{d.url}/readyz")
    assert r.status_code == 503 and "was deleted" in r.json()["error"]
    assert requests.get(f"{d.url}/healthz").status_code == 200
    text = scrape(d)
    promtool_check(text)
    m = parse(text)
    assert value(m, "jobrunner_store_failing") == 1
    assert value(m, "jobrunner_store_commit_failures_total") >= 1
    assert value(m, "jobrunner_http_requests_total", method="POST", route="/api/jobs", code="503") == 1
    assert value(m, "jobrunner_http_requests_total", method="GET", route="/readyz", code="503") == 1
