"""The dashboard in a real browser: Debian's chromium driven by Playwright."""
import os
import re

import pytest
import requests
from playwright.sync_api import expect

from conftest import HOLD_TYPES, OUTPUT, Daemon
from test_rest import submit
from waits import wait_for




class Page:
    """A tab on the dashboard that records console errors."""

    def __init__(self, browser, url, **context):
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        expect(self.page.locator("#connection")).to_have_class(re.compile("live"))

    def shot(self, name):
        os.makedirs(OUTPUT, exist_ok=True)
        self.page.screenshot(path=os.path.join(OUTPUT, f"{name}.png"))

    def row(self, job_id):
        return self.page.locator(f'.row[data-id="{job_id}"]')

    def create(self, job_type, **params):
        self.page.click(f'[data-type="{job_type}"]')
        for name, value in params.items():
            self.page.fill(f"#param-{name}", str(value))
        with self.page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST") as info:
            self.page.click("#submit")
        return info.value.json()

    def close(self):
        self.context.close()


@pytest.fixture
def dash(browser, daemon):
    pages = []

    def open_page(**context):
        p = Page(browser, daemon.url, **context)
        pages.append(p)
        return p

    yield open_page
    for p in pages:
        assert p.errors == [], p.errors
        p.close()


def test_create_each_type_through_the_form(dash):
    tab = dash(viewport={"width": 1280, "height": 900})
    params = {"countdown": {"seconds": 2}, "prime": {"limit": 5000}, "fibonacci": {"count": 8}, "echo": {"message": "hello there", "delay": 1}}
    jobs = {t: tab.create(t, **p) for t, p in params.items()}
    tab.shot("running")
    for job_type, job in jobs.items():
        row = tab.row(job["id"])
        expect(row.locator(".badge")).to_have_text("completed", timeout=15000)
        expect(row.locator(".bar")).to_have_attribute("style", re.compile(r"width: 100%"))
        expect(row.locator(".title")).to_have_text(f"#{job['id']} {job_type}")
    expect(tab.page.locator("#count-completed")).to_have_text("4")
    tab.shot("completed")


def test_client_side_validation_uses_the_server_messages(dash):
    tab = dash()
    tab.page.click('[data-type="countdown"]')
    tab.page.fill("#param-seconds", "61")
    expect(tab.page.locator("#param-seconds-error")).to_have_text("Parameter 'seconds' must be at most 60")
    expect(tab.page.locator("#param-seconds")).to_have_attribute("aria-invalid", "true")
    tab.page.click("#submit")
    expect(tab.page.locator("#form-error")).to_be_visible()
    tab.page.click('[data-type="echo"]')
    tab.page.fill("#param-message", "x" * 150)
    tab.page.fill("#param-delay", "0")
    expect(tab.page.locator("#param-delay-error")).to_have_text("Parameter 'delay' must be at least 1")
    tab.shot("validation")
    assert requests.get(tab.page.url + "api/stats").json()["queue"]["total"] == 0


def test_server_errors_are_shown_by_the_form(dash, daemon):
    tab = dash()
    tab.page.click('[data-type="echo"]')
    # Counting characters as the daemon does: 200 accented letters are fine.
    tab.page.fill("#param-message", "é" * 200)
    expect(tab.page.locator("#param-message-error")).to_have_text("")
    # Whatever the daemon refuses is shown by the form, in its words.
    tab.page.route("**/api/jobs", lambda route: route.fulfill(
        status=400, content_type="application/json", body='{"error":"Parameter \'delay\' must be at most 30"}'))
    tab.page.click("#submit")
    expect(tab.page.locator("#form-error")).to_have_text("Parameter 'delay' must be at most 30")
    tab.page.unroute("**/api/jobs")
    tab.errors.clear()  # the browser logs the intercepted 400 as a failed resource


def test_cancel_a_running_job(dash):
    tab = dash()
    job = tab.create("countdown", seconds=30)
    row = tab.row(job["id"])
    expect(row.locator(".badge")).to_have_text("running")
    row.locator(".cancel").click()
    expect(row.locator(".badge")).to_have_text("cancelled")
    expect(row.locator(".cancel")).to_be_hidden()
    expect(tab.page.locator("#count-cancelled")).to_have_text("1")


def test_two_tabs_stay_in_sync(dash, daemon):
    a, b = dash(), dash()
    job = a.create("fibonacci", count=10)
    expect(b.row(job["id"]).locator(".badge")).to_have_text("completed", timeout=10000)
    other = submit(daemon.url, "countdown", seconds=30)
    expect(a.row(other["id"]).locator(".badge")).to_have_text("running")
    b.row(other["id"]).locator(".cancel").click()
    expect(a.row(other["id"]).locator(".badge")).to_have_text("cancelled")
    a.page.click("#clear-finished")
    expect(b.page.locator(".row")).to_have_count(0)
    expect(b.page.locator("#empty")).to_be_visible()


