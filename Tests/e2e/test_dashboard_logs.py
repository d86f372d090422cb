"""The job detail's log panel and the schema-built "New job" form, in Debian's
chromium: live tail, streams told apart, follow and scroll-up, a 20,000-line
log without freezing, and client-side messages that are the daemon's own."""
import json
import os
import re
import subprocess
import time

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from conftest import ROOT
from test_dashboard import Page
from test_rest import submit
from waits import wait_for

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "jobs.d")



@pytest.fixture
def logd(start_daemon):
    """A daemon with the fixture command types (log-demo, seq-lines, form-demo)."""
    return start_daemon("--job-types-dir", FIXTURES)


@pytest.fixture
def tab(browser, logd):
    pages = []

    def open_page(**context):
        p = Page(browser, logd.url, **context)
        pages.append(p)
        return p

    yield open_page
    for p in pages:
        assert p.errors == [], p.errors
        p.close()


def status_of(url, job_id):
    return requests.get(f"{url}/api/jobs/{job_id}").json()["status"]


def open_detail(t, job_id):
    t.row(job_id).locator(".open").click()
    expect(t.page.locator("#detail")).to_be_visible()
    expect(t.page.locator("#detail-title")).to_have_text(re.compile(rf"^Job #{job_id} "))


def log_count(t):
    """How many lines the log panel holds, from its own count."""
    text = t.page.locator("#log-count").text_content()
    m = re.match(r"^([\d,]+) lines?$", text)
    return int(m.group(1).replace(",", "")) if m else 0


def wait_count(t, at_least, timeout=20):
    t.page.wait_for_function(
        "n => Number((document.getElementById('log-count').textContent.match(/^[\\d,]+/) || ['0'])[0].replace(/,/g, '')) >= n",
        arg=at_least, timeout=timeout * 1000)


def at_bottom(t):
    return t.page.locator("#log").evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight <= 12")


def line(t, text):
    return t.page.locator("#log-rows .ll", has=t.page.locator(".text", has_text=re.compile(rf"^{re.escape(text)}$")))


def test_live_tail_follows_until_scrolled_up(tab, logd):
    t = tab(viewport={"width": 1280, "height": 900})
    job = submit(logd.url, "log-demo", lines=3000, pause=0.02)
    expect(t.row(job["id"]).locator(".badge")).to_have_text("running")
    open_detail(t, job["id"])
    expect(t.page.locator("#detail-live")).to_contain_text("live")
    # Lines arrive while the dialog is open: the count grows past what it had.
    wait_count(t, 5)
    first = log_count(t)
    wait_count(t, first + 40)
    assert status_of(logd.url, job["id"]) == "running"
    # stdout and stderr are told apart by a visible tag, not only by colour.
    warning = t.page.locator("#log-rows .ll.stderr").last
    expect(warning.locator(".text")).to_have_text(re.compile(r"^warning \d+$"))
    expect(warning.locator(".tag")).to_have_text("err")
    plain = t.page.locator("#log-rows .ll.stdout").last
    expect(plain.locator(".text")).to_have_text(re.compile(r"^line \d+$"))
    expect(plain.locator(".tag")).to_have_text("out")
    colours = t.page.evaluate("""() => ['stdout', 'stderr'].map((s) =>
        getComputedStyle(document.querySelector(`#log-rows .ll.${s} .tag`)).color)""")
    assert colours[0] != colours[1]
    # It follows the bottom as lines come.
    wait_count(t, log_count(t) + 20)
    assert at_bottom(t)
    expect(t.page.locator("#log-latest")).to_be_hidden()
    t.shot("logs-live-following")
    # Scrolling up stops following: more lines arrive, the view stays put.
    t.page.locator("#log").hover()
    # Like a user, keep turning the wheel until the top is reached: on a loaded
    # machine a batch of lines can land (and be followed) between the wheel event
    # and the scroll it causes.
    for _ in range(20):
        t.page.mouse.wheel(0, -100000)
        if t.page.locator("#log").evaluate("el => el.scrollTop") == 0:
            break
        try:
            t.page.wait_for_function("() => document.getElementById('log').scrollTop === 0", timeout=1500)
            break
        except PlaywrightTimeoutError:
            continue
    t.page.wait_for_function("() => document.getElementById('log').scrollTop === 0")
    expect(t.page.locator("#log-latest")).to_be_visible()
    before = log_count(t)
    wait_count(t, before + 30)
    assert t.page.locator("#log").evaluate("el => el.scrollTop") == 0
    assert not at_bottom(t)
    expect(t.page.locator("#log-latest")).to_contain_text("new")
    expect(line(t, "line 1")).to_be_visible()
    t.shot("logs-scrolled-up")
    # "Jump to latest" follows again.
    t.page.click("#log-latest")
    expect(t.page.locator("#log-latest")).to_be_hidden()
    wait_count(t, log_count(t) + 10)
    assert at_bottom(t)
    requests.delete(f"{logd.url}/api/jobs/{job['id']}")
    expect(t.page.locator("#detail-status")).to_have_text("cancelled")


