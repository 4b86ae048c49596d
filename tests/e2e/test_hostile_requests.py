"""Requests that go wrong in a real browser: an expired session during an htmx request opens
the sign-in page as a whole page, and an htmx request that fails, or never reaches ClaimDesk,
says so in the page's message area instead of silently doing nothing."""

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from claims import queries
from claims.models import Claim

pytestmark = pytest.mark.django_db(transaction=True)


def oldest_waiting():
    return Claim.objects.filter(status="waiting").order_by("created_at", "id").first()


def test_an_expired_session_during_an_htmx_request_opens_the_sign_in_page(
    page, sign_in, synced_server
):
    sign_in("agent")
    claim = oldest_waiting()
    Session.objects.all().delete()

    page.locator(f"#open-{claim.pk}").click()

    expect(page).to_have_url(f"{synced_server.url}/login/?next=%2F")
    expect(page.get_by_role("heading", name="Sign in to ClaimDesk")).to_be_visible()
    expect(page.locator("#detail-pane")).to_have_count(0)
    expect(page.locator("header.topbar")).to_have_count(1)  # one page, not one inside another


def test_an_htmx_request_the_server_fails_shows_a_message(
    page, sign_in, synced_server, monkeypatch
):
    sign_in("agent")
    claim = oldest_waiting()

    def broken(claim):
        raise RuntimeError("the history could not be read")

    monkeypatch.setattr(queries, "claim_history", broken)
    page.locator(f"#open-{claim.pk}").click()

    expect(page.locator("#flash .flash-error")).to_have_text(
        "ClaimDesk had a problem answering. Nothing was changed; try again. (500)"
    )
    expect(page.locator("#detail-pane .pane-placeholder")).to_be_visible()


def test_an_htmx_request_that_never_reaches_claimdesk_shows_a_message(
    page, sign_in, synced_server
):
    sign_in("agent")
    claim = oldest_waiting()
    page.route(re.compile(r"/claims/[0-9a-f-]{36}/"), lambda route: route.abort())

    page.locator(f"#open-{claim.pk}").click()

    expect(page.locator("#flash .flash-error")).to_have_text(
        "ClaimDesk could not be reached. Check your connection."
    )
    expect(page.locator("#detail-pane .pane-placeholder")).to_be_visible()
