"""Hostile content in a real browser: script, markup, htmx attributes and javascript: or data:
URLs in every claim field, the reason's subject and translations, the reason catalogue, saved
and typed rejection reasons, a member's name and a sync's error all render as text.

Each payload would set `window.pwned`, open a dialog, sign the member out through htmx, or
leave a marked element in the page, if it were ever treated as markup. After every page and
every htmx swap the test asks the browser: no flag, no dialog, no planted element, no script
but ClaimDesk's own, and no link or image source that is not http(s).
"""

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from claims import decisions
from claims.models import CannedReason, Claim, User
from claims.seller_center import SellerCenterError
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db(transaction=True)

# Short enough for the 32-character columns (type, status).
TINY = "<b class=planted>x</b>"
SVG = "<svg onload=alert(1)>"
# For the 128-character columns.
HTMX_LOGOUT = '<div class="planted" hx-post="/logout/" hx-trigger="load">P</div>'
IMG = "<img src=/planted.png class=planted onerror=\"window.pwned='img';alert(1)\">"
BREAKOUT = "\"'><script>window.pwned='breakout'</script>"
# For the text columns.
EVERYTHING = (
    "<script>window.pwned='script';alert('script')</script>"
    + IMG
    + HTMX_LOGOUT
    + '<div class="planted" hx-get="/logout/" hx-trigger="load">G</div>'
    + "<a class=planted href=\"javascript:window.pwned='link'\">click</a>"
    + '<iframe class="planted" src="javascript:alert(1)"></iframe>'
    + '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
    + BREAKOUT
    + "{{ 7|add:7 }}{% debug %}"
)

# For reasons, which take at most 500 characters.
REASON = "<script>window.pwned='reason'</script>" + IMG + HTMX_LOGOUT + BREAKOUT

# What the browser is asked after each page and swap.
INSPECT = """() => {
  const all = (selector) => Array.from(document.querySelectorAll(selector));
  const notHttp = (url) => url !== "" && !/^https?:/i.test(url);
  return {
    pwned: window.pwned === undefined ? null : String(window.pwned),
    planted: all(
      ".planted, [onerror], [onload], [onclick], iframe, svg:not(.chart-svg), object, embed, " +
        "meta[http-equiv]"
    ).map((element) => element.outerHTML.slice(0, 80)),
    scripts: all("script").map((s) => (s.src ? new URL(s.src).pathname : "inline")),
    links: all("a[href]").map((a) => a.href).filter(notHttp),
    sources: all("[src]").map((element) => element.src).filter(notHttp),
    // getAttribute: a form with a field named "action" (the bulk form) shadows form.action.
    actions: all("form[action]")
      .map((form) => new URL(form.getAttribute("action"), location.href).href)
      .filter(notHttp),
    logouts: all('[hx-get*="logout"], [hx-post*="logout"]').length,
  };
}"""
CLEAN = {"pwned": None, "planted": [], "links": [], "sources": [], "actions": [], "logouts": 0}
OWN_SCRIPTS = re.compile(r"^/static/(django_htmx/.*htmx.*\.js|claimdesk/app\.js)$")


class Browser:
    """The page, the dialogs it tried to open, and the checks after each step."""

    def __init__(self, page):
        self.page = page
        self.dialogs = []
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_clean(self, where):
        self.page.wait_for_load_state("networkidle")
        found = self.page.evaluate(INSPECT)
        scripts = found.pop("scripts")
        assert found == CLEAN, where
        assert scripts and all(OWN_SCRIPTS.match(path) for path in scripts), (where, scripts)
        assert self.dialogs == [], where


def hostile_reason(reason_id):
    return {
        "id": reason_id,
        "subject": f"Damaged {EVERYTHING}",
        "translations": {
            "en-us": f"Broken {EVERYTHING}",
            "tr-tr": f"Kırık {EVERYTHING}",
            IMG: "x",
        },
    }


def plant(sandbox, claim_id, round_mark, **fields):
    upstream = sandbox.claim(claim_id)
    reason_id = (upstream.get("reason") or {}).get("id") or str(uuid.uuid4())
    return sandbox.update_claim(
        claim_id,
        package_item=HTMX_LOGOUT,
        product=f"{round_mark} {IMG}{BREAKOUT}",
        detail=f"{round_mark} {EVERYTHING}\nsecond line {SVG}",
        return_code=IMG,
        return_tracking_number=BREAKOUT,
        reason=hostile_reason(reason_id),
        **{IMG: EVERYTHING, "courier": {"note": EVERYTHING, "links": ["javascript:alert(1)"]}},
        **fields,
    )


def hostile_catalogue(sandbox):
    catalogue = sandbox.reasons()
    catalogue[0].update(subject=EVERYTHING, translations={"en-us": EVERYTHING, "tr-tr": IMG})
    return json.dumps({"count": len(catalogue), "next": None, "results": catalogue})


