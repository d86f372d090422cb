"""Tokens, scopes, sessions, reload and revocation, rate limits, the audit log and
the loopback-only rule (docs/security.md), from outside against the real binary."""
import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import BINARY, Daemon
from waits import recv_json, recv_until, wait_for, ws_closed


def new_token(name, scopes):
    """`jobrunnerd token new`: the token (first line) and its config entry (second)."""
    out = subprocess.run([BINARY, "token", "new", name, "--scopes", scopes], capture_output=True, text=True, check=True)
    token, entry = out.stdout.splitlines()
    return token, json.loads(entry)


# Tokens made once for the module: each scope alone, a reader that may submit,
# and one that may submit without reading.
TOKENS = {name: new_token(name, scopes) for name, scopes in [
    ("reader", "read"), ("writer", "read,submit"), ("boss", "admin"), ("blind", "submit"), ("spare", "read"),
]}


def write_config(path, names, **settings):
    with open(path, "w") as f:
        json.dump({"tokens": [TOKENS[n][1] for n in names], **settings}, f)


def auth(name):
    return {"Authorization": f"Bearer {TOKENS[name][0]}"} if name else {}


@pytest.fixture
def secured(start_daemon):
    """A daemon that requires tokens (all five) with the given extra flags."""
    def start(*args, names=tuple(TOKENS)):
        path = os.path.join(tempfile.mkdtemp(prefix="jobrunner-auth-"), "jobrunner.json")
        write_config(path, names)
        d = start_daemon("--config", path, *args)
        d.config = path
        return d
    return start


