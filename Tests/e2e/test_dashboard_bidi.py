"""Bidi controls in what the daemon sends (U+202E RIGHT-TO-LEFT OVERRIDE in a
job's params, output and error), in Debian's chromium: the text around them
keeps its order. Screenshots: Tests/e2e/output/bidi-*.png."""
import os
import re

import pytest
from playwright.sync_api import expect

from test_dashboard import Page
from test_rest import submit
from waits import wait_for
from test_dashboard_logs import FIXTURES, open_detail, status_of

RLO = "\u202e"

# The box of `length` characters of the first text node under `selector` that
# holds `needle`, starting `offset` characters into it.
BOX = """([selector, needle, offset, length]) => {
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const i = node.data.indexOf(needle);
      if (i < 0) continue;
      const range = document.createRange();
      range.setStart(node, i + offset);
      range.setEnd(node, i + offset + length);
      const b = range.getBoundingClientRect();
      return {left: b.left, right: b.right, top: b.top};
    }
  }
  return null;
}"""


def box(page, selector, needle, offset=0, length=None):
    found = page.evaluate(BOX, [selector, needle, offset, len(needle) if length is None else length])
    assert found is not None, f"{needle!r} not in {selector}"
    return found


def bidi_of(page, selector):
    return page.eval_on_selector(selector, "e => getComputedStyle(e).unicodeBidi")


@pytest.fixture
def bidi(start_daemon):
    return start_daemon("--job-types-dir", FIXTURES)


def test_an_override_in_params_output_and_error_reorders_nothing_beside_it(browser, bidi):
    # form-demo echoes its params; fail-demo logs "looking at WHAT" and "cannot do WHAT", then fails.
    done = submit(bidi.url, "form-demo", path=f"/srv/abc{RLO}def", level=2)
    failed = submit(bidi.url, "fail-demo", what=f"abc{RLO}def")
    wait_for(lambda: status_of(bidi.url, failed["id"]) == "failed" and status_of(bidi.url, done["id"]) == "completed")
    output = os.path.join(os.path.dirname(__file__), "output")
    os.makedirs(output, exist_ok=True)
    t = Page(browser, bidi.url, viewport={"width": 1280, "height": 900})
    try:
        page = t.page
        # The history's one-line params: the params after the override keep their
        # order after "def" (an override would draw `..."mode":` before it, reversed).
        page.goto(f"{bidi.url}/#/history")
        cell = f'tr[data-id="{done["id"]}"] td.detail'
        expect(page.locator(cell)).to_contain_text("/srv/abc")
        # Written as an escape in the JSON, the control itself shows.
        expect(page.locator(cell)).to_contain_text("abc\\u202edef")
        d, mode = box(page, cell, "def", 0, 3), box(page, cell, '"mode"', 1, 4)
        assert mode["left"] >= d["right"] - 0.5, (d, mode)
        error = f'tr[data-id="{failed["id"]}"] td.detail'
        expect(page.locator(error)).to_contain_text("cannot do abc")
        assert bidi_of(page, error) == "plaintext"
        page.screenshot(path=os.path.join(output, "bidi-history.png"))

        # The detail's params as pretty JSON: the line's closing quote and comma stay after "def".
        page.goto(f"{bidi.url}/#/jobs/{done['id']}")
        expect(page.locator("#detail")).to_be_visible()
        expect(page.locator("#detail-params")).to_contain_text("/srv/abc")
        d, quote = box(page, "#detail-params", 'def",', 0, 3), box(page, "#detail-params", 'def",', 3, 2)
        assert quote["left"] >= d["right"] - 0.5, (d, quote)
        page.keyboard.press("Escape")
        # The closed dialog takes the address back to the view (its close event
        # comes a moment later): a navigation before that would be undone.
        expect(page.locator("#detail")).to_be_hidden()
        expect(page).not_to_have_url(re.compile(r"#/jobs/"))

        # The failed job: its log lines and its error are isolated, their
        # direction their own; the stream tag before a line stays at its start.
        page.goto(f"{bidi.url}/#/jobs/{failed['id']}")
        expect(page.locator("#detail-title")).to_contain_text(f"Job #{failed['id']}")
        line = page.locator("#log-rows .ll .text", has_text="looking at abc")
        expect(line).to_have_count(1)
        assert line.evaluate("e => getComputedStyle(e).unicodeBidi") == "plaintext"
        tag = line.locator("xpath=preceding-sibling::span[1]")
        assert tag.bounding_box()["x"] < line.bounding_box()["x"]
        expect(page.locator("#detail-error")).to_contain_text("cannot do abc")
        for selector in ("#detail-error", "#detail-params", ".attempt-error"):
            if page.locator(selector).count():
                assert bidi_of(page, selector) == "plaintext", selector
        for selector in ("#detail-message", "#detail-title"):
            assert bidi_of(page, selector) == "isolate", selector
        page.screenshot(path=os.path.join(output, "bidi-detail.png"))
        page.keyboard.press("Escape")

        # The list row's message ("Failed: ...") is isolated from the row's other text.
        page.goto(f"{bidi.url}/#/")
        row = t.row(failed["id"])
        expect(row.locator(".message")).to_contain_text("Failed")
        assert row.locator(".message").evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
        assert t.errors == [], t.errors
    finally:
        t.close()
