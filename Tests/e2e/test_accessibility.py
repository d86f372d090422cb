"""axe-core (through axe-playwright-python) on every view of the dashboard, in
the light and the dark colour scheme: zero violations. Each view is saved as a
screenshot under Tests/e2e/output/ (a11y-VIEW-SCHEME.png) to be looked at."""
import os
import re

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

from conftest import OUTPUT, Daemon
from test_dashboard import CHROMIUM, FLAGS, Page
from test_rest import submit, wait_for
from test_ws_limits import post_jobs

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "jobs.d")
SCHEMES = ["light", "dark"]
axe = Axe()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def status_of(url, job_id):
    return requests.get(f"{url}/api/jobs/{job_id}").json()["status"]


@pytest.fixture(scope="module")
def busy():
    """One job of each status: completed, failed, cancelled, running (a long log), pending."""
    d = Daemon("--job-types-dir", FIXTURES, "--concurrency", "1")
    done = submit(d.url, "form-demo", path="/srv/data", level=2, verbose=True)
    failed = submit(d.url, "fail-demo", what="the backup")
    wait_for(lambda: status_of(d.url, failed["id"]) == "failed")
    assert status_of(d.url, done["id"]) == "completed"
    running = submit(d.url, "log-demo", lines=100000, pause=0.05)
    wait_for(lambda: status_of(d.url, running["id"]) == "running")
    cancelled = submit(d.url, "seq-lines", count=10)
    requests.delete(f"{d.url}/api/jobs/{cancelled['id']}")
    submit(d.url, "countdown", seconds=5)
    submit(d.url, "echo", message="waiting its turn")
    d.jobs = {"completed": done, "failed": failed, "running": running, "cancelled": cancelled}
    yield d
    d.stop()


def check(tab, name, scheme):
    """Saves the screenshot, then asserts axe finds nothing."""
    os.makedirs(OUTPUT, exist_ok=True)
    tab.page.screenshot(path=os.path.join(OUTPUT, f"a11y-{name}-{scheme}.png"))
    results = axe.run(tab.page)
    assert results.violations_count == 0, results.generate_report()
    assert tab.errors == [], tab.errors


@pytest.mark.parametrize("scheme", SCHEMES)
def test_queue_list(browser, busy, scheme):
    tab = Page(browser, busy.url, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    for status, job in busy.jobs.items():
        expect(tab.row(job["id"]).locator(".badge")).to_have_text(status)
    expect(tab.page.locator(".row .badge", has_text="pending")).to_have_count(2)
    check(tab, "queue", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_new_job_form_for_a_command_type(browser, busy, scheme):
    tab = Page(browser, busy.url, viewport={"width": 1280, "height": 1300}, color_scheme=scheme)
    tab.page.click('[data-type="form-demo"]')
    tab.page.fill("#param-path", "relative")
    tab.page.fill("#param-ratio", "20")
    expect(tab.page.locator("#param-path-error")).to_have_text("Parameter 'path' must match ^/")
    tab.page.click("#submit")
    expect(tab.page.locator("#form-error")).to_be_visible()
    check(tab, "form", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_job_detail_with_a_live_log(browser, busy, scheme):
    tab = Page(browser, busy.url, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    job = busy.jobs["running"]
    tab.row(job["id"]).locator(".open").click()
    expect(tab.page.locator("#detail-live")).to_contain_text("live")
    expect(tab.page.locator("#log-rows .ll.stderr").first).to_be_visible()
    # Scrolled up, so the "Jump to latest" button shows too.
    tab.page.locator("#log").evaluate("el => { el.scrollTop = 0; }")
    expect(tab.page.locator("#log-latest")).to_be_visible()
    tab.page.locator("#log").scroll_into_view_if_needed()
    check(tab, "detail-log", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_job_detail_of_a_failed_job(browser, busy, scheme):
    tab = Page(browser, busy.url, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    job = busy.jobs["failed"]
    tab.row(job["id"]).locator(".open").click()
    expect(tab.page.locator("#detail-status")).to_have_text("failed")
    expect(tab.page.locator("#log-rows .ll.stderr .text")).to_have_text("cannot do the backup")
    check(tab, "detail-failed", scheme)
    tab.close()


@pytest.fixture(scope="module")
def crowded():
    """More pending jobs than the page loads by itself: the paging note shows."""
    d = Daemon("--concurrency", "1", "--sync", "normal")
    blocker = submit(d.url, "countdown", seconds=60)
    wait_for(lambda: status_of(d.url, blocker["id"]) == "running")
    post_jobs(d.url, 11_000)
    yield d
    d.stop()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_paging_note(browser, crowded, scheme):
    tab = Page(browser, crowded.url, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    expect(tab.page.locator("#list-more")).to_be_visible(timeout=20000)
    expect(tab.page.locator("#load-more")).to_be_visible()
    tab.page.wait_for_function("() => window.jobrunner.store.jobs.size >= 10000")
    check(tab, "paging", scheme)
    tab.close()
