import json
import re

import pytest
from playwright.sync_api import expect

from claims.models import Claim, Decision

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_in_order():
    return list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:3])


def focused_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_the_whole_triage_loop_works_from_the_keyboard(page, sign_in, sandbox):
    sign_in("agent")
    first, second, third = waiting_in_order()

    page.keyboard.press("j")
    assert focused_id(page) == f"open-{first.pk}"
    page.keyboard.press("Enter")
    expect(page.locator(".claim-detail")).to_have_attribute("data-claim-id", str(first.pk))
    expect(page.locator(".claim-detail")).to_be_focused()

    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("a")
    expect(page.locator(".claim-detail")).to_have_attribute("data-claim-id", str(second.pk))
    expect(page.locator(".notice-success")).to_have_text("Claim approved.")
    expect(page.locator(".claim-detail")).to_be_focused()
    expect(page.locator(f"#claim-row-{first.pk} .badge")).to_have_text("Approved")
    expect(page.locator(f"#claim-row-{second.pk}")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page).to_have_url(re.compile(rf"/claims/{second.pk}/$"))

    page.keyboard.press("r")
    assert focused_id(page) == "id_reason"
    page.keyboard.type("The tags were removed.")
    for _ in range(8):
        page.keyboard.press("Tab")
        if focused_id(page) == "reject-button":
            break
    page.keyboard.press("Enter")

    expect(page.locator(".claim-detail")).to_have_attribute("data-claim-id", str(third.pk))
    expect(page.locator(".notice-success")).to_have_text("Claim rejected.")
    [sent] = [r for r in sandbox.requests if r.path.endswith(f"/{second.pk}/reject/")]
    assert json.loads(sent.body) == {"reason": "The tags were removed.", "images": []}
    assert dict(Decision.objects.values_list("claim_id", "action")) == {
        first.pk: "approve",
        second.pk: "reject",
    }

    page.keyboard.press("k")
    assert focused_id(page) == f"open-{second.pk}"


def test_the_decision_is_announced_in_the_live_region(page, sign_in):
    sign_in("agent")

    page.locator(".open-claim").first.click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve").click()

    live_region = page.locator("#flash[aria-live='polite']")
    expect(live_region.locator(".announcement")).to_have_text("Claim approved.")


def test_slash_searches_question_mark_lists_the_keys_and_escape_returns_to_the_list(page, sign_in):
    sign_in("viewer")

    page.keyboard.press("j")
    row_link = focused_id(page)
    page.keyboard.press("/")
    assert focused_id(page) == "id_q"
    page.keyboard.press("Escape")
    assert focused_id(page) == row_link

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()


def test_letters_typed_into_a_field_are_not_shortcuts(page, sign_in):
    sign_in("agent")

    page.locator(".open-claim").first.click()
    page.get_by_label("Reason", exact=True).type("a rejection reason")

    expect(page.get_by_label("Reason", exact=True)).to_have_value("a rejection reason")
    assert not Decision.objects.exists()


def test_a_saved_reason_fills_the_reason_and_images_can_be_removed(page, sign_in):
    from claims.models import CannedReason

    CannedReason.objects.create(text="The product was used.")
    sign_in("agent")

    page.locator(".open-claim").first.click()
    page.get_by_label("Start from a saved reason").select_option("The product was used.")
    page.get_by_label("Image URL 1").fill("https://127.0.0.1:9/one.png")
    page.get_by_role("button", name="Add another image").click()
    page.get_by_label("Image URL 2").fill("https://127.0.0.1:9/two.png")
    page.get_by_role("button", name="Remove image 1").click()

    expect(page.get_by_label("Reason", exact=True)).to_have_value("The product was used.")
    expect(page.locator(".image-item input")).to_have_count(1)
    expect(page.get_by_label("Image URL 1")).to_have_value("https://127.0.0.1:9/two.png")
    expect(page.get_by_label("Image URL 1")).to_be_focused()
