import re

import pytest
from playwright.sync_api import expect

from claims.models import Claim

pytestmark = pytest.mark.django_db(transaction=True)


def test_several_statuses_are_chosen_at_once_and_kept_in_the_url(page, sign_in):
    sign_in("viewer")
    expected = Claim.objects.filter(status__in=["open", "waiting"]).count()

    page.get_by_label("Open", exact=True).check()

    expect(page).to_have_url(re.compile(r"\?.*status=open&status=waiting"))
    expect(page.locator(".pager")).to_contain_text(f"of {expected}")
    expect(page.locator(".tab.active")).to_have_count(0)


def test_a_tab_click_updates_the_status_boxes_and_the_url(page, sign_in, synced_server):
    sign_in("viewer")

    page.get_by_role("link", name=re.compile(r"^Rejected")).click()

    expect(page).to_have_url(f"{synced_server.url}/?status=rejected")
    expect(page.get_by_label("Rejected", exact=True)).to_be_checked()
    expect(page.get_by_label("Waiting", exact=True)).not_to_be_checked()
    expect(page.locator(".claim-row .badge").first).to_have_text("Rejected")


def test_back_forward_and_reload_restore_filters_tabs_and_the_open_claim(
    page, sign_in, synced_server
):
    sign_in("viewer")
    claim = Claim.objects.filter(status="waiting", type="refund").order_by("created_at", "id")[0]

    page.get_by_label("Type").select_option("refund")
    expect(page).to_have_url(re.compile(r"type=refund"))
    page.locator(f"#open-{claim.pk}").click()
    expect(page).to_have_url(re.compile(rf"/claims/{claim.pk}/\?.*type=refund"))

    page.go_back()
    expect(page.locator(".claim-detail")).to_have_count(0)
    expect(page.get_by_label("Type")).to_have_value("refund")
    page.go_forward()
    expect(page.locator("#claim-heading")).to_have_text(claim.return_code)
    page.reload()
    expect(page.locator("#claim-heading")).to_have_text(claim.return_code)
    expect(page.get_by_label("Type")).to_have_value("refund")
    expect(page.locator(".topbar")).to_have_count(1)


def test_back_loads_the_whole_page_from_the_server_not_a_fragment(page, sign_in, synced_server):
    sign_in("viewer")
    waiting = Claim.objects.filter(status="waiting").count()
    restores = []
    page.on(
        "request",
        lambda request: (
            restores.append(request.url)
            if request.headers.get("hx-history-restore-request")
            else None
        ),
    )

    page.get_by_label("Type").select_option("cancel")
    expect(page).to_have_url(re.compile(r"type=cancel"))
    page.go_back()

    expect(page).to_have_url(f"{synced_server.url}/")
    expect(page.locator(".pager")).to_contain_text(f"of {waiting}")
    assert restores == [f"{synced_server.url}/"]
    expect(page.locator(".topbar")).to_have_count(1)
    expect(page.locator("#queue-filters")).to_have_count(1)
    expect(page.get_by_label("Type")).to_have_value("")


def test_a_shared_link_reproduces_the_view(page, sign_in, synced_server):
    sign_in("viewer")
    approved = Claim.objects.filter(status="approved", type="cancel")
    expected = approved.order_by("-updated_at", "-id")

    page.goto(f"{synced_server.url}/?status=approved&type=cancel&sort=updated&per_page=50")

    codes = page.locator(".claim-row .open-claim").all_inner_texts()
    assert codes == [c.return_code or c.package_item for c in expected[:50]]
    expect(page.get_by_label("Sort")).to_have_value("updated")
    expect(page.get_by_label("Per page")).to_have_value("50")
