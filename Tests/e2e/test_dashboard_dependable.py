"""The dashboard's dependable-jobs pieces in a real browser: submission options,
attempts and their errors, Retry, the run_at countdown, the queues view and the
schedules view, with two tabs kept in step by the WebSocket."""
import os
import re
import time

import pytest
import requests
from playwright.sync_api import expect

from conftest import Daemon
from test_dashboard import Page
from waits import wait_for

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "jobs.d")



@pytest.fixture
def jr():
    d = Daemon("--job-types-dir", FIXTURES, "--concurrency", "2")
    yield d
    assert d.stop() == 0, "".join(d.log)


@pytest.fixture
def tabs(browser, jr):
    opened = []

    def open_tab(hash_="", **context):
        context.setdefault("viewport", {"width": 1280, "height": 1000})
        t = Page(browser, jr.url + "/" + hash_, **context)
        opened.append(t)
        return t

    yield open_tab
    for t in opened:
        # Chromium logs every 4xx answer to fetch; the tests provoke some on purpose
        # (a bad cron expression for the preview). Anything else is an error.
        errors = [e for e in t.errors if not e.startswith("Failed to load resource: the server responded with a status of 4")]
        assert errors == [], t.errors
        t.close()


def post(url, body):
    r = requests.post(f"{url}/api/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def job(url, job_id):
    return requests.get(f"{url}/api/jobs/{job_id}").json()


def fill_options(page, **options):
    details = page.locator("#job-options")
    if details.get_attribute("open") is None:
        page.click("#job-options summary")
    for name, value in options.items():
        page.fill(f"#opt-{name}", str(value))


def test_options_create_a_job_with_those_options_and_a_countdown(tabs, jr):
    tab = tabs()
    page = tab.page
    page.click('[data-type="echo"]')
    page.fill("#param-message", "later")
    fill_options(page, queue="reports", priority=7, delay=120, max_attempts=3, timeout=30)
    before = time.time()
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST") as info:
        page.click("#submit")
    created = info.value.json()
    stored = job(jr.url, created["id"])
    assert stored["queue"] == "reports"
    assert stored["priority"] == 7
    assert stored["max_attempts"] == 3
    assert stored["timeout"] == 30
    assert stored["attempt"] == 1
    assert before + 119 <= stored["run_at"] <= time.time() + 121
    assert stored["status"] == "pending"
    row = tab.row(created["id"])
    expect(row.locator(".meta")).to_have_text("queue reports · priority 7 · attempt 1/3")
    # The countdown moves: "Starts in 1 min 59 s", then less.
    message = row.locator(".message")
    expect(message).to_have_text(re.compile(r"^Starts in 1 min \d+ s$"))
    first = message.text_content()
    expect(message).not_to_have_text(first, timeout=3000)
    row.locator(".open").click()
    expect(page).to_have_url(re.compile(rf"#/jobs/{created['id']}$"))
    expect(page.locator("#detail-waiting")).to_have_text(re.compile(r"^Starts in 1 min \d+ s \(at "))
    fields = page.locator("#detail-fields")
    expect(fields).to_contain_text("Queuereports")
    expect(fields).to_contain_text("Priority7")
    expect(fields).to_contain_text("Attempt1 of 3")
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).not_to_be_visible()
    expect(page).to_have_url(re.compile(r"#/$"))


@pytest.mark.parametrize("name,text,sent", [
    ("queue", "Reports!", "Reports!"),
    ("priority", "101", 101),
    ("priority", "2.5", 2.5),
    ("delay", "-1", -1),
    ("delay", "31536001", 31536001),
    ("max_attempts", "0", 0),
    ("max_attempts", "101", 101),
    ("timeout", "0", 0),
])
def test_client_side_option_messages_equal_the_daemons(tabs, jr, name, text, sent):
    tab = tabs()
    page = tab.page
    page.click('[data-type="countdown"]')
    page.fill("#param-seconds", "1")
    fill_options(page, **{name: text})
    daemon = requests.post(f"{jr.url}/api/jobs", json={"job_type": "countdown", "params": {"seconds": 1}, name: sent})
    assert daemon.status_code == 400
    expect(page.locator(f"#opt-{name}-error")).to_have_text(daemon.json()["error"])
    expect(page.locator(f"#opt-{name}")).to_have_attribute("aria-invalid", "true")
    page.click("#submit")
    expect(page.locator("#form-error")).to_have_text("Fix the highlighted field.")
    expect(page.locator(f"#opt-{name}")).to_be_focused()
    assert requests.get(f"{jr.url}/api/stats").json()["queue"]["total"] == 0