def test_finished_job_shows_its_stored_log(tab, logd):
    job = submit(logd.url, "log-demo", lines=30, pause=0)
    wait_for(lambda: status_of(logd.url, job["id"]) == "completed")
    stored = requests.get(f"{logd.url}/api/jobs/{job['id']}/log").text.splitlines()
    t = tab()
    open_detail(t, job["id"])
    expect(t.page.locator("#log-count")).to_have_text(f"{len(stored)} lines")
    expect(line(t, "finished")).to_be_visible()
    expect(t.page.locator("#log-dropped")).to_be_hidden()
    expect(t.page.locator("#detail-live")).to_have_text("")
    # The whole log as text is a link away.
    expect(t.page.locator("#log-raw")).to_have_attribute("href", f"/api/jobs/{job['id']}/log")
    rendered = t.page.locator("#log-rows .ll .text").all_text_contents()
    assert rendered == stored[-len(rendered):]


def test_server_text_in_the_log_is_text(tab, logd):
    evil = '<img src=x onerror="window.pwned=1">'
    job = submit(logd.url, "form-demo", path="/" + evil[:40], level=1)
    wait_for(lambda: status_of(logd.url, job["id"]) == "completed")
    t = tab()
    open_detail(t, job["id"])
    expect(t.page.locator("#log-rows .ll").first).to_contain_text("path=/<img")
    assert t.page.locator("#detail img").count() == 0
    assert t.page.evaluate("() => window.pwned") is None


