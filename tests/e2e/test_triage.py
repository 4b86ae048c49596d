import json
import re

import pytest
from playwright.sync_api import expect

from claims.models import Claim, Decision

pytestmark = pytest.mark.django_db(transaction=True)


def oldest_waiting():
    return Claim.objects.filter(status="waiting").order_by("created_at", "id").first()


def test_an_agent_filters_searches_and_approves_the_oldest_claim(page, sign_in, sandbox):
    sign_in("agent")
    claim = oldest_waiting().__class__.objects.filter(status="waiting", type="refund").first()

    page.get_by_label("Type").select_option("refund")
    expect(page).to_have_url(re.compile(r"type=refund"))
    page.get_by_label("Search").fill(claim.return_code)
    expect(page.locator(".claim-row")).to_have_count(1)

    page.get_by_role("link", name=claim.return_code).click()
    expect(page.locator("#claim-heading")).to_have_text(claim.return_code)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve").click()

    expect(page.locator(".notice-success")).to_have_text("Claim approved.")
    expect(page.locator(f"#claim-row-{claim.pk} .badge")).to_have_text("Approved")
    assert sandbox.claim(claim.pk)["status"] == "approved"
    assert Decision.objects.get(claim=claim).state == "sent"


def test_an_agent_rejects_with_two_previewed_evidence_images(page, sign_in, sandbox):
    sign_in("agent")
    claim = oldest_waiting()
    images = [f"{sandbox.url}/evidence/one.png", f"{sandbox.url}/evidence/two.png"]
    https_images = [url.replace("http://", "https://") for url in images]

    page.locator(".open-claim").first.click()
    page.get_by_label("Reason", exact=True).fill("The seal is broken: the item was used.")
    page.get_by_label("Image URL 1").fill(https_images[0])
    page.get_by_role("button", name="Add another image").click()
    page.get_by_label("Image URL 2").fill(https_images[1])
    expect(page.locator(".thumb:visible")).to_have_count(2)
    page.get_by_role("button", name="Reject claim").click()

    expect(page.locator(".notice-success")).to_have_text("Claim rejected.")
    [sent] = [r for r in sandbox.requests if r.path.endswith(f"/{claim.pk}/reject/")]
    assert json.loads(sent.body)["images"] == https_images


def test_a_rejection_without_a_reason_is_explained_and_keeps_the_images(page, sign_in):
    sign_in("agent")
    kept = "https://127.0.0.1:9/kept.jpg"

    page.locator(".open-claim").first.click()
    page.get_by_label("Image URL 1").fill(kept)
    page.get_by_role("button", name="Reject claim").click()

    expect(page.locator("#reason-error")).to_contain_text("Say why the claim is rejected.")
    expect(page.get_by_label("Image URL 1")).to_have_value(kept)
    assert not Decision.objects.exists()


def test_back_after_filtering_restores_the_previous_view(page, sign_in, synced_server):
    sign_in("viewer")
    all_rows = page.locator(".claim-row").count()

    page.get_by_label("Type").select_option("cancel")
    expect(page).to_have_url(re.compile(r"type=cancel"))
    page.go_back()

    expect(page).to_have_url(f"{synced_server.url}/")
    expect(page.locator(".claim-row")).to_have_count(all_rows)
    page.reload()
    expect(page.locator("html")).to_have_count(1)
    expect(page.locator(".claim-row")).to_have_count(all_rows)


def test_a_viewer_sees_claims_but_no_decision_controls(page, sign_in):
    sign_in("viewer")

    page.locator(".open-claim").first.click()

    expect(page.locator(".claim-detail")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject claim")).to_have_count(0)