def test_retry_button_reruns_a_failed_job_and_shows_attempts_and_errors(tabs, jr):
    failed = post(jr.url, {"job_type": "fail-demo", "params": {"what": "the backup"},
                           "max_attempts": 2, "backoff": {"initial": 0.2, "max": 0.2}})
    wait_for(lambda: job(jr.url, failed["id"])["status"] == "failed")
    tab = tabs(f"#/jobs/{failed['id']}")
    page = tab.page
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-status")).to_have_text("failed")
    expect(page.locator("#detail-fields")).to_contain_text("Attempt2 of 2")
    stored = job(jr.url, failed["id"])
    errors = page.locator("#detail-errors li")
    expect(errors).to_have_count(2)
    for i, e in enumerate(stored["errors"]):
        expect(errors.nth(i).locator(".attempt")).to_have_text(f"Attempt {e['attempt']}")
        expect(errors.nth(i).locator(".attempt-error")).to_have_text(e["error"])
    expect(page.locator("#detail-retry")).to_be_visible()
    page.click("#detail-retry")
    # It runs twice more and fails again: four errors now, attempt 2 of 2.
    expect(errors).to_have_count(4, timeout=20000)
    expect(page.locator("#detail-status")).to_have_text("failed", timeout=20000)
    wait_for(lambda: len(job(jr.url, failed["id"])["errors"]) == 4 and job(jr.url, failed["id"])["status"] == "failed")
    expect(page.locator("#detail-fields")).to_contain_text("Attempt2 of 2")
    # Retrying a job that is not failed or cancelled shows the daemon's 409.
    done = post(jr.url, {"job_type": "countdown", "params": {"seconds": 1}})
    wait_for(lambda: job(jr.url, done["id"])["status"] == "completed")
    page.keyboard.press("Escape")
    expect(tab.row(done["id"]).locator(".badge")).to_have_text("completed")
    tab.row(done["id"]).locator(".open").click()
    expect(page.locator("#detail-retry")).to_be_hidden()


def test_a_retrying_job_shows_its_next_attempt_in_the_list(tabs, jr):
    tab = tabs()
    j = post(jr.url, {"job_type": "fail-demo", "params": {}, "max_attempts": 3, "backoff": {"initial": 60, "max": 60}})
    row = tab.row(j["id"])
    expect(row.locator(".meta")).to_have_text("attempt 2/3", timeout=10000)
    expect(row.locator(".badge")).to_have_text("pending")
    expect(row.locator(".message")).to_have_text(re.compile(r"^Attempt 2 of 3 in \d+ s$"))
    expect(tab.page.locator("#count-pending")).to_have_text("1")
    expect(tab.page.locator("#count-running")).to_have_text("0")


def test_the_queues_view_keeps_its_controls_while_it_refreshes(tabs, jr):
    """Counts refresh while jobs move; the row's button and field stay the same
    elements, so a click or typing under way when a refresh lands is not lost
    (a redraw used to replace the row under the pointer)."""
    post(jr.url, {"job_type": "countdown", "params": {"seconds": 1}, "queue": "batch"})
    t = tabs("#/queues")
    expect(t.page.locator('tr[data-queue="batch"]')).to_be_visible()
    toggle = t.page.query_selector("#queue-batch-toggle")
    field = t.page.query_selector("#queue-batch-concurrency")
    field.focus()
    field.type("7")
    done = post(jr.url, {"job_type": "countdown", "params": {"seconds": 1}, "queue": "batch"})
    wait_for(lambda: job(jr.url, done["id"])["status"] == "completed")
    expect(t.page.locator('tr[data-queue="batch"] [data-count="completed"]')).to_have_text("2")
    assert toggle.evaluate("el => el.isConnected"), "the Pause button was replaced by a refresh"
    assert field.evaluate("el => el.isConnected && el === document.activeElement"), "the field was replaced"
    assert field.input_value() == "7", "what was typed was lost"