@pytest.fixture
def hostile_world(synced_server, sandbox, member):
    """Three claims full of payloads, synced twice so their history holds payloads too."""
    waiting = list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:2])
    oldest = Claim.objects.exclude(pk__in=[c.pk for c in waiting]).order_by("created_at").first()
    urls = ["javascript:window.pwned='url'", "data:text/html,<script>alert(1)</script>"]
    for round_mark in ("first", "second"):
        plant(sandbox, waiting[0].pk, round_mark, return_tracking_url=urls[0], type=SVG)
        plant(sandbox, waiting[1].pk, round_mark, return_tracking_url=urls[1])
        plant(
            sandbox, oldest.pk, round_mark, return_tracking_url=" JaVaScRiPt:alert(1)", status=TINY
        )
        sandbox.faults.respond_next(1, body=hostile_catalogue(sandbox), path_contains="reasons")
        sync_everything()
    CannedReason.objects.create(text=f"Saved {REASON}")
    lead = member("lead", username="lead.hostile@example.com", first_name=IMG, last_name=BREAKOUT)
    decisions.reject(
        waiting[1].pk, lead, f"Used {REASON}", [f"https://127.0.0.1:9/a.png{BREAKOUT}"]
    )
    decisions.approve(oldest.pk, lead)  # refused, and audited with the status as it was
    return waiting + [oldest]


def test_payloads_in_every_field_render_as_text_on_the_queue_and_the_detail_pane(
    page, sign_in, synced_server, hostile_world
):
    first, rejected, odd_status = hostile_world
    browser = Browser(page)
    user = sign_in("lead")
    User.objects.filter(pk=user.pk).update(first_name=IMG, last_name=BREAKOUT)
    base = synced_server.url

    page.goto(f"{base}/")
    expect(page.locator(f"#claim-row-{first.pk}")).to_contain_text("<img src=/planted.png")
    browser.assert_clean("the queue")

    page.locator(f"#open-{first.pk}").click()
    pane = page.locator("#detail-pane .customer-text").first
    expect(pane).to_contain_text("second <script>window.pwned='script'")
    expect(page.locator("#reason-suggestion")).to_contain_text("Saved <script>")
    browser.assert_clean("the detail pane opened by htmx")

    page.locator("#tab-all").click()
    expect(page.locator(f"#claim-row-{odd_status.pk}")).to_contain_text(TINY)
    browser.assert_clean("the All tab")

    for claim in (rejected, odd_status):
        page.goto(f"{base}/claims/{claim.pk}/")
        expect(page.locator("#claim-heading")).to_have_text(IMG)
        browser.assert_clean(f"the detail page of {claim.pk}")
    expect(page.locator(".history .changes").first).to_contain_text("first <script>")

    for path in ("/audit/", "/reports/", "/reasons/", "/team/"):
        page.goto(base + path)
        browser.assert_clean(path)
    assert page.evaluate("document.cookie").count("sessionid") == 0  # HttpOnly, never scripted
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/")  # still signed in: no planted htmx signed anyone out


def test_a_hostile_rejection_typed_in_the_form_renders_as_text(
    page, sign_in, synced_server, hostile_world
):
    first = hostile_world[0]
    browser = Browser(page)
    sign_in("agent")
    page.locator(f"#open-{first.pk}").click()
    detail = page.get_by_role("region", name="Claim", exact=True)

    detail.get_by_label("Reason", exact=True).fill(f"Typed {REASON}")
    detail.get_by_label("Image URL 1").fill("javascript:window.pwned='preview'")
    detail.get_by_role("button", name="Add another image").click()
    detail.get_by_label("Image URL 2").fill("data:image/svg+xml,<svg onload=alert(1)>")
    expect(page.locator(".thumb:visible")).to_have_count(0)
    browser.assert_clean("the form with non-https image URLs typed")

    detail.get_by_role("button", name="Reject claim").click()
    expect(detail.locator(".field-error").first).to_have_text(
        "Image URL 1 must be a full https:// address."
    )
    expect(detail.get_by_label("Reason", exact=True)).to_have_value(f"Typed {REASON}")
    browser.assert_clean("the refused form")

    detail.get_by_label("Image URL 1").fill("https://127.0.0.1:9/evidence.png")
    detail.get_by_role("button", name="Remove image 2").click()
    detail.get_by_role("button", name="Reject claim").click()
    expect(page.locator(".notice-success")).to_have_text("Claim rejected.")
    browser.assert_clean("the next claim after the rejection")

    page.goto(f"{synced_server.url}/claims/{first.pk}/")
    expect(page.locator(".history .customer-text").first).to_contain_text("Typed <script>")
    browser.assert_clean("the rejected claim with its typed reason")


def test_a_sync_error_that_names_a_hostile_field_renders_as_text(
    page, sign_in, synced_server, sandbox
):
    claim_id = Claim.objects.filter(status="waiting").order_by("created_at", "id").first().pk
    reason = {"id": str(uuid.uuid4()), "subject": "x", "translations": {IMG: 5}}
    sandbox.update_claim(claim_id, reason=reason)
    with pytest.raises(SellerCenterError) as raised:
        sync_everything()
    assert IMG[:20] in raised.value.message
    browser = Browser(page)

    sign_in("viewer")

    expect(page.locator(".sync-error")).to_contain_text(f"reason.translations.{IMG[:20]}")
    browser.assert_clean("the header with the sync's error")


def test_the_browser_check_finds_markup_that_was_let_in(page, live_server):
    browser = Browser(page)
    page.goto(f"{live_server.url}/login/")

    page.evaluate("(html) => document.body.insertAdjacentHTML('beforeend', html)", EVERYTHING)

    with pytest.raises(AssertionError) as raised:
        browser.assert_clean("markup inserted on purpose")
    assert "'planted': ['<img src=\"/planted.png\"" in str(raised.value)