def test_twenty_thousand_lines_stream_without_freezing(browser, start_daemon):
    d = start_daemon("--job-types-dir", FIXTURES, "--concurrency", "1")
    blocker = submit(d.url, "log-demo", lines=1000, pause=1)
    wait_for(lambda: status_of(d.url, blocker["id"]) == "running")
    job = submit(d.url, "seq-lines", count=20000)
    t = Page(browser, d.url, viewport={"width": 1280, "height": 900})
    open_detail(t, job["id"])
    expect(t.page.locator("#log-count")).to_have_text("No output yet.")
    # The dialog follows the pending job; it runs once the blocker goes.
    requests.delete(f"{d.url}/api/jobs/{blocker['id']}")
    slowest = 0.0
    deadline = time.monotonic() + 60
    while log_count(t) < 20001:
        assert time.monotonic() < deadline, f"only {log_count(t)} lines arrived"
        started = time.monotonic()
        assert t.page.evaluate("() => 1 + 1") == 2
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 2.0, f"the page took {slowest:.2f} s to answer"
    expect(t.page.locator("#log-count")).to_have_text("20,001 lines")
    expect(t.page.locator("#detail-status")).to_have_text("completed")
    # Only the rows in view (and a margin) are in the DOM.
    rows = t.page.locator("#log-rows .ll").count()
    assert 10 < rows < 200, f"{rows} log rows in the DOM"
    # Exactly the lines the daemon stored, followed to the end. (Where the stderr
    # line falls among the last stdout lines depends on which pipe the daemon
    # read first.)
    stored = [json.loads(x) for x in requests.get(f"{d.url}/api/jobs/{job['id']}/log?format=jsonl").text.splitlines()]
    assert t.page.evaluate("() => window.jobrunner.detail.log.lines.map((l) => l.seq)") == [x["seq"] for x in stored]
    expect(line(t, stored[-1]["line"])).to_be_visible()
    assert [x["line"] for x in stored if x["stream"] == "stderr"] == ["printed 20000 lines"]
    # Every line is there, in order: the top is 1, the middle where it belongs.
    t.page.locator("#log").evaluate("el => el.scrollTop = 0")
    expect(line(t, "1")).to_be_visible()
    t.page.locator("#log").evaluate("el => el.scrollTop = el.scrollHeight / 2")
    t.page.wait_for_function("() => [...document.querySelectorAll('#log-rows .ll .text')].some(e => e.textContent === '10000')")
    texts = [int(x) for x in t.page.locator("#log-rows .ll.stdout .text").all_text_contents()]
    assert texts == list(range(texts[0], texts[0] + len(texts)))
    started = time.monotonic()
    assert t.page.evaluate("() => document.querySelectorAll('#log-rows .ll').length") < 200
    assert time.monotonic() - started < 1.0
    t.shot("logs-twenty-thousand")
    assert t.errors == []
    t.close()


def test_finished_job_with_a_large_log_opens_quickly(tab, logd):
    job = submit(logd.url, "seq-lines", count=100000)
    wait_for(lambda: status_of(logd.url, job["id"]) == "completed", timeout=60)
    r = requests.get(f"{logd.url}/api/jobs/{job['id']}/log?format=jsonl")
    total = len(r.text.splitlines())
    t = tab()
    open_detail(t, job["id"])
    expect(t.page.locator("#log-count")).to_have_text(f"{min(total, 50000):,} lines", timeout=20000)
    assert t.page.locator("#log-rows .ll").count() < 200
    expect(line(t, json.loads(r.text.splitlines()[-1])["line"])).to_be_visible()
    # The page keeps the newest 50,000 lines and says so.
    expect(t.page.locator("#log-dropped")).to_contain_text(f"{total - 50000:,} earlier lines are not kept on this page")


def test_lines_the_daemon_dropped_are_counted(browser, start_daemon):
    d = start_daemon("--job-types-dir", FIXTURES, "--max-log-bytes", "4096")
    job = submit(d.url, "seq-lines", count=3000)
    wait_for(lambda: status_of(d.url, job["id"]) == "completed")
    r = requests.get(f"{d.url}/api/jobs/{job['id']}/log")
    dropped = int(r.headers["X-Log-Dropped"])
    assert dropped > 0
    t = Page(browser, d.url)
    open_detail(t, job["id"])
    expect(t.page.locator("#log-dropped")).to_be_visible()
    expect(t.page.locator("#log-dropped")).to_contain_text(f"{dropped:,} earlier lines dropped")
    expect(t.page.locator("#log-count")).to_have_text(f"{len(r.text.splitlines()) - 1:,} lines")
    t.shot("logs-dropped")
    assert t.errors == []
    t.close()


# --- The "New job" form from a command type's schema ----------------------------

def daemon_says(url, params):
    r = requests.post(f"{url}/api/jobs", json={"job_type": "form-demo", "params": params})
    assert r.status_code == 400, r.text
    return r.json()["error"]