def test_queues_view_pauses_resumes_and_limits_a_queue_in_two_tabs(tabs, jr):
    first = post(jr.url, {"job_type": "countdown", "params": {"seconds": 1}, "queue": "batch"})
    wait_for(lambda: job(jr.url, first["id"])["status"] == "completed")
    a = tabs()
    a.page.click("#tab-queues")
    expect(a.page).to_have_url(re.compile(r"#/queues$"))
    expect(a.page.locator("#queues-title")).to_be_focused()
    b = tabs("#/queues")
    for t in (a, b):
        expect(t.page.locator('tr[data-queue="batch"] [data-count="completed"]')).to_have_text("1")
        expect(t.page.locator('tr[data-queue="default"]')).to_be_visible()
    a.page.click("#queue-batch-toggle")
    for t in (a, b):
        expect(t.page.locator('tr[data-queue="batch"] .badge')).to_have_text("paused")
    assert next(q for q in requests.get(f"{jr.url}/api/queues").json() if q["name"] == "batch")["paused"] is True
    waiting = post(jr.url, {"job_type": "countdown", "params": {"seconds": 1}, "queue": "batch"})
    other = post(jr.url, {"job_type": "countdown", "params": {"seconds": 1}})
    # A job of another queue runs through while the paused queue's job waits.
    wait_for(lambda: job(jr.url, other["id"])["status"] == "completed")
    assert job(jr.url, waiting["id"])["status"] == "pending"
    expect(b.page.locator('tr[data-queue="batch"] [data-count="pending"]')).to_have_text("1")
    b.page.click("#queue-batch-toggle")  # resume, from the other tab
    for t in (a, b):
        expect(t.page.locator('tr[data-queue="batch"] .badge')).to_have_text("active")
    wait_for(lambda: job(jr.url, waiting["id"])["status"] == "completed")
    expect(a.page.locator('tr[data-queue="batch"] [data-count="completed"]')).to_have_text("2")
    # Concurrency: set, shown in the other tab, then cleared again.
    a.page.fill("#queue-batch-concurrency", "2")
    a.page.press("#queue-batch-concurrency", "Enter")
    expect(b.page.locator("#queue-batch-concurrency")).to_have_value("2")
    assert next(q for q in requests.get(f"{jr.url}/api/queues").json() if q["name"] == "batch")["concurrency"] == 2
    a.page.fill("#queue-batch-concurrency", "0")
    a.page.click("#queue-batch-save")
    expect(a.page.locator("#queues-error")).to_have_text("Invalid 'concurrency' field: must be an integer from 1 to 10000, or null")
    a.page.fill("#queue-batch-concurrency", "")
    a.page.click("#queue-batch-save")
    expect(b.page.locator("#queue-batch-concurrency")).to_have_value("")
    assert next(q for q in requests.get(f"{jr.url}/api/queues").json() if q["name"] == "batch")["concurrency"] is None
    a.shot("dependable-queues")


