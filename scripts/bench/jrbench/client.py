"""Load and polling clients: wrk, keep-alive submitters, and waits with a deadline."""
import json
import os
import re
import subprocess
import time
import urllib.request

from .config import HERE, SECONDS


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wrk(url, seconds=SECONDS, script=None, env=None, connections=32):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if script:
        cmd[1:1] = ["-s", os.path.join(HERE, script)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    return rps


def submit_keepalive(port, body, n, connections=4):
    """POSTs `body` n times over `connections` keep-alive connections; every answer must be 201."""
    import http.client
    import threading
    payload = json.dumps(body)
    errors = []

    def client(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(count):
                conn.request("POST", "/api/jobs", payload, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 201:
                    errors.append(r.status)
        finally:
            conn.close()

    share = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=client, args=(c,)) for c in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} submissions refused: {errors[:5]}")


def submit_collect(port, bodies, connections=4):
    """POSTs each body over keep-alive connections; the 201 answers (job JSON), in no particular order."""
    import http.client
    import threading
    out, errors = [], []

    def client(mine):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for body in mine:
                conn.request("POST", "/api/jobs", json.dumps(body), {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 201:
                    errors.append(r.status)
                else:
                    out.append(json.loads(data))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(bodies[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} submissions refused: {errors[:5]}")
    return out


def wait_finished_count(d, n, timeout=300):
    """Polls /api/stats until n jobs are finished; fails if any failed."""
    deadline = time.monotonic() + timeout
    while True:
        q = http("GET", d.url + "/api/stats")["queue"]
        if q["failed"] or q["cancelled"]:
            raise RuntimeError(f"command jobs failed: {q}")
        if q["completed"] >= n:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {q['completed']} of {n} jobs completed in {timeout} s")
        time.sleep(0.005)


def run_job(d, body, timeout=600):
    """Submits one job, waits for its end; the server's run time (completed_at - started_at)."""
    job = http("POST", d.url + "/api/jobs", body)
    deadline = time.monotonic() + timeout
    while True:
        j = http("GET", f"{d.url}/api/jobs/{job['id']}")
        if j["status"] in ("completed", "failed", "cancelled"):
            if j["status"] != "completed":
                raise RuntimeError(f"job ended {j['status']}: {j.get('error')}")
            return j["completed_at"] - j["started_at"]
        if time.monotonic() > deadline:
            raise RuntimeError("job did not finish")
        time.sleep(0.01)