def test_token_new_prints_a_fresh_token_and_its_entry():
    token, entry = new_token("ci", "submit, read")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes, URL-safe
    assert entry["name"] == "ci" and entry["scopes"] == ["read", "submit"]
    assert entry["sha256"] == __import__("hashlib").sha256(token.encode()).hexdigest()
    assert new_token("ci", "read")[0] != token
    bad = subprocess.run([BINARY, "token", "new", "ci", "--scopes", "root"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown scope 'root'" in bad.stderr


# (method, path, scope needed, body); {id} is a finished job.
ENDPOINTS = [
    ("GET", "/api/stats", "read", None),
    ("GET", "/api/job-types", "read", None),
    ("GET", "/api/jobs", "read", None),
    ("GET", "/api/jobs/{id}", "read", None),
    ("GET", "/api/jobs/{id}/log", "read", None),
    ("GET", "/api/jobs/{id}/progress", "read", None),
    ("POST", "/api/jobs", "submit", {"job_type": "echo", "params": {"message": "x", "delay": 1}}),
    ("DELETE", "/api/jobs/{id}", "submit", None),
    ("POST", "/api/jobs/{id}/retry", "submit", None),
    ("POST", "/api/jobs/clear-completed", "admin", None),
    ("GET", "/api/queues", "read", None),
    ("PUT", "/api/queues/default", "admin", {"concurrency": 3}),
    ("GET", "/api/schedules", "read", None),
    ("GET", "/api/schedules/nightly", "read", None),
    ("GET", "/api/cron?expr=*/5%20*%20*%20*%20*", "read", None),
    ("POST", "/api/schedules", "admin", {"name": "x"}),
    ("PUT", "/api/schedules/nightly", "admin", {}),
    ("DELETE", "/api/schedules/nightly", "admin", None),
    ("POST", "/api/schedules/nightly/pause", "admin", None),
    ("POST", "/api/schedules/nightly/resume", "admin", None),
    ("POST", "/api/schedules/nightly/run", "admin", None),
    ("GET", "/api/nothing-here", "read", None),
    ("PUT", "/api/anything-new", "admin", None),
]
HOLDERS = {None: set(), "bogus": set(), "reader": {"read"}, "writer": {"read", "submit"},
           "boss": {"read", "submit", "admin"}, "blind": {"submit"}}


def test_every_endpoint_needs_its_scope(secured):
    d = secured()
    job = requests.post(f"{d.url}/api/jobs", headers=auth("boss"), json={"job_type": "echo", "params": {"delay": 1}}).json()
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{job['id']}", headers=auth("boss")).json()["status"] == "completed")
    for method, path, scope, body in ENDPOINTS:
        url = d.url + path.format(id=job["id"])
        for holder, scopes in HOLDERS.items():
            headers = {"Authorization": "Bearer not-a-token"} if holder == "bogus" else auth(holder)
            r = requests.request(method, url, headers=headers, json=body, timeout=10)
            where = f"{method} {path} as {holder}"
            if holder in (None, "bogus"):
                assert r.status_code == 401, where
                assert r.json() == {"error": "Authentication required"}, where
                assert r.headers["WWW-Authenticate"] == "Bearer", where
            elif scope in scopes:
                assert r.status_code not in (401, 403), f"{where}: {r.status_code} {r.text}"
            else:
                assert r.status_code == 403, where
                assert r.json() == {"error": f"Token '{holder}' lacks the '{scope}' scope"}, where


def test_health_checks_and_the_dashboard_files_stay_open(secured):
    d = secured()
    for path in ["/healthz", "/readyz", "/", "/js/app.js", "/js/session.js", "/css/session.css"]:
        assert requests.get(d.url + path).status_code == 200, path
    assert requests.get(d.url + "/api/session").status_code == 401


def test_malformed_credentials_are_401(secured):
    d = secured()
    token = TOKENS["boss"][0]
    for value in [f"Basic {token}", f"Bearer", f"Bearer {token}x", f"Bearer {token[:-1]}", "Bearer " + "\u00e9",
                  f"Token {token}"]:
        r = requests.get(f"{d.url}/api/stats", headers={"Authorization": value.encode("utf-8")})
        assert r.status_code == 401, value
    assert requests.get(f"{d.url}/api/stats", headers={"Authorization": f"bearer  {token}"}).status_code == 200
    # A bad bearer header is not rescued by a good cookie, and tokens are never taken from the URL.
    cookie = requests.post(f"{d.url}/api/session", json={"token": token}).cookies
    assert requests.get(f"{d.url}/api/stats", cookies=cookie, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert requests.get(f"{d.url}/api/stats?token={token}").status_code == 401


def ws_url(d):
    return f"ws://127.0.0.1:{d.port}/ws/queue"


def reply_to(ws, command):
    """Sends a command and returns the first answer that is not a broadcast."""
    ws.send(json.dumps(command))
    answers = ("error", "job_created_ack", "job_cancelled_ack", "jobs_cleared_ack", "pong")
    return recv_until(ws, lambda m: m["type"] in answers, what=f"answer to {command['type']}")[0]


# WebSocket command → scope; each answered by the daemon's own ack when allowed.
COMMANDS = [
    ({"type": "create_job", "job_type": "echo", "params": {"delay": 1}}, "submit", "job_created_ack"),
    ({"type": "cancel_job", "job_id": 999999}, "submit", "error"),  # allowed: "Job not found"
    ({"type": "retry_job", "job_id": 999999}, "submit", "error"),
    ({"type": "clear_completed"}, "admin", "jobs_cleared_ack"),
    ({"type": "ping", "ts": 1}, "read", "pong"),
]


def test_websocket_handshake_needs_read_and_each_command_its_scope(secured):
    d = secured()
    for holder in [None, "bogus", "blind"]:
        headers = {"Authorization": "Bearer nope"} if holder == "bogus" else auth(holder)
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(d), additional_headers=headers)
        assert refused.value.response.status_code == (403 if holder == "blind" else 401), holder
    for holder in ["reader", "writer", "boss"]:
        with connect(ws_url(d), additional_headers=auth(holder)) as ws:
            assert recv_json(ws)["type"] == "queue_state"
            for command, scope, allowed in COMMANDS:
                answer = reply_to(ws, command)
                if scope in HOLDERS[holder]:
                    assert answer["type"] == allowed, (holder, command, answer)
                    if command["type"] in ("cancel_job", "retry_job"):
                        assert "lacks" not in answer["message"]
                else:
                    assert answer == {"type": "error", "message": f"Token '{holder}' lacks the '{scope}' scope"}


def test_session_cookie_flags_and_lifecycle(secured):
    d = secured("--session-lifetime", "2h")
    r = requests.post(f"{d.url}/api/session", json={"token": TOKENS["reader"][0]})
    assert r.status_code == 200
    assert r.json() == {"auth": "tokens", "name": "reader", "scopes": ["read"], "via": "session", "expires_in": 7200}
    cookie = r.headers["Set-Cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    name, _, value = parts[0].partition("=")
    assert name == "jobrunner_session" and re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    assert set(parts[1:]) == {"Path=/", "Max-Age=7200", "HttpOnly", "SameSite=Strict"}  # no Secure without TLS
    assert TOKENS["reader"][0] not in cookie
    jar = {"jobrunner_session": value}
    assert requests.get(f"{d.url}/api/session", cookies=jar).json()["name"] == "reader"
    assert requests.get(f"{d.url}/api/stats", cookies=jar).status_code == 200
    assert requests.post(f"{d.url}/api/jobs", cookies=jar, json={"job_type": "echo"}).json() == \
        {"error": "Token 'reader' lacks the 'submit' scope"}
    # The SSE stream and the WebSocket take the cookie too.
    boss = auth("boss")
    job = requests.post(f"{d.url}/api/jobs", headers=boss, json={"job_type": "echo", "params": {"delay": 1}}).json()
    with requests.get(f"{d.url}/api/jobs/{job['id']}/progress", cookies=jar, stream=True, timeout=20) as sse:
        assert sse.status_code == 200
        assert "event: complete" in sse.text
    with connect(ws_url(d), additional_headers={"Cookie": f"jobrunner_session={value}"}) as ws:
        assert recv_json(ws)["type"] == "queue_state"
    # Bearer callers are told who they are as well.
    assert requests.get(f"{d.url}/api/session", headers=boss).json()["via"] == "token"
    # Signing out ends the session; the answer clears the cookie.
    out = requests.delete(f"{d.url}/api/session", cookies=jar)
    assert out.status_code == 200 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert requests.get(f"{d.url}/api/session", cookies=jar).status_code == 401
    assert requests.get(f"{d.url}/api/stats", cookies=jar).status_code == 401
    # Wrong or missing tokens.
    assert requests.post(f"{d.url}/api/session", json={"token": "wrong"}).status_code == 401
    assert requests.post(f"{d.url}/api/session", json={}).status_code == 400
    assert requests.post(f"{d.url}/api/session", data="{").status_code == 400


def test_sign_in_is_refused_cross_site(secured):
    d = secured()
    r = requests.post(f"{d.url}/api/session", json={"token": TOKENS["boss"][0]}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Set-Cookie" not in r.headers


def test_open_daemon_answers_session_with_every_scope(daemon):
    info = requests.get(f"{daemon.url}/api/session").json()
    assert info == {"auth": "none", "name": None, "scopes": ["read", "submit", "admin"], "via": None}
    assert requests.post(f"{daemon.url}/api/session", json={"token": "x"}).status_code == 400


def closed_code(ws, timeout=15):
    """Reads until the server closes; the close code it sent."""
    e = ws_closed(ws, timeout)
    return e.rcvd.code if e.rcvd else None


def first_sse_event(stream):
    """Lines up to the end of the first event (the status): the stream is registered."""
    lines = stream.iter_lines(decode_unicode=True)
    for line in lines:
        if line == "":
            return lines
    raise AssertionError("the stream ended before its first event")


def test_reload_revokes_tokens_sessions_and_sockets(secured):
    d = secured()
    spare_session = requests.post(f"{d.url}/api/session", json={"token": TOKENS["spare"][0]}).cookies["jobrunner_session"]
    job = requests.post(f"{d.url}/api/jobs", headers=auth("boss"), json={"job_type": "echo", "params": {"delay": 30}}).json()
    progress = f"{d.url}/api/jobs/{job['id']}/progress"
    with connect(ws_url(d), additional_headers=auth("spare")) as by_header, \
            connect(ws_url(d), additional_headers={"Cookie": f"jobrunner_session={spare_session}"}) as by_cookie, \
            connect(ws_url(d), additional_headers=auth("reader")) as kept, \
            requests.get(progress, headers=auth("spare"), stream=True, timeout=15) as sse_revoked, \
            requests.get(progress, headers=auth("reader"), stream=True, timeout=15) as sse_kept:
        for ws in (by_header, by_cookie, kept):
            assert recv_json(ws)["type"] == "queue_state"
        revoked_lines = first_sse_event(sse_revoked)
        kept_lines = first_sse_event(sse_kept)
        write_config(d.config, [n for n in TOKENS if n != "spare"])
        d.proc.send_signal(signal.SIGHUP)
        assert closed_code(by_header) == 1008
        assert closed_code(by_cookie) == 1008
        # The revoked token's SSE stream ends at once, while the job still runs
        # (not at the job's end); reconnecting is refused.
        rest = list(revoked_lines)
        assert not any(line.startswith("event: complete") for line in rest)
        assert requests.get(f"{d.url}/api/jobs/{job['id']}", headers=auth("boss")).json()["status"] == "running"
        assert requests.get(progress, headers=auth("spare"), timeout=15).status_code == 401
        # The other reader's stream goes on to the job's end.
        assert requests.delete(f"{d.url}/api/jobs/{job['id']}", headers=auth("boss")).status_code == 200
        assert any(line.startswith("event: cancel") for line in kept_lines)
        assert requests.get(f"{d.url}/api/stats", headers=auth("spare")).status_code == 401
        assert requests.get(f"{d.url}/api/stats", cookies={"jobrunner_session": spare_session}).status_code == 401
        assert requests.get(f"{d.url}/api/stats", headers=auth("reader")).status_code == 200
        assert reply_to(kept, {"type": "ping", "ts": 2})["type"] == "pong"
    assert any("revoked: spare" in line for line in d.log)


def test_a_bad_token_section_is_refused_at_start_and_kept_on_reload(secured, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tokens": [{"name": "x", "sha256": "abc", "scopes": ["read"]}]}))
    out = subprocess.run([BINARY, "--config", str(path), "--check-config"], capture_output=True, text=True)
    assert out.returncode == 2 and "'sha256' must be 64 hex digits" in out.stderr
    d = secured()
    with open(d.config, "w") as f:
        f.write('{"tokens": [{"name": "boss", "scopes": ["root"]}]}')
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any("configuration not reloaded" in line for line in d.log))
    assert requests.get(f"{d.url}/api/stats", headers=auth("boss")).status_code == 200


def test_rate_limit_per_token_on_rest_and_websocket(secured):
    d = secured("--rate-limit", "1/s")
    body = {"job_type": "echo", "params": {"delay": 1}}
    assert requests.post(f"{d.url}/api/jobs", headers=auth("writer"), json=body).status_code == 201
    r = requests.post(f"{d.url}/api/jobs", headers=auth("writer"), json=body)
    assert r.status_code == 429 and r.json() == {"error": "Rate limit exceeded"}
    assert int(r.headers["Retry-After"]) >= 1
    # Another token has its own bucket; reads are not limited.
    assert requests.post(f"{d.url}/api/jobs", headers=auth("boss"), json=body).status_code == 201
    assert requests.get(f"{d.url}/api/stats", headers=auth("writer")).status_code == 200
    with connect(ws_url(d), additional_headers=auth("writer")) as ws:
        assert recv_json(ws)["type"] == "queue_state"
        answer = reply_to(ws, {"type": "create_job", **body})
        assert answer == {"type": "error", "message": "Rate limit exceeded"}


def test_rate_limit_per_address_when_open(start_daemon):
    d = start_daemon("--rate-limit", "1/s")
    body = {"job_type": "echo", "params": {"delay": 1}}
    assert requests.post(f"{d.url}/api/jobs", json=body).status_code == 201
    r = requests.post(f"{d.url}/api/jobs", json=body)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def post_from(d, source, path, body, answer=False):
    """A POST from a chosen loopback source address: its status (with
    `answer`, also its Retry-After header and JSON body)."""
    host, port = d.url.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        if not answer:
            return r.status
        return r.status, r.getheader("Retry-After"), json.loads(r.read() or b"null")
    finally:
        conn.close()


def test_every_loopback_source_shares_one_bucket_when_open(start_daemon):
    # Any local process can pick its source among 127/8: 30 sources are one caller.
    d = start_daemon("--rate-limit", "2/s")
    body = {"job_type": "echo", "params": {"delay": 1}}
    started = time.monotonic()
    statuses = [post_from(d, f"127.0.0.{i}", "/api/jobs", body) for i in range(2, 32)]
    elapsed = time.monotonic() - started
    # One bucket: its burst of 2 plus what it refilled meanwhile (2 a second),
    # however slowly this machine sent them; 30 buckets would let all 30 in.
    assert set(statuses) <= {201, 429}, statuses
    assert statuses.count(201) <= 2 + 2 * elapsed + 1, (statuses, elapsed)
    assert statuses.count(429) > 0


def test_sign_in_is_rate_limited_and_cannot_sign_others_out(secured):
    d = secured()
    boss = requests.post(f"{d.url}/api/session", json={"token": TOKENS["boss"][0]})
    assert boss.status_code == 200
    jar = {"jobrunner_session": boss.cookies["jobrunner_session"]}
    # A read token signing in from many loopback sources: one bucket, then 429.
    started = time.monotonic()
    answers = [post_from(d, f"127.0.0.{2 + i % 200}", "/api/session", {"token": TOKENS["reader"][0]}, answer=True)
               for i in range(300)]
    elapsed = time.monotonic() - started
    statuses = [a[0] for a in answers]
    assert set(statuses) == {200, 429}, statuses
    # The burst of 30 and 5 a second refilled meanwhile, however slow the sender.
    assert statuses.count(200) <= 30 + 5 * elapsed + 1, (statuses.count(200), elapsed)
    refused = next(a for a in answers if a[0] == 429)
    assert int(refused[1]) >= 1
    assert refused[2]["error"].startswith("Too many sign-ins from this address")
    # The admin's session is still there.
    assert requests.get(f"{d.url}/api/session", cookies=jar).json()["name"] == "boss"


def test_audit_log_names_the_token_never_the_secret(secured):
    d = secured()
    requests.post(f"{d.url}/api/jobs", headers=auth("writer"), json={"job_type": "echo", "params": {"delay": 1}})
    requests.post(f"{d.url}/api/jobs/clear-completed", headers=auth("writer"))
    requests.post(f"{d.url}/api/jobs/clear-completed")
    requests.post(f"{d.url}/api/session", json={"token": TOKENS["reader"][0]})
    requests.delete(f"{d.url}/api/jobs/1%0Aaudit:%20forged", headers=auth("boss"))
    with connect(ws_url(d), additional_headers=auth("reader")) as ws:
        recv_json(ws)
        reply_to(ws, {"type": "clear_completed"})
    requests.get(f"{d.url}/api/stats", headers=auth("reader"))  # reads are not audited
    wait_for(lambda: sum("audit:" in line for line in d.log) >= 6)
    audit = [line.split("audit: ", 1)[1].strip() for line in d.log if "audit: " in line]
    assert "writer 127.0.0.1 POST /api/jobs 201" in audit
    assert "writer 127.0.0.1 POST /api/jobs/clear-completed 403" in audit
    assert "- 127.0.0.1 POST /api/jobs/clear-completed 401" in audit
    assert "- 127.0.0.1 POST /api/session 200" in audit
    assert "boss 127.0.0.1 DELETE /api/jobs/1%0Aaudit:%20forged 404" in audit
    assert "reader 127.0.0.1 WS clear_completed 403" in audit
    assert not any("/api/stats" in line for line in audit)
    assert all(len(line.split()) == 5 and line.split()[2] not in ("GET", "HEAD") for line in audit), audit
    assert not any("forged" in line and not line.startswith("jobrunnerd") and "%0A" not in line for line in d.log)
    log = "".join(d.log)
    for token, _ in TOKENS.values():
        assert token not in log


def test_open_daemon_refuses_a_public_address(tmp_path):
    out = subprocess.run([BINARY, "--host", "0.0.0.0", "--port", "0", "--db", ":memory:"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "refusing to serve 0.0.0.0 without authentication" in out.stderr
    assert "--auth none" in out.stderr
    # --auth none says so on purpose; tokens make it safe.
    for args in (["--auth", "none"], ["--config", str(tmp_path / "c.json")]):
        write_config(tmp_path / "c.json", ["boss"])
        d = Daemon("--host", "0.0.0.0", "--db", ":memory:", *args)
        try:
            r = requests.get(f"http://127.0.0.1:{d.port}/api/stats")
            assert r.status_code == (200 if "none" in args else 401)
        finally:
            assert d.stop() == 0


# --- Cross-site requests in a real browser ------------------------------------

EVIL_PAGE = """<!doctype html><title>evil</title>
<form id="f" method="POST" action="{daemon}/api/jobs" enctype="text/plain">
<input name='{{"job_type":"echo","params":{{"message":"pwned"}},"x":"' value='"}}'></form>
<script>
const ws = new WebSocket("{ws}/ws/queue");
ws.onopen = () => {{ ws.send(JSON.stringify({{type: "create_job", job_type: "echo", params: {{message: "pwned"}}}})); document.body.dataset.ws = "open"; }};
ws.onclose = (e) => {{ document.body.dataset.ws = "closed " + e.code; }};
</script>"""


class EvilSite:
    """Another origin (another port of 127.0.0.1: the same site, so even a
    SameSite=Strict cookie goes along) serving a page that attacks the daemon."""

    def __init__(self, daemon_port):
        page = EVIL_PAGE.format(daemon=f"http://127.0.0.1:{daemon_port}", ws=f"ws://127.0.0.1:{daemon_port}").encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_dashboard_signs_in_and_another_origin_cannot_use_the_session(secured):
    from playwright.sync_api import expect, sync_playwright
    from conftest import CHROMIUM, FLAGS

    d = secured()
    evil = EvilSite(d.port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            context = browser.new_context()
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(d.url)
            dialog = page.locator("#signin")
            expect(dialog).to_be_visible()
            page.fill("#signin-token", "wrong")
            page.click("#signin-submit")
            expect(page.locator("#signin-error")).to_have_text("Invalid token")
            page.fill("#signin-token", TOKENS["writer"][0])
            page.click("#signin-submit")
            expect(page.locator("#connection")).to_have_class(re.compile("live"))
            expect(page.locator("#session-who")).to_contain_text("writer")
            cookie = next(c for c in context.cookies() if c["name"] == "jobrunner_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            # writer may submit but not clear: the form is there, "Clear finished" is not.
            expect(page.locator("#clear-finished")).to_be_hidden()
            page.click('[data-type="echo"]')
            page.fill("#param-delay", "1")
            with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST") as own:
                page.click("#submit")
            assert own.value.status == 201
            # The other origin: its form POST and its WebSocket both fail.
            attacker = context.new_page()
            attacker.goto(evil.url)
            expect(attacker.locator("body")).to_have_attribute("data-ws", re.compile("^closed"))
            with attacker.expect_response(lambda r: r.url.endswith("/api/jobs")) as posted:
                attacker.evaluate("document.getElementById('f').submit()")
            assert posted.value.status == 403
            assert posted.value.json() == {"error": "Cross-site request refused"}
            jobs = requests.get(f"{d.url}/api/jobs", headers=auth("boss")).json()
            assert [j for j in jobs if j["params"].get("message") == "pwned"] == []
            assert len(jobs) == 1
            assert errors == []
            browser.close()
    finally:
        evil.close()


def test_read_only_session_hides_the_controls(secured):
    from playwright.sync_api import expect, sync_playwright
    from conftest import CHROMIUM, FLAGS

    d = secured()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context().new_page()
        page.goto(d.url)
        page.fill("#signin-token", TOKENS["reader"][0])
        page.click("#signin-submit")
        expect(page.locator("#connection")).to_have_class(re.compile("live"))
        expect(page.locator("section.create")).to_be_hidden()
        expect(page.locator("#clear-finished")).to_be_hidden()
        page.click("#sign-out")
        expect(page.locator("#signin")).to_be_visible()
        browser.close()
