"""Hostile HTTP against the built daemon: cross-site requests from other web
pages, DNS rebinding, and ambiguous framing on raw sockets."""
import json
import socket

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

REFUSED = {"error": "Cross-site request refused"}


def total_jobs(url):
    return requests.get(url + "/api/stats").json()["queue"]["total"]


# --- Cross-site requests -------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Content-Type": "text/plain", "Origin": "http://evil.example"},
    {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"},
    {"Content-Type": "text/plain", "Origin": "null"},
    {"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
])
def test_another_site_cannot_create_jobs(daemon, headers):
    r = requests.post(daemon.url + "/api/jobs", data='{"job_type":"echo"}', headers=headers)
    assert (r.status_code, r.json()) == (403, REFUSED)
    assert total_jobs(daemon.url) == 0


def test_another_site_cannot_cancel_or_clear(daemon):
    created = requests.post(daemon.url + "/api/jobs", json={"job_type": "countdown", "params": {"seconds": 30}})
    assert created.status_code == 201
    job = created.json()["id"]
    evil = {"Origin": "http://evil.example"}
    r = requests.delete(f"{daemon.url}/api/jobs/{job}", headers=evil)
    assert (r.status_code, r.json()) == (403, REFUSED)
    r = requests.post(daemon.url + "/api/jobs/clear-completed", headers=evil)
    assert (r.status_code, r.json()) == (403, REFUSED)
    assert requests.get(f"{daemon.url}/api/jobs/{job}").json()["status"] in ("pending", "running")


def test_same_origin_and_scripts_are_unaffected(daemon):
    own = {"Origin": daemon.url, "Sec-Fetch-Site": "same-origin"}
    assert requests.post(daemon.url + "/api/jobs", json={"job_type": "echo"}, headers=own).status_code == 201
    assert requests.post(daemon.url + "/api/jobs", json={"job_type": "echo"}).status_code == 201
    # Reads stay open cross-site: without CORS headers the page cannot read them anyway.
    r = requests.get(daemon.url + "/api/stats", headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cross_site_websocket_is_refused(daemon):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{daemon.port}/ws/queue", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body) == REFUSED
    with connect(f"ws://127.0.0.1:{daemon.port}/ws/queue", origin=daemon.url) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "queue_state"
    with connect(f"ws://127.0.0.1:{daemon.port}/ws/queue") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "queue_state"


def test_rebound_host_name_is_refused(daemon):
    r = requests.get(daemon.url + "/api/stats", headers={"Host": f"rebound.example:{daemon.port}"})
    assert r.status_code == 421 and "error" in r.json()
    r = requests.post(daemon.url + "/api/jobs", json={"job_type": "echo"}, headers={"Host": "rebound.example"})
    assert r.status_code == 421
    assert requests.get(daemon.url + "/api/stats", headers={"Host": f"localhost:{daemon.port}"}).status_code == 200
    assert total_jobs(daemon.url) == 0


def test_dashboard_files_carry_security_headers(daemon):
    for path in ("/", "/js/app.js", "/css/style.css"):
        r = requests.get(daemon.url + path)
        assert r.status_code == 200
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
