"""axe-core in the browser on each screen of the triage loop.

axe-playwright-python ships axe-core inside the package and injects it into the page, so these
checks load nothing from the network.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from claims.models import CannedReason

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING = {"serious", "critical"}


def blocking_violations(page):
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): "
        + "; ".join(node["target"][0] for node in violation["nodes"][:5])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


def test_the_queue_has_no_serious_accessibility_violations(page, sign_in):
    sign_in("agent")
    page.locator(".more-filters summary").click()

    assert blocking_violations(page) == []


def test_the_detail_pane_and_decision_forms_have_none(page, sign_in):
    CannedReason.objects.create(text="The product was used.")
    sign_in("agent")

    page.locator(".open-claim").first.click()
    page.get_by_label("Image URL 1").fill("https://127.0.0.1:9/evidence.png")
    expect(page.locator(".reject-form")).to_be_visible()

    assert blocking_violations(page) == []


def test_the_reject_form_showing_its_errors_has_none(page, sign_in):
    sign_in("agent")

    page.locator(".open-claim").first.click()
    page.get_by_label("Image URL 1").fill("http://127.0.0.1:9/not-https.png")
    page.get_by_role("button", name="Reject claim").click()
    expect(page.locator("#reason-error")).to_be_visible()

    assert blocking_violations(page) == []


def test_the_keyboard_help_and_a_viewers_pane_have_none(page, sign_in):
    sign_in("viewer")

    page.locator(".open-claim").first.click()
    expect(page.locator(".claim-detail")).to_be_visible()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()

    assert blocking_violations(page) == []


def test_the_saved_reasons_page_has_none(page, sign_in, synced_server):
    CannedReason.objects.create(text="The seal is broken.")
    sign_in("lead")

    page.goto(f"{synced_server.url}/reasons/")
    page.get_by_role("button", name="Save reason").click()
    expect(page.locator("#text-error")).to_be_visible()

    assert blocking_violations(page) == []


def test_the_queue_is_usable_1024_pixels_wide(page, sign_in):
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in("agent")

    page.locator(".open-claim").first.click()

    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1]
    expect(page.get_by_role("button", name="Reject claim")).to_be_visible()
    assert blocking_violations(page) == []
