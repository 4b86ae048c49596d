import re

import pytest
from playwright.sync_api import expect

from claims import refresh
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_poll(settings):
    # The live server runs in this process, so it sees the setting.
    settings.QUEUE_POLL_SECONDS = 1


def test_new_claims_appear_without_a_reload_and_focus_stays(
    page, sign_in, sandbox, synced_server, fast_poll
):
    sign_in("viewer")
    page.goto(f"{synced_server.url}/?sort=newest")
    waiting_before = int(page.locator("#tab-waiting .count").inner_text())
    page.keyboard.press("j")
    focused = page.evaluate("document.activeElement.id")

    [new] = sandbox.add_claims(1)
    sandbox.update_claim(new["id"], status="waiting")
    sync_everything()

    expect(page.locator(f"#claim-row-{new['id']}")).to_be_visible(timeout=8000)
    expect(page.locator("#tab-waiting .count")).not_to_have_text(str(waiting_before))
    assert page.evaluate("document.activeElement.id") == focused
    expect(page).to_have_url(f"{synced_server.url}/?sort=newest")


def test_an_agent_refreshes_and_the_header_follows_the_sync_until_it_is_done(
    page, sign_in, sandbox, fast_poll
):
    sign_in("agent")
    [new] = sandbox.add_claims(1)
    sandbox.faults.delay_next(1, seconds=2.5, path_contains="claim-reasons")

    page.get_by_role("button", name="Refresh now").click()

    expect(page.locator("#freshness")).to_contain_text("Syncing with the Seller Center")
    page.get_by_label("Search").fill(new["package_item"])
    expect(page.locator("#freshness")).to_contain_text(re.compile(r"Synced \d+"), timeout=15000)
    expect(page.locator(f"#claim-row-{new['id']}")).to_have_count(1, timeout=8000)
    refresh.wait(timeout=10)


def test_a_failed_refresh_is_shown_with_its_reason(page, sign_in, sandbox, fast_poll):
    sign_in("agent")
    sandbox.faults.fail_next(5, status=401, path_contains="claim-reasons")

    page.get_by_role("button", name="Refresh now").click()

    expect(page.locator("#freshness")).to_contain_text("Last sync failed:", timeout=15000)
    expect(page.locator("#freshness .sync-error")).to_contain_text("API key")
    refresh.wait(timeout=10)


def test_a_viewer_has_no_refresh_button_and_no_decision_controls(page, sign_in):
    sign_in("viewer")

    page.locator(".open-claim").first.click()

    expect(page.locator(".claim-detail")).to_be_visible()
    expect(page.get_by_role("button", name="Refresh now")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_label("Reason", exact=True)).to_have_count(0)
