"""The History view in Chromium over a 100,000-job SQLite database made here:
search, filters, paging by cursor, bulk cancel / retry / delete with the
confirmation's count, and the #/jobs/ID deep link for a job that is not in the
live snapshot."""
import os
import re
import sqlite3
import tempfile

import pytest
import requests
from playwright.sync_api import expect

from conftest import Daemon
from test_dashboard import Page
from waits import wait_for

JOBS = 100_000
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z: job i was created at T0 + i * 60


def make_database(path, n=JOBS):
    """A daemon creates the schema; the rows go in with one transaction (the
    search index fills through its triggers like the daemon's own writes)."""
    Daemon("--db", path).stop()
    conn = sqlite3.connect(path)
    rows = []
    for i in range(1, n + 1):
        status = "failed" if i % 10 == 0 else "cancelled" if i % 10 == 5 else "completed"
        word = WORDS[i % len(WORDS)]
        params = f'{{"message":"report {word} {i}","delay":1}}'
        error = f"Exited with status 2: disk full on volume{i % 7}" if status == "failed" else None
        result = None if status != "completed" else '{"ok":true}'
        queue = "reports" if i % 3 == 0 else "default"
        created = T0 + i * 60
        rows.append((i, "echo", params, status, 100 if status == "completed" else 0, "Complete", result, error,
                     created, created + 1, created + 1 + (i % 50) / 10, 4, queue))
    conn.executemany("""INSERT INTO jobs (id, type, params, status, progress_percent, progress_message, result, error,
                        created_at, started_at, completed_at, sequence, queue) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def big():
    path = os.path.join(tempfile.mkdtemp(prefix="jobrunner-e2e-history-"), "jobs.db")
    make_database(path)
    d = Daemon("--db", path, "--concurrency", "1", "--sync", "normal")
    yield d
    d.stop()


@pytest.fixture
def tab(browser, big):
    opened = []

    def open_tab(hash="#/history", **context):
        p = Page(browser, big.url + "/" + hash, viewport={"width": 1280, "height": 1000}, timezone_id="UTC", **context)
        opened.append(p)
        return p

    yield open_tab
    for p in opened:
        assert p.errors == [], p.errors
        p.close()


def rows(page):
    return page.locator("#history-body tr")


def ids(page):
    return [int(x) for x in rows(page).evaluate_all("rs => rs.map(r => r.dataset.id)")]


def search(page, text, **selects):
    page.fill("#h-q", text)
    for name, value in selects.items():
        page.select_option(f"#h-{name}", value)
    page.press("#h-q", "Enter")


def test_search_filters_and_pages_by_cursor(tab, big):
    t = tab()
    page = t.page
    # The first page: the newest 50 of all 100,000, with created time and duration.
    expect(page.locator("#history-summary")).to_have_text(re.compile(r"^100,000 jobs match · showing 1–50, newest first"))
    assert ids(page) == list(range(JOBS, JOBS - 50, -1))
    second = rows(page).nth(1)  # job 99,999: created T0 + 99,999 min, ran 4.9 s
    expect(second.locator("td").nth(2)).to_have_text("completed")
    expect(second.locator("td").nth(5)).to_have_text("4.9 s")
    assert second.locator("time").get_attribute("datetime") == "2024-01-23T08:52:20.000Z"
    expect(second.locator("time")).to_have_text(re.compile(r"23.*Jan.*08:52:20|Jan.*23.*08:52:20"))

    # A word and a prefix of a number: report golf 8xxxx (prefix), failed ones only, by keyboard.
    search(page, "golf 800*", status="failed")
    expect(page).to_have_url(re.compile(r"#/history\?q=golf\+800\*&status=failed$"))
    expect(page.locator("#history-summary")).to_have_text(re.compile(r"^\d+ jobs? match"))
    got = ids(page)
    expected = [i for i in range(JOBS, 0, -1) if i % 10 == 0 and WORDS[i % 8] == "golf" and str(i).startswith("800")]
    assert got == expected[:50] and got, got
    expect(page.locator("#history-summary")).to_contain_text(f"{len(expected)} job")

    # Errors are searched too, and a phrase must be in order.
    search(page, '"disk full on volume3"', status="")
    want = [i for i in range(JOBS, 0, -1) if i % 10 == 0 and i % 7 == 3]
    expect(page.locator("#history-summary")).to_contain_text(f"{len(want):,} jobs match")
    assert ids(page) == want[:50]
    expect(rows(page).first.locator("td.detail")).to_have_text(f"Exited with status 2: disk full on volume3")
    search(page, '"full disk"')
    expect(page.locator("#history-empty")).to_be_visible()

    # Queue and a time range (the browser's zone is UTC here), then older and newer pages.
    page.fill("#h-q", "")
    page.fill("#h-queue", "reports")
    page.fill("#h-from", "2023-11-15T00:00:00")
    page.fill("#h-to", "2023-11-16T00:00:00")
    page.click("#history-apply")
    start, end = 1_700_006_400, 1_700_092_800
    want = [i for i in range(JOBS, 0, -1) if i % 3 == 0 and start <= T0 + i * 60 < end]
    expect(page.locator("#history-summary")).to_contain_text(f"{len(want):,} jobs match · showing 1–50")
    assert ids(page) == want[:50]
    page.click("#history-older")
    expect(page.locator("#history-summary")).to_contain_text("showing 51–100")
    assert ids(page) == want[50:100]
    page.click("#history-newer")
    expect(page.locator("#history-summary")).to_contain_text("showing 1–50")
    assert ids(page) == want[:50]
    expect(page.locator("#history-newer")).to_be_disabled()

    # The filters live in the URL: a reload shows the same page.
    page.reload()
    expect(page.locator("#h-queue")).to_have_value("reports")
    expect(page.locator("#history-summary")).to_contain_text(f"{len(want):,} jobs match")


def confirm_dialog(page, action, count):
    page.click(f"#history-bulk-{action}")
    dialog = page.locator("#bulk-dialog")
    expect(dialog).to_be_visible()
    noun = "job" if count == 1 else "jobs"
    expect(page.locator("#bulk-title")).to_have_text(f"{action.capitalize()} {count} {noun}?")
    expect(page.locator("#bulk-confirm")).to_have_text(f"{action.capitalize()} {count} {noun}")
    return dialog


def test_bulk_cancel_retry_delete_with_the_confirmed_count(tab, big):
    url = big.url
    # A paused queue: its jobs wait however long the test takes.
    assert requests.put(f"{url}/api/queues/nightly", json={"paused": True}).status_code == 200
    made = [requests.post(f"{url}/api/jobs", json={"job_type": "echo", "params": {"message": f"nightly batch {k}"},
                                                   "queue": "nightly"}).json()["id"] for k in range(6)]
    t = tab("#/history?queue=nightly")
    page = t.page
    expect(page.locator("#history-summary")).to_contain_text("6 jobs match")

    # Cancel: the dialog states the count; Escape keeps them.
    dialog = confirm_dialog(page, "cancel", 6)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert requests.get(f"{url}/api/jobs?queue=nightly&status=pending").headers["X-Total-Count"] == "6"

    # The count changes while the dialog is open: the daemon refuses, the dialog says so.
    confirm_dialog(page, "cancel", 6)
    requests.delete(f"{url}/api/jobs/{made[0]}")
    page.click("#bulk-confirm")
    expect(page.locator("#bulk-changed")).to_have_text("The number changed since you asked: it is 5 now. Confirm again.")
    # The browser logs the refusal it was meant to get.
    t.errors.remove("Failed to load resource: the server responded with a status of 409 (Conflict)")
    expect(page.locator("#bulk-title")).to_have_text("Cancel 5 jobs?")
    assert requests.get(f"{url}/api/jobs?queue=nightly&status=pending").headers["X-Total-Count"] == "5"
    page.click("#bulk-confirm")
    expect(dialog).to_be_hidden()
    expect(page.locator("#history-note")).to_have_text("5 jobs cancelled")
    assert requests.get(f"{url}/api/jobs?queue=nightly&status=cancelled").headers["X-Total-Count"] == "6"

    # Retry the cancelled ones (by keyboard: Enter on the confirm button).
    confirm_dialog(page, "retry", 6)
    page.keyboard.press("Enter")
    expect(page.locator("#history-note")).to_have_text("6 jobs retried")
    wait_for(lambda: requests.get(f"{url}/api/jobs?queue=nightly&status=pending").headers["X-Total-Count"] == "6")

    # Delete takes only finished jobs: none while they wait.
    page.click("#history-bulk-delete")
    expect(page.locator("#bulk-title")).to_have_text("Delete 0 jobs?")
    expect(page.locator("#bulk-confirm")).to_be_hidden()
    page.click("#bulk-keep")
    confirm_dialog(page, "cancel", 6)
    page.click("#bulk-confirm")
    expect(page.locator("#history-note")).to_have_text("6 jobs cancelled")
    total_before = requests.get(f"{url}/api/stats").json()["queue"]["total"]
    confirm_dialog(page, "delete", 6)
    page.click("#bulk-confirm")
    expect(page.locator("#history-note")).to_have_text("6 jobs deleted")
    expect(page.locator("#history-empty")).to_be_visible()
    assert requests.get(f"{url}/api/jobs?queue=nightly").json() == []
    assert requests.get(f"{url}/api/jobs/{made[1]}/log").status_code == 404
    assert requests.get(f"{url}/api/stats").json()["queue"]["total"] == total_before - 6
    # The live view stays consistent: its counts follow.
    page.click("#tab-jobs")
    expect(page.locator("#count-cancelled")).to_have_text(f"{requests.get(f'{url}/api/stats').json()['queue']['cancelled']:,}")


def test_a_deep_link_opens_any_stored_job(tab, big):
    # Job 123 is far older than the live snapshot's newest 1,000 finished jobs.
    t = tab("#/jobs/123")
    page = t.page
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text("Job #123 · echo")
    expect(page.locator("#detail-params")).to_contain_text("report delta 123")
    expect(page.locator("#detail-status")).to_have_text("completed")
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"#/$"))

    # From the history: the row's link opens the job over the history, closing goes back to it.
    page.click("#tab-history")
    search(page, "charlie 42410")
    link = page.locator('#history-body a[href="#/jobs/42410"]')
    expect(link).to_be_visible()
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/jobs/42410$"))
    expect(page.locator("#detail-error")).to_have_text("Exited with status 2: disk full on volume4")
    expect(page.locator("#view-history")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"#/history\?q=charlie\+42410$"))
    expect(page.locator("#view-history")).to_be_visible()


def test_bad_input_shows_the_daemons_message(tab):
    t = tab("#/history?q=%22%22")
    expect(t.page.locator("#history-error")).to_have_text("Invalid 'q': must contain a letter or digit")
    t.errors.remove("Failed to load resource: the server responded with a status of 400 (Bad Request)")
