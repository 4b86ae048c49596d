import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from claims.models import Claim, Decision

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "tr": {
        "heading": "Talep kuyruğu",
        "type": "Tür",
        "refund": "İade",
        "search": "Ara",
        "waiting": "Bekliyor",
        "customer": "Müşterinin açıklaması",
        "approve": "Onayla",
        "confirm": "Bu talep onaylansın mı? Seller Center'a hemen bildirilir.",
        "approved": "Talep onaylandı.",
        "status": "Onaylandı",
        "header": "tr-tr",
    },
    "en": {
        "heading": "Claims queue",
        "type": "Type",
        "refund": "Refund",
        "search": "Search",
        "waiting": "Waiting",
        "customer": "Customer's words",
        "approve": "Approve",
        "confirm": "Approve this claim? The Seller Center is told at once.",
        "approved": "Claim approved.",
        "status": "Approved",
        "header": "en-us",
    },
}


@pytest.mark.parametrize("language", ["tr", "en"])
def test_an_agent_triages_in_their_own_language(page, sign_in, sandbox, language):
    words = WORDS[language]
    agent = sign_in("agent")
    get_user_model().objects.filter(pk=agent.pk).update(language=language)
    page.reload()
    claim = Claim.objects.filter(status="waiting", type="refund").exclude(return_code="").first()

    expect(page.get_by_role("heading", name=words["heading"])).to_be_visible()
    page.get_by_label(words["type"], exact=True).select_option(label=words["refund"])
    expect(page).to_have_url(re.compile(r"type=refund"))
    page.get_by_label(words["search"], exact=True).fill(claim.return_code)
    expect(page.locator(".claim-row")).to_have_count(1)
    expect(page.locator(f"#claim-row-{claim.pk} .badge")).to_have_text(words["waiting"])

    page.get_by_role("link", name=claim.return_code).click()
    expect(page.locator("#claim-heading")).to_have_text(claim.return_code)
    expect(page.locator(".claim-detail .fields")).to_contain_text(words["customer"])
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name=words["approve"], exact=True).click()

    expect(page.locator(".notice-success")).to_have_text(words["approved"])
    expect(page.locator(f"#claim-row-{claim.pk} .badge")).to_have_text(words["status"])
    assert asked == [words["confirm"]]
    [sent] = [r for r in sandbox.requests if r.path.endswith(f"/{claim.pk}/approve/")]
    assert sent.headers["Accept-Language"] == words["header"]
    assert Decision.objects.get(claim=claim).state == "sent"


def test_switching_language_keeps_the_claim_that_is_open(page, sign_in):
    agent = sign_in("agent")
    page.locator(".open-claim").first.click()
    expect(page).to_have_url(re.compile(r"/claims/[0-9a-f-]+/"))
    shown = page.url
    code = page.locator("#claim-heading").inner_text()

    page.get_by_role("button", name="Türkçe").click()

    expect(page.get_by_role("heading", name="Talep kuyruğu")).to_be_visible()
    assert page.url == shown
    expect(page.locator("#claim-heading")).to_have_text(code)
    agent.refresh_from_db()
    assert agent.language == "tr"

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Claims queue")).to_be_visible()
    assert page.url == shown


def test_a_first_visit_speaks_the_browsers_language(browser, synced_server):
    context = browser.new_context(locale="tr-TR")
    page = context.new_page()

    page.goto(f"{synced_server.url}/login/")

    expect(page.get_by_role("heading", name="ClaimDesk'e giriş yapın")).to_be_visible()
    expect(page.get_by_label("Kullanıcı adı")).to_be_visible()
    context.close()
