"""The REST contract (docs/protocol.md), checked from outside against the real binary."""
import socket
import subprocess

import requests

from conftest import BINARY
from waits import read_to_close, wait_for


def submit(url, job_type, **params):
    r = requests.post(f"{url}/api/jobs", json={"job_type": job_type, "params": params})
    assert r.status_code == 201, r.text
    return r.json()


def finished(url, job_id):
    job = requests.get(f"{url}/api/jobs/{job_id}").json()
    return job if job["status"] in ("completed", "failed", "cancelled") else None


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        return read_to_close(s)


def test_each_job_type_runs_to_its_result(daemon):
    url = daemon.url
    jobs = {
        "countdown": submit(url, "countdown", seconds=1),
        "prime": submit(url, "prime", limit=100),
        "fibonacci": submit(url, "fibonacci", count=5),
        "echo": submit(url, "echo", message="hi there", delay=1),
    }
    for job in jobs.values():
        assert isinstance(job["id"], int)
        assert job["status"] == "pending"
        assert {"id", "type", "params", "status", "created_at"} <= set(job)  # the base shape, options beside it
    results = {t: wait_for(lambda j=j: finished(url, j["id"])) for t, j in jobs.items()}
    for job in results.values():
        assert job["status"] == "completed"
        assert job["progress"] == {"percent": 100, "message": "Complete"}
        assert job["error"] is None
        assert job["created_at"] <= job["started_at"] <= job["completed_at"]
    assert results["countdown"]["result"] == {"message": "Countdown complete!", "duration": 1}
    assert results["prime"]["result"] == {
        "message": "Found 25 prime numbers up to 100", "prime_count": 25, "largest": 97,
        "sample": [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]}
    assert results["fibonacci"]["result"] == {
        "message": "Calculated 5 Fibonacci numbers", "count": 5, "sequence": [0, 1, 1, 2, 3], "last": 3}
    assert results["echo"]["result"] == {"message": "hi there", "echoed": "hi there", "delay": 1}
    stats = requests.get(f"{url}/api/stats").json()
    assert stats["queue"]["completed"] == 4
    assert stats["worker"]["processed"] == 4
    assert stats["worker"]["is_running"] is True


def test_fifo_and_capacity(start_daemon):
    d = start_daemon("--concurrency", "2")
    ids = [submit(d.url, "countdown", seconds=30)["id"] for _ in range(4)]
    jobs = requests.get(f"{d.url}/api/jobs").json()
    assert [j["id"] for j in jobs] == ids
    assert [j["status"] for j in jobs] == ["running", "running", "pending", "pending"]
    stats = requests.get(f"{d.url}/api/stats").json()
    assert stats["worker"]["active"] == 2 and stats["worker"]["capacity"] == 2
    # Cancelling a running job frees its slot for the oldest pending one at once.
    assert requests.delete(f"{d.url}/api/jobs/{ids[0]}").json() == {"success": True, "job_id": ids[0]}
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{ids[2]}").json()["status"] == "running", timeout=2)
    assert requests.get(f"{d.url}/api/jobs/{ids[3]}").json()["status"] == "pending"


def test_cancel_errors(daemon):
    url = daemon.url
    job = submit(url, "prime", limit=10)
    wait_for(lambda: finished(url, job["id"]))
    r = requests.delete(f"{url}/api/jobs/{job['id']}")
    assert r.status_code == 409
    assert r.json() == {"error": "Cannot cancel job in status: completed", "job_id": job["id"]}
    assert requests.delete(f"{url}/api/jobs/12345").status_code == 404


