"""The dashboard over a truncated queue_state: exact counts, the note that more
jobs exist than are loaded, and paging the rest in from REST."""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from conftest import HOLD_TYPES
from test_dashboard import Page
from test_rest import submit
from waits import wait_for
from test_ws_limits import post_jobs

# More than the dashboard loads by itself (10,000), so some must be paged in.
PENDING = 12_000
CANCELLED = 1_500



@pytest.fixture
def crowded(start_daemon):
    """Job 1 running, 12,000 behind it of which the newest 1,500 are cancelled."""
    # The running job must outlast the filling and the test (over a minute on a busy machine).
    d = start_daemon("--concurrency", "1", "--sync", "normal", "--job-types-dir", HOLD_TYPES)
    blocker = submit(d.url, "hold", seconds=3600)
    wait_for(lambda: requests.get(f"{d.url}/api/jobs/{blocker['id']}").json()["status"] == "running")
    post_jobs(d.url, PENDING)
    last = blocker["id"] + PENDING

    def cancel(ids):
        with requests.Session() as s:
            for i in ids:
                assert s.delete(f"{d.url}/api/jobs/{i}").status_code == 200

    ids = list(range(last - CANCELLED + 1, last + 1))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(cancel, [ids[i::8] for i in range(8)]))
    d.last_pending = last - CANCELLED
    return d


def scroll_until(tab, locator, tries=20):
    """Scrolls the list to its end until `locator` is rendered: rows load as the
    end is reached, and only rows in view are in the DOM."""
    for _ in range(tries):
        tab.page.locator("#list").evaluate("el => el.scrollTop = el.scrollHeight")
        try:
            expect(locator).to_have_count(1, timeout=2000)
            return
        except AssertionError:
            continue
    raise AssertionError("the row never loaded")


def load_all(tab, expected):
    """Presses "Load more" (a page each time) until `expected` is the summary."""
    summary = tab.page.locator("#list-summary")
    button = tab.page.locator("#load-more")
    for _ in range(10):
        if summary.text_content() == expected:
            break
        if button.is_visible():
            try:
                button.click(timeout=2000)
            except PlaywrightTimeoutError:
                pass  # a page that was already loading hid it first
        try:
            expect(summary).to_have_text(expected, timeout=2000)
        except AssertionError:
            continue
    expect(summary).to_have_text(expected)
    expect(button).to_be_hidden()


def test_truncated_state_shows_exact_counts_and_pages_the_rest_in(browser, crowded):
    d = crowded
    tab = Page(browser, d.url, viewport={"width": 1280, "height": 900})
    total = PENDING + 1
    expect(tab.page.locator("#count-pending")).to_have_text(f"{PENDING - CANCELLED:,}")
    expect(tab.page.locator("#count-cancelled")).to_have_text(f"{CANCELLED:,}")
    expect(tab.page.locator("#count-running")).to_have_text("1")
    # It loads by itself up to 10,000 jobs, and says that there are more.
    expect(tab.page.locator("#list-summary")).to_have_text(re.compile(rf"^[\d,]+ of {total:,} jobs shown$"))
    expect(tab.page.locator("#list-more")).to_be_visible(timeout=20000)
    expect(tab.page.locator("#list-more")).to_contain_text("more jobs than are loaded")
    tab.shot("paging-truncated")

    # Pending: scrolling to the end pages in the last pending job.
    tab.page.select_option("#filter-status", "pending")
    scroll_until(tab, tab.row(d.last_pending))
    expect(tab.row(d.last_pending)).to_be_visible()
    expect(tab.row(d.last_pending).locator(".badge")).to_have_text("pending")
    expect(tab.page.locator("#list-summary")).to_have_text(f"{PENDING - CANCELLED:,} of {total:,} jobs shown")

    # Cancelled: queue_state had the newest 1,000; "Load more" brings the rest.
    tab.page.locator("#list").evaluate("el => el.scrollTop = 0")
    tab.page.select_option("#filter-status", "cancelled")
    expect(tab.page.locator("#load-more")).to_be_visible()
    load_all(tab, f"{CANCELLED:,} of {total:,} jobs shown")
    tab.page.select_option("#filter-status", "")
    expect(tab.page.locator("#list-summary")).to_have_text(f"{total:,} of {total:,} jobs shown", timeout=20000)
    expect(tab.page.locator("#list-more")).to_be_hidden()
    # Live events still count exactly: cancel a job that is loaded from REST.
    assert requests.delete(f"{d.url}/api/jobs/{d.last_pending}").status_code == 200
    expect(tab.page.locator("#announcer")).to_have_text(f"Job {d.last_pending} (echo) cancelled")
    expect(tab.page.locator("#count-cancelled")).to_have_text(f"{CANCELLED + 1:,}")
    expect(tab.page.locator("#count-pending")).to_have_text(f"{PENDING - CANCELLED - 1:,}")
    assert tab.errors == []
    tab.close()


def test_events_for_jobs_not_loaded_keep_counts_exact_and_load_more(browser, crowded):
    d = crowded
    tab = Page(browser, d.url)
    expect(tab.page.locator("#list-more")).to_be_visible(timeout=20000)
    # The background loading stops at 10,000 jobs: the last pending one is not among them.
    tab.page.wait_for_function("() => window.jobrunner.store.jobs.size >= 10000")
    assert tab.page.evaluate(f"() => window.jobrunner.store.jobs.has({d.last_pending})") is False
    # An event about a job the page never loaded still moves the counts by one.
    assert requests.delete(f"{d.url}/api/jobs/{d.last_pending}").status_code == 200
    expect(tab.page.locator("#count-pending")).to_have_text(f"{PENDING - CANCELLED - 1:,}")
    expect(tab.page.locator("#count-cancelled")).to_have_text(f"{CANCELLED + 1:,}")
    queue = requests.get(f"{d.url}/api/stats").json()["queue"]
    for status in ("pending", "running", "cancelled"):
        expect(tab.page.locator(f"#count-{status}")).to_have_text(f"{queue[status]:,}")
    # ...and the job itself is read from REST.
    tab.page.wait_for_function(f"() => window.jobrunner.store.jobs.get({d.last_pending})?.status === 'cancelled'")
    # The keyboard way: the button loads a page for the current filter.
    tab.page.locator("#list").evaluate("el => el.scrollTop = 0")
    tab.page.select_option("#filter-status", "pending")
    expect(tab.page.locator("#load-more")).to_be_visible()
    load_all(tab, f"{PENDING - CANCELLED - 1:,} of {PENDING + 1:,} jobs shown")
    assert tab.errors == []
    tab.close()
