"""The Content-Security-Policy refuses inline script and style: no page of ClaimDesk needs any."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

# Runs before any script of each page, so it hears every violation from the first byte on.
LISTEN = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ` +
    `${event.sourceFile}:${event.lineNumber}`
  );
});
"""


class Violations:
    """Every CSP violation the browser reports, in the page's events or on its console."""

    def __init__(self, page):
        self.page = page
        self.seen = []
        page.add_init_script(LISTEN)
        page.on("console", self._console)

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.seen.append(message.text)

    def collect(self):
        """The violations so far; call before leaving a page, whose list goes with it."""
        self.seen += self.page.evaluate("window.cspViolations.splice(0)")
        return self.seen


@pytest.fixture
def violations(page):
    return Violations(page)


def test_the_browser_reports_an_inline_style_as_a_violation(page, violations, live_server):
    page.goto(f"{live_server.url}/login/")

    page.evaluate("document.body.setAttribute('style', 'color: red')")

    expect(page.locator("body")).to_have_attribute("style", "color: red")
    page.wait_for_function("window.cspViolations.length > 0")
    seen = violations.collect()
    assert "style-src-attr blocked inline at :1" in seen
    assert len(seen) == 2  # the event, and the browser's own word on the console


def test_a_lead_goes_through_every_page_without_a_violation(page, sign_in, violations):
    sign_in("lead")
    base = page.url.rstrip("/")
    expect(page.locator(".claim-row").first).to_be_visible()

    page.get_by_label("Type").select_option("refund")
    expect(page).to_have_url(re.compile(r"type=refund"))
    page.locator(".open-claim").first.click()
    expect(page.locator("#claim-heading")).to_be_visible()
    detail = page.get_by_role("region", name="Claim", exact=True)
    detail.get_by_label("Image URL 1").fill("https://127.0.0.1:9/evidence.jpg")
    detail.get_by_role("button", name="Add another image").click()
    expect(detail.get_by_label("Image URL 2")).to_be_visible()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert violations.collect() == []

    for path in ("/bulk/", "/reasons/", "/team/", "/team/add/"):
        page.goto(base + path)
        expect(page.locator("main")).to_be_visible()
        assert violations.collect() == [], path


def test_the_sign_in_page_has_no_violation(page, violations, live_server):
    page.goto(f"{live_server.url}/login/")

    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert violations.collect() == []


def test_an_admin_uses_the_django_admin_without_a_violation(page, sign_in, violations):
    sign_in("admin")
    base = page.url.rstrip("/")

    for path in ("/admin/", "/admin/password_change/"):
        page.goto(base + path)
        expect(page.locator("#content")).to_be_visible()
        assert violations.collect() == [], path
