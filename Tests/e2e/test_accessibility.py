"""axe-core (through axe-playwright-python) on every view of the dashboard, in
the light and the dark colour scheme: zero violations. Each view is saved as a
screenshot under Tests/e2e/output/ (a11y-VIEW-SCHEME.png) to be looked at."""
import os
import re

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from conftest import OUTPUT, Daemon
from test_dashboard import Page
from test_rest import submit
from waits import wait_for
from test_ws_limits import post_jobs

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "jobs.d")
SCHEMES = ["light", "dark"]
axe = Axe()



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


# --- The dependable-jobs views: queues, schedules, the schedule form, a retried
# job's attempts, the New job form's options. ---------------------------------

@pytest.fixture(scope="module")
def dependable():
    d = Daemon("--job-types-dir", FIXTURES, "--concurrency", "2")
    done = submit(d.url, "countdown", seconds=1)
    r = requests.post(f"{d.url}/api/jobs", json={"job_type": "fail-demo", "params": {"what": "the upload"}, "queue": "uploads",
                                                 "priority": 5, "max_attempts": 2, "backoff": {"initial": 0.1, "max": 0.1}})
    retried = r.json()
    wait_for(lambda: status_of(d.url, retried["id"]) == "failed")
    assert requests.post(f"{d.url}/api/jobs/{retried['id']}/retry").status_code == 200
    wait_for(lambda: (lambda j: j["status"] == "failed" and len(j["errors"]) == 4)(requests.get(f"{d.url}/api/jobs/{retried['id']}").json()))
    requests.post(f"{d.url}/api/jobs", json={"job_type": "echo", "params": {"message": "later"}, "queue": "uploads", "delay": 600})
    requests.put(f"{d.url}/api/queues/uploads", json={"paused": True, "concurrency": 2})
    requests.post(f"{d.url}/api/schedules", json={"name": "nightly-report", "cron": "30 3 * * *", "timezone": "Europe/Berlin",
                                                  "job_type": "echo", "params": {"message": "report"}})
    requests.post(f"{d.url}/api/schedules", json={"name": "hourly", "cron": "0 * * * *", "job_type": "countdown",
                                                  "params": {"seconds": 1}, "paused": True})
    requests.post(f"{d.url}/api/schedules/hourly/run")
    wait_for(lambda: status_of(d.url, done["id"]) == "completed")
    d.jobs = {"retried": retried}
    yield d
    d.stop()


def dependable_tab(browser, d, scheme, hash_="", height=900):
    tab = Page(browser, d.url + "/" + hash_, viewport={"width": 1280, "height": height}, color_scheme=scheme)
    return tab


@pytest.mark.parametrize("scheme", SCHEMES)
def test_queues_view(browser, dependable, scheme):
    tab = dependable_tab(browser, dependable, scheme, "#/queues")
    expect(tab.page.locator('tr[data-queue="uploads"] .badge')).to_have_text("paused")
    expect(tab.page.locator('tr[data-queue="default"]')).to_be_visible()
    check(tab, "queues", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_schedules_view(browser, dependable, scheme):
    tab = dependable_tab(browser, dependable, scheme, "#/schedules")
    expect(tab.page.locator('tr[data-schedule="nightly-report"]')).to_contain_text("at 03:30")
    expect(tab.page.locator('tr[data-schedule="hourly"] .last a')).to_be_visible()
    check(tab, "schedules", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_schedule_form_with_a_preview(browser, dependable, scheme):
    tab = dependable_tab(browser, dependable, scheme, "#/schedules/nightly-report/edit", height=1300)
    expect(tab.page.locator("#cron-preview .reading")).to_contain_text("03:30")
    expect(tab.page.locator("#sparam-message")).to_have_value("report")
    tab.page.locator("#schedule-form").scroll_into_view_if_needed()
    check(tab, "schedule-form", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_job_detail_of_a_retried_job(browser, dependable, scheme):
    job = dependable.jobs["retried"]
    tab = dependable_tab(browser, dependable, scheme, f"#/jobs/{job['id']}", height=1200)
    expect(tab.page.locator("#detail-errors li")).to_have_count(4)
    expect(tab.page.locator("#detail-retry")).to_be_visible()
    check(tab, "detail-retried", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_new_job_form_options(browser, dependable, scheme):
    tab = dependable_tab(browser, dependable, scheme, height=1300)
    tab.page.click('[data-type="echo"]')
    tab.page.click("#job-options summary")
    tab.page.fill("#opt-priority", "500")
    expect(tab.page.locator("#opt-priority-error")).to_have_text("Invalid 'priority' field: must be an integer from -100 to 100")
    tab.page.fill("#opt-queue", "uploads")
    check(tab, "form-options", scheme)
    tab.close()


class DocsTab:
    """/api/docs (not the dashboard: no live connection to wait for), console errors recorded."""

    def __init__(self, browser, url, scheme, height):
        self.context = browser.new_context(viewport={"width": 1280, "height": height}, color_scheme=scheme)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def close(self):
        self.context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_api_docs(browser, busy, scheme):
    tab = DocsTab(browser, f"{busy.url}/api/docs#op-createJob", scheme, height=1400)
    expect(tab.page.locator("#op-createJob")).to_have_attribute("open", "")
    expect(tab.page.locator("#op-createJob .alternatives > li", has_text="form-demo").first).to_be_visible()
    # One operation with parameters and headers opened too, and the schemas at the end.
    tab.page.click("#op-listJobs summary")
    expect(tab.page.locator("#op-listJobs table")).to_be_visible()
    check(tab, "api-docs", scheme)
    tab.page.locator("#op-listJobs").scroll_into_view_if_needed()
    tab.page.screenshot(path=os.path.join(OUTPUT, f"a11y-api-docs-list-{scheme}.png"))
    tab.page.locator("#models").scroll_into_view_if_needed()
    tab.page.screenshot(path=os.path.join(OUTPUT, f"a11y-api-docs-models-{scheme}.png"))


# --- History: the filtered, paged table and the bulk confirmation. ---------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_history_view(browser, dependable, scheme):
    tab = dependable_tab(browser, dependable, scheme, "#/history?queue=uploads")
    expect(tab.page.locator("#history-summary")).to_contain_text("2 jobs match")
    expect(tab.page.locator("#history-body tr")).to_have_count(2)
    check(tab, "history", scheme)
    tab.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_history_bulk_confirmation(browser, dependable, scheme):
    tab = dependable_tab(browser, dependable, scheme, "#/history?q=upload")
    expect(tab.page.locator("#history-summary")).to_contain_text("1 job matches")
    tab.page.click("#history-bulk-retry")
    expect(tab.page.locator("#bulk-title")).to_have_text("Retry 1 job?")
    check(tab, "history-bulk", scheme)
    tab.close()


# --- Nodes: three daemons on one PostgreSQL database. -------------------------------

@pytest.fixture(scope="module")
def three_nodes(postgres):
    url = postgres.new_database()
    started = [Daemon("--db", url, "--node-id", n) for n in ("n1", "n2", "n3")]
    yield started
    for d in started:
        d.stop()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_nodes_view(browser, three_nodes, scheme):
    tab = dependable_tab(browser, three_nodes[0], scheme, "#/nodes")
    expect(tab.page.locator("#nodes-body tr")).to_have_count(3)
    expect(tab.page.locator("#nodes-body .badge.leader")).to_have_count(1)
    expect(tab.page.locator("#tab-nodes")).to_be_visible()
    check(tab, "nodes", scheme)
    tab.close()