def test_form_controls_come_from_the_schema(tab):
    t = tab()
    t.page.click('[data-type="form-demo"]')
    p = t.page
    expect(p.locator("#param-verbose")).to_have_attribute("type", "checkbox")
    expect(p.locator("#param-verbose")).not_to_be_checked()
    assert p.locator("#param-mode").evaluate("e => e.tagName") == "SELECT"
    assert p.locator("#param-mode option").all_text_contents() == ["fast", "slow", "careful"]
    expect(p.locator("#param-mode option:checked")).to_have_text("fast")
    assert p.locator("#param-level option").all_text_contents() == ["Choose…", "1", "2", "3"]
    expect(p.locator("#param-ratio")).to_have_attribute("type", "number")
    expect(p.locator("#param-ratio")).to_have_attribute("step", "any")
    expect(p.locator("#param-offset")).to_have_attribute("step", "1")
    expect(p.locator("#param-offset")).to_have_value("0")
    for name in ("path", "level"):
        expect(p.locator(f"#param-{name}")).to_have_attribute("aria-required", "true")
        expect(p.locator(f'label[for="param-{name}"] .required')).to_have_text("*")
    for name in ("mode", "verbose", "ratio", "offset", "label"):
        expect(p.locator(f'label[for="param-{name}"] .required')).to_have_count(0)
    expect(p.locator("#required-note")).to_be_visible()
    t.shot("form-command-type")


CASES = [
    # (field, what is entered, the params the daemon gets for the same)
    ("path", "", {"level": 1}),
    ("path", "relative/dir", {"path": "relative/dir", "level": 1}),
    ("ratio", "0.1", {"path": "/x", "level": 1, "ratio": 0.1}),
    ("ratio", "11", {"path": "/x", "level": 1, "ratio": 11}),
    ("ratio", "1e300", {"path": "/x", "level": 1, "ratio": 1e300}),
    ("ratio", "0.00001", {"path": "/x", "level": 1, "ratio": 0.00001}),
    ("offset", "-11", {"path": "/x", "level": 1, "offset": -11}),
    ("offset", "11", {"path": "/x", "level": 1, "offset": 11}),
    ("offset", "1.5", {"path": "/x", "level": 1, "offset": 1.5}),
    ("label", "ABC", {"path": "/x", "level": 1, "label": "ABC"}),
]