def test_validation_messages(daemon):
    url = daemon.url
    cases = [
        ({"job_type": "countdown", "params": {"seconds": 0}}, "Parameter 'seconds' must be at least 1"),
        ({"job_type": "countdown", "params": {"seconds": "abc"}}, "Parameter 'seconds' must be an integer"),
        ({"job_type": "echo", "params": {"message": ""}}, "Parameter 'message' cannot be empty"),
        ({"job_type": "echo", "params": {"message": "x" * 201}}, "Parameter 'message' is too long (max 200)"),
        ({"job_type": "echo", "params": {"message": ["x"]}}, "Parameter 'message' must be a string"),
        ({"job_type": "echo", "params": {"extra": 1}}, "Unknown parameter: extra"),
        ({"job_type": "echo", "params": [1]}, "Invalid 'params' field: must be an object"),
        ({"job_type": "nope"}, "Unknown job type: nope"),
        ({"params": {}}, "Missing 'job_type' field"),
    ]
    for body, message in cases:
        r = requests.post(f"{url}/api/jobs", json=body)
        assert r.status_code == 400, body
        assert r.json() == {"error": message}
    r = requests.post(f"{url}/api/jobs", data="{nope", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid JSON body"})
    assert requests.get(f"{url}/api/stats").json()["queue"]["total"] == 0


def test_ids_are_integers_and_not_found_paths(daemon):
    url = daemon.url
    for path in ("0", "abc", "99"):
        r = requests.get(f"{url}/api/jobs/{path}")
        assert (r.status_code, r.json()) == (404, {"error": f"Job not found: {path}"})
    r = requests.get(f"{url}/api/unknown")
    assert (r.status_code, r.json()) == (404, {"error": "Not found: /api/unknown"})


def test_method_not_allowed_has_allow_header(daemon):
    r = requests.put(f"{daemon.url}/api/jobs")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST", "HEAD"}
    assert "error" in r.json()


def test_clear_completed(daemon):
    url = daemon.url
    a = submit(url, "prime", limit=10)
    b = submit(url, "countdown", seconds=60)
    wait_for(lambda: finished(url, a["id"]))
    assert requests.post(f"{url}/api/jobs/clear-completed").json() == {"cleared": 1}
    assert [j["id"] for j in requests.get(f"{url}/api/jobs").json()] == [b["id"]]
    assert submit(url, "prime", limit=10)["id"] == b["id"] + 1


def test_list_filters_take_lists_and_refuse_unknown_names(start_daemon):
    d = start_daemon("--concurrency", "1")
    running = submit(d.url, "countdown", seconds=60)["id"]
    echo1, prime, echo2, fib = (submit(d.url, t)["id"] for t in ("echo", "prime", "echo", "fibonacci"))
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{running}").json()["status"] == "running")

    def ids(query):
        r = requests.get(f"{d.url}/api/jobs?{query}")
        assert r.status_code == 200, r.text
        return [j["id"] for j in r.json()], int(r.headers["X-Total-Count"])

    assert ids("type=echo") == ([echo1, echo2], 2)
    assert ids("type=echo,prime") == ([echo1, prime, echo2], 3)
    assert ids("status=running,pending&type=countdown,fibonacci") == ([running, fib], 2)
    assert ids("status=pending&type=countdown") == ([], 0)
    r = requests.get(f"{d.url}/api/jobs?type=echo,prime&limit=2")
    assert r.headers["Link"] == f'</api/jobs?type=echo,prime&limit=2&before_id={prime}&order=asc>; rel="next"'
    types = "use countdown, prime, fibonacci or echo (comma-separated)"
    statuses = "use pending, running, completed, failed or cancelled (comma-separated)"
    for query, message in [("type=ECHO", f"Invalid 'type' value 'ECHO': {types}"),
                           ("type=bogus", f"Invalid 'type' value 'bogus': {types}"),
                           ("type=echo,bogus", f"Invalid 'type' value 'bogus': {types}"),
                           ("status=PENDING", f"Invalid 'status' value 'PENDING': {statuses}"),
                           ("status=pending,later", f"Invalid 'status' value 'later': {statuses}")]:
        r = requests.get(f"{d.url}/api/jobs?{query}")
        assert (r.status_code, r.json()) == (400, {"error": message}), query


def test_object_with_too_many_members_is_refused(daemon):
    params = ",".join(f'"{i:x}":1' for i in range(80_000))
    r = requests.post(f"{daemon.url}/api/jobs", data='{"job_type":"echo","params":{' + params + "}}",
                      headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"error": "Invalid JSON body"})
    assert requests.get(f"{daemon.url}/api/stats").json()["queue"]["total"] == 0


def test_body_limit(start_daemon):
    d = start_daemon("--max-body", "4096")
    r = requests.post(f"{d.url}/api/jobs", data="x" * 10000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "error" in r.json()
    assert requests.get(f"{d.url}/api/stats").status_code == 200


def test_static_files(daemon):
    url = daemon.url
    r = requests.get(url + "/")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<html" in r.text
    assert requests.get(url + "/css/style.css").headers["Content-Type"].startswith("text/css")
    assert requests.get(url + "/js/app.js").headers["Content-Type"].startswith("application/javascript")
    head = requests.head(url + "/js/app.js")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 0
    r = requests.get(url + "/missing.png")
    assert (r.status_code, r.json()) == (404, {"error": "Not found: /missing.png"})
    for path in (b"/../../etc/passwd", b"/%2e%2e/%2e%2e/etc/passwd", b"/css/..%2f..%2f..%2fetc/passwd"):
        response = raw_request(daemon.port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 403"), response[:200]
        assert b'{"error":"Forbidden"}' in response
        assert b"root:" not in response


def test_keep_alive_reuses_one_connection(daemon):
    with requests.Session() as s:
        for _ in range(20):
            assert s.get(daemon.url + "/api/stats").status_code == 200
    # One connection served all twenty: the daemon did not close after each.
    r = raw_request(daemon.port, b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert r.count(b"HTTP/1.1 200") == 2


def test_http_stays_responsive_while_prime_jobs_run(start_daemon):
    d = start_daemon("--concurrency", "3")
    for _ in range(9):
        submit(d.url, "prime", limit=100000)
    for _ in range(20):
        assert requests.get(d.url + "/api/stats", timeout=5).status_code == 200
    wait_for(lambda: requests.get(d.url + "/api/stats").json()["queue"]["completed"] == 9)


def test_help_version_and_bad_flags():
    r = subprocess.run([BINARY, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--concurrency" in r.stdout
    # It names the token command, and says what --allowed-origins really allows.
    text = " ".join(r.stdout.split())
    assert "jobrunnerd token new NAME --scopes" in text
    assert "(default: any)" not in text and "besides the daemon's own" in text
    r = subprocess.run([BINARY, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip()
    r = subprocess.run([BINARY, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "bogus" in r.stderr
    r = subprocess.run([BINARY, "--port", "70000"], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_port_in_use_is_one_line_and_exit_2(daemon):
    r = subprocess.run([BINARY, "--port", str(daemon.port), "--db", ":memory:"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Address already in use" in lines[0]


def test_sigint_stops_cleanly(start_daemon):
    import signal
    d = start_daemon()
    submit(d.url, "countdown", seconds=60)
    assert d.stop(signal.SIGINT) == 0