def test_job_detail_streams_progress_and_shows_script_as_text(dash, daemon):
    tab = dash()
    evil = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    job = tab.create("echo", message=evil, delay=2)
    tab.row(job["id"]).locator(".open").click()
    dialog = tab.page.locator("#detail")
    expect(dialog).to_be_visible()
    expect(tab.page.locator("#detail-live")).to_contain_text("live")
    expect(tab.page.locator("#detail-message")).to_contain_text("Echoing in")
    tab.shot("detail-running")
    expect(tab.page.locator("#detail-status")).to_have_text("completed", timeout=10000)
    expect(tab.page.locator("#detail-result")).to_contain_text("<script>window.pwned=1</script>")
    assert tab.page.evaluate("() => window.pwned") is None
    assert tab.page.locator("#detail img, .row img").count() == 0
    tab.shot("detail-completed")
    tab.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_long_results_stay_readable(dash, daemon):
    tab = dash()
    job = submit(daemon.url, "fibonacci", count=50)
    wait_for(lambda: requests.get(f"{daemon.url}/api/jobs/{job['id']}").json()["status"] == "completed")
    # The REST answer can come before the dashboard's own event: wait for the row.
    expect(tab.row(job["id"]).locator(".badge")).to_have_text("completed")
    tab.row(job["id"]).locator(".open").click()
    result = tab.page.locator("#detail-result")
    expect(result).to_contain_text('"sequence": [0, 1, 1, 2, 3, 5')  # one line, not fifty
    expect(result).to_contain_text("7778742049")


def test_keyboard_only(dash):
    tab = dash()
    job = tab.create("countdown", seconds=30)
    expect(tab.row(job["id"]).locator(".badge")).to_have_text("running")
    tab.row(job["id"]).locator(".open").focus()
    tab.page.keyboard.press("Enter")
    expect(tab.page.locator("#detail")).to_be_visible()
    tab.page.keyboard.press("Escape")
    tab.row(job["id"]).locator(".cancel").focus()
    tab.page.keyboard.press("Enter")
    expect(tab.row(job["id"]).locator(".badge")).to_have_text("cancelled")
    assert tab.page.locator("#announcer").get_attribute("aria-live") == "polite"


def test_phone_width_and_dark_scheme(dash):
    tab = dash(viewport={"width": 390, "height": 844}, color_scheme="dark")
    tab.create("prime", limit=100)
    width = tab.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, "no horizontal scrolling at phone width"
    background = tab.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 25)"
    tab.shot("phone-dark")


def test_ten_thousand_jobs_stay_responsive(browser, start_daemon):
    # The running job must outlast the filling, which takes over a minute on a busy machine.
    d = start_daemon("--concurrency", "1", "--job-types-dir", HOLD_TYPES)
    submit(d.url, "hold", seconds=3600)
    with requests.Session() as s:
        for _ in range(9999):
            s.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"delay": 1}})
    tab = Page(browser, d.url)
    expect(tab.page.locator("#list-summary")).to_have_text("10,000 of 10,000 jobs shown", timeout=20000)
    rows = tab.page.locator(".row").count()
    assert rows < 100, f"{rows} rows in the DOM"
    tab.page.locator("#list").evaluate("el => el.scrollTop = el.scrollHeight")
    expect(tab.row(10000)).to_be_visible()
    # The tab still answers at once.
    assert tab.page.evaluate("() => 1 + 1") == 2
    tab.page.select_option("#filter-status", "running")
    expect(tab.page.locator("#list-summary")).to_have_text("1 of 10,000 jobs shown")
    tab.shot("ten-thousand")
    assert tab.errors == []
    tab.close()


def test_page_recovers_after_the_daemon_restarts(browser, start_daemon):
    first = start_daemon()
    port = first.port
    tab = Page(browser, first.url)
    submit(first.url, "countdown", seconds=30)
    expect(tab.page.locator(".row")).to_have_count(1)
    first.stop()
    expect(tab.page.locator("#connection")).to_have_class(re.compile("reconnecting"))
    tab.shot("reconnecting")
    second = start_daemon("--port", str(port))
    assert second.port == port
    job = submit(second.url, "prime", limit=100)
    expect(tab.page.locator("#connection")).to_have_class(re.compile("live"), timeout=20000)
    expect(tab.row(job["id"]).locator(".badge")).to_have_text("completed")
    expect(tab.page.locator(".row")).to_have_count(1)
    unexpected = [e for e in tab.errors if "WebSocket" not in e and "ERR_CONNECTION_REFUSED" not in e]
    assert unexpected == []
    tab.close()
