import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from claims.models import AuditEvent, Claim, Decision

from .test_queue_accessibility import blocking_violations

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_agent_finds_their_decision_in_the_audit_filters_it_and_downloads_it(
    page, sign_in, synced_server
):
    agent = sign_in("agent")
    claim = Claim.objects.filter(status="waiting").order_by("created_at", "id").first()
    page.goto(f"{synced_server.url}/claims/{claim.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice-success")).to_have_text("Claim approved.")

    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Outcome").select_option("succeeded")
    expect(page).to_have_url(re.compile(r"outcome=succeeded"))
    sent = AuditEvent.objects.get(claim=claim, action="decision.sent")
    expect(page.locator(".audit-row")).to_have_count(2)  # the sign-in and the decision
    expect(page.locator(f"#event-{sent.pk}")).to_contain_text("Decision sent")
    assert blocking_violations(page) == []
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these events as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(row["action"], row["person"]) for row in rows] == [
        ("decision.sent", agent.username),
        ("auth.login", agent.username),
    ]

    page.locator(f"#event-{sent.pk}").get_by_role("link", name=claim.return_code).click()
    trail = page.locator(".audit-trail")
    expect(trail.locator("li")).to_have_count(2)
    expect(trail.locator("li").first).to_contain_text("Decision sent")
    assert Decision.objects.get(claim=claim).state == "sent"


def test_a_lead_reads_the_reports_as_charts_with_their_tables(page, sign_in, synced_server):
    sign_in("lead")

    page.get_by_role("link", name="Reports").click()
    page.get_by_label("From", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(r"start=2026-01-01"))
    charts = page.get_by_role("img")
    expect(charts).to_have_count(6)
    expect(charts.first).to_have_accessible_name("Claims opened per day")
    expect(page.locator(".report table")).to_have_count(6)
    assert blocking_violations(page) == []