def test_schedules_view_create_preview_pause_run_edit_delete(tabs, jr):
    a = tabs("#/schedules")
    b = tabs("#/schedules")
    page = a.page
    expect(page.locator("#schedules-empty")).to_be_visible()
    page.click("#schedule-new")
    expect(page).to_have_url(re.compile(r"#/schedules/new$"))
    expect(page.locator("#schedule-form")).to_be_visible()
    page.fill("#s-name", "nightly")
    page.fill("#s-timezone", "UTC")
    page.fill("#s-cron", "61 * * * *")
    bad = requests.get(f"{jr.url}/api/cron", params={"cron": "61 * * * *", "timezone": "UTC"})
    assert bad.status_code == 400
    expect(page.locator("#cron-preview")).to_have_text(bad.json()["error"])
    page.fill("#s-cron", "30 3 * * *")
    good = requests.get(f"{jr.url}/api/cron", params={"cron": "30 3 * * *", "timezone": "UTC"}).json()
    expect(page.locator("#cron-preview .reading")).to_have_text(f"Runs {good['description']}")
    expect(page.locator("#cron-preview li")).to_have_count(len(good["next"]))
    page.select_option("#s-type", "echo")
    page.fill("#sparam-message", "from the schedule")
    page.fill("#sparam-delay", "1")
    page.fill("#sopt-priority", "3")
    page.click("#schedule-save")
    expect(page).to_have_url(re.compile(r"#/schedules/nightly$"))
    stored = requests.get(f"{jr.url}/api/schedules/nightly").json()
    assert stored["cron"] == "30 3 * * *" and stored["job_type"] == "echo"
    assert stored["params"]["message"] == "from the schedule" and stored["options"]["priority"] == 3
    for t in (a, b):
        row = t.page.locator('tr[data-schedule="nightly"]')
        expect(row).to_contain_text(good["description"])
        # The next run and how far off it is (hours, or minutes and seconds
        # when the test runs in the hour before 03:30 UTC).
        expect(row.locator(".next")).to_contain_text(re.compile(r"\(in \d+ (h|min|s)\b"))
        expect(row.locator(".last")).to_have_text("never")
    # Pause and resume; the other tab follows.
    page.click("#schedule-nightly-toggle")
    expect(b.page.locator('tr[data-schedule="nightly"] .badge.paused')).to_have_text("paused")
    assert requests.get(f"{jr.url}/api/schedules/nightly").json()["paused"] is True
    page.click("#schedule-nightly-toggle")
    expect(b.page.locator('tr[data-schedule="nightly"] .badge.active')).to_have_text("active")
    assert requests.get(f"{jr.url}/api/schedules/nightly").json()["paused"] is False
    # Run now: a job made by the schedule, linked from its row.
    page.click("#schedule-nightly-run")
    made = wait_for(lambda: requests.get(f"{jr.url}/api/jobs", params={"schedule": "nightly"}).json())
    assert len(made) == 1 and made[0]["schedule"] == "nightly" and made[0]["params"]["message"] == "from the schedule"
    link = b.page.locator('tr[data-schedule="nightly"] .last a')
    expect(link).to_have_text(f"Job #{made[0]['id']}")
    expect(b.page.locator('tr[data-schedule="nightly"] .last .badge')).to_have_text("completed", timeout=15000)
    link.click()
    expect(b.page.locator("#detail")).to_be_visible()
    expect(b.page.locator("#detail-fields")).to_contain_text("Schedulenightly")
    b.page.locator("#detail-fields a", has_text="nightly").click()
    expect(b.page.locator("#detail")).not_to_be_visible()
    expect(b.page.locator('tr[data-schedule="nightly"]')).to_have_class("highlight")
    # Edit: the form comes filled in; a new cron is stored.
    page.click("#schedule-nightly-edit")
    expect(page.locator("#s-cron")).to_have_value("30 3 * * *")
    expect(page.locator("#sparam-message")).to_have_value("from the schedule")
    expect(page.locator("#sopt-priority")).to_have_value("3")
    page.fill("#s-cron", "0 4 * * MON")
    expect(page.locator("#cron-preview .reading")).to_contain_text("04:00")
    page.click("#schedule-save")
    expect(b.page.locator('tr[data-schedule="nightly"]')).to_contain_text("0 4 * * MON")
    assert requests.get(f"{jr.url}/api/schedules/nightly").json()["cron"] == "0 4 * * MON"
    # Delete (confirmed); gone in both tabs and from the daemon.
    page.once("dialog", lambda d: d.accept())
    page.click("#schedule-nightly-delete")
    for t in (a, b):
        expect(t.page.locator('tr[data-schedule="nightly"]')).to_have_count(0)
    assert requests.get(f"{jr.url}/api/schedules/nightly").status_code == 404


def test_tabs_and_jobs_stay_in_sync(tabs, jr):
    a = tabs()
    b = tabs()
    failed = post(jr.url, {"job_type": "fail-demo", "params": {}, "max_attempts": 2, "backoff": {"initial": 0.1, "max": 0.1}})
    for t in (a, b):
        expect(t.row(failed["id"]).locator(".badge")).to_have_text("failed")
    a.row(failed["id"]).locator(".open").click()
    a.page.click("#detail-retry")
    # The other tab sees it go back and fail again, with the counts right.
    wait_for(lambda: (lambda j: j["status"] == "failed" and len(j["errors"]) == 4)(job(jr.url, failed["id"])))
    expect(b.row(failed["id"]).locator(".badge")).to_have_text("failed")
    expect(b.row(failed["id"]).locator(".meta")).to_have_text("attempt 2/2")
    expect(b.page.locator("#count-failed")).to_have_text("1")
    expect(b.page.locator("#count-pending")).to_have_text("0")
    expect(b.page.locator("#count-running")).to_have_text("0")
    # Keyboard: the tabs are links; Enter on one switches the view.
    a.page.keyboard.press("Escape")
    a.page.focus("#tab-schedules")
    a.page.keyboard.press("Enter")
    expect(a.page.locator("#view-schedules")).to_be_visible()
    expect(a.page.locator("#view-jobs")).to_be_hidden()
    expect(a.page.locator("#tab-schedules")).to_have_attribute("aria-current", "page")