def test_form_messages_are_the_daemons(tab, logd):
    t = tab()
    p = t.page
    p.click('[data-type="form-demo"]')
    for name, entered, params in CASES:
        p.fill(f"#param-{name}", entered)
        if entered == "":
            p.click("#submit")
        expected = daemon_says(logd.url, params)
        expect(p.locator(f"#param-{name}-error")).to_have_text(expected)
        expect(p.locator(f"#param-{name}")).to_have_attribute("aria-invalid", "true")
        p.fill(f"#param-{name}", {"path": "/x", "ratio": "", "offset": "0", "label": ""}[name])
        expect(p.locator(f"#param-{name}-error")).to_have_text("")
    # A label longer than max_length (set past the input's maxlength).
    p.locator("#param-label").evaluate("e => { e.value = 'abcdefghij'; e.dispatchEvent(new Event('input')); }")
    expect(p.locator("#param-label-error")).to_have_text(daemon_says(logd.url, {"path": "/x", "level": 1, "label": "abcdefghij"}))
    p.fill("#param-label", "")
    # The required choice left unchosen.
    p.click("#submit")
    expect(p.locator("#param-level-error")).to_have_text(daemon_says(logd.url, {"path": "/x"}))
    expect(p.locator("#form-error")).to_be_visible()
    t.shot("form-command-type-errors")
    # Values no control can produce still get the daemon's words (the same checks run).
    for spec_name, value, params in [
        ("mode", "turbo", {"path": "/x", "level": 1, "mode": "turbo"}),
        ("level", 7, {"path": "/x", "level": 7}),
        ("verbose", "yes", {"path": "/x", "level": 1, "verbose": "yes"}),
    ]:
        got = p.evaluate("""async ([name, value]) => {
            const { validate } = await import('/js/forms.js');
            const type = window.jobrunner.store.jobTypes.find((t) => t.name === 'form-demo');
            return validate(type.params.find((s) => s.name === name), value)[1];
        }""", [spec_name, value])
        assert got == daemon_says(logd.url, params)
    assert requests.get(f"{logd.url}/api/stats").json()["queue"]["total"] == 0
    # A valid form: the checkbox, the choice and a fraction go as JSON values.
    p.select_option("#param-level", label="2")
    p.select_option("#param-mode", label="careful")
    p.check("#param-verbose")
    p.fill("#param-ratio", "2.5")
    p.fill("#param-offset", "-3")
    with p.expect_response(lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST") as info:
        p.click("#submit")
    assert info.value.status == 201
    job = info.value.json()
    assert job["params"] == {"path": "/x", "mode": "careful", "level": 2, "verbose": True, "ratio": 2.5, "offset": -3}
    expect(t.row(job["id"]).locator(".badge")).to_have_text("completed", timeout=15000)
    open_detail(t, job["id"])
    expect(line(t, "verbose=true")).to_be_visible()
    expect(line(t, "label=")).to_be_visible()


# --- jr-watch --log --------------------------------------------------------------

def test_jr_watch_log_prints_the_log_as_it_comes(logd):
    script = os.path.join(ROOT, "scripts", "jr-watch")
    job = submit(logd.url, "log-demo", lines=12, pause=0.05)
    env = {**os.environ, "JOBRUNNER_URL": logd.url}
    env.pop("JOBRUNNER_TOKEN", None)
    out = subprocess.run([script, "--log", str(job["id"])], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    stored = [json.loads(x) for x in requests.get(f"{logd.url}/api/jobs/{job['id']}/log?format=jsonl").text.splitlines()]
    expected = [x["line"] if x["stream"] == "stdout" else f"{x['stream']}: {x['line']}" for x in stored]
    assert len(stored) == 12 + 2 + 1
    assert out.stdout.splitlines()[:len(expected)] == expected
    assert "stderr: warning 10" in expected
    assert '"exit_code": 0' in out.stdout
    usage = subprocess.run([script, "--help"], capture_output=True, text=True).stdout
    assert "--log" in usage and "stderr: " in usage


def test_a_slow_reader_still_gets_every_line(browser, start_daemon):
    """On a slow link the daemon's SSE stream skips log lines (it holds one
    event for a reader whose buffer is full); the page notices the jump in event
    ids and reads the missing lines from REST."""
    d = start_daemon("--job-types-dir", FIXTURES, "--concurrency", "1")
    blocker = submit(d.url, "log-demo", lines=1000, pause=1)
    wait_for(lambda: status_of(d.url, blocker["id"]) == "running")
    job = submit(d.url, "log-demo", lines=6000, pause=0)
    t = Page(browser, d.url, viewport={"width": 1280, "height": 900})
    open_detail(t, job["id"])
    expect(t.page.locator("#detail-live")).to_contain_text("live")
    cdp = t.context.new_cdp_session(t.page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": 40_000, "uploadThroughput": 40_000})
    requests.delete(f"{d.url}/api/jobs/{blocker['id']}")
    wait_for(lambda: status_of(d.url, job["id"]) == "completed")
    stored = len(requests.get(f"{d.url}/api/jobs/{job['id']}/log").text.splitlines())
    expect(t.page.locator("#detail-status")).to_have_text("completed", timeout=60000)
    expect(t.page.locator("#log-count")).to_have_text(f"{stored:,} lines", timeout=60000)
    # The very lines the daemon stored, in its order (stdout and stderr are read
    # from two pipes, so where "finished" falls among the last warnings varies).
    rest = [json.loads(x)["seq"] for x in requests.get(f"{d.url}/api/jobs/{job['id']}/log?format=jsonl").text.splitlines()]
    assert t.page.evaluate("() => window.jobrunner.detail.log.lines.map((l) => l.seq)") == rest
    assert t.errors == []
    t.close()
