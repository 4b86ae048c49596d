import pytest
from playwright.sync_api import expect

from claims import bulk
from claims.models import BulkRun, Claim

pytestmark = pytest.mark.django_db(transaction=True)


def waiting(n):
    return list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:n])


def test_a_lead_ticks_two_claims_approves_them_in_bulk_and_reads_the_report(
    page, sign_in, sandbox
):
    sign_in("lead")
    first, second = waiting(2)

    page.locator(f"#select-{first.pk}").check()
    page.locator(f"#select-{second.pk}").check()
    # A poll of the results must not lose the ticks or what was typed in the bar.
    page.locator("#bulk-bar summary").click()
    page.get_by_label("Reason, when rejecting").fill("kept across polls")
    page.evaluate("htmx.trigger('#queue-poll', 'claimdesk:poll')")
    page.wait_for_load_state("networkidle")
    expect(page.locator(f"#select-{first.pk}")).to_be_checked()
    expect(page.get_by_label("Reason, when rejecting")).to_have_value("kept across polls")
    page.get_by_label("Approve", exact=True).check()
    page.get_by_role("button", name="Start bulk decision").click()

    expect(page.get_by_role("heading", name="Approving 2 claims")).to_be_visible()
    bulk.advance(BulkRun.objects.get().pk)  # what the worker does, here in the test's process
    expect(page.locator("#count-sent")).to_have_text("2")
    expect(page.locator(".bulk-report tbody tr")).to_have_count(2)
    expect(page.locator(".bulk-report")).to_contain_text("Claim approved.")
    assert {sandbox.claim(c.pk)["status"] for c in (first, second)} == {"approved"}
