"""Forged and misdirected requests: CSRF on every POST (htmx's too), sign-out only by POST, a
sign-in `next` that never leaves the site, and an expired session sent to a whole sign-in page.
"""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from claims import refresh
from claims.models import BulkRun, CannedReason, Claim, Decision
from claims.sync import sync_everything
from tests.test_access import EXPECTED, World, project_patterns, url_of

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def synced(sandbox):
    sync_everything()
    return sandbox


@pytest.fixture
def world(member, synced):
    admin = member("admin", username="admin@example.com")
    return World(
        members={"admin": admin},
        claim=Claim.objects.filter(status="waiting").order_by("created_at", "id").first(),
        colleague=member("agent", username="colleague@example.com"),
        reason=CannedReason.objects.create(text="Item was used."),
        bulk_run=BulkRun.objects.create(actor=admin, action="approve", created_at=timezone.now()),
    )


def post_patterns():
    """Every URL pattern that answers a POST from someone, as the access table says."""
    for pattern in project_patterns():
        row = EXPECTED[pattern.key]
        if any(answer != 405 for answer in row.get("POST", row["*"])):
            yield pattern


def form_for(key, world):
    """A body that would do something with a valid token; empty where none is needed."""
    return {
        "login": {"username": world.members["admin"].username, "password": PASSWORD},
        "claims:reject": {"reason": "Used item.", "images": "https://127.0.0.1/e.png"},
        "claims:canned_reasons": {"text": "Tags removed."},
        "claims:bulk_start": {"action": "approve", "scope": "selected", "claims": world.claim.pk},
        "team:add": {"email": "new@example.com", "role": "agent"},
        "team:role": {"role": "lead"},
    }.get(key, {})


def database_fingerprint():
    """A digest of every table's rows, and the session keys: what any change would alter.

    Sessions are compared by key, since every answer pushes the session's expiry forward.
    """
    digests = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            if table == "django_session":
                continue
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT t::text FROM {quoted} AS t ORDER BY 1")  # noqa: S608
            rows = "\n".join(row[0] for row in cursor.fetchall())
            digests[table] = hashlib.sha256(rows.encode()).hexdigest()
    return digests, set(Session.objects.values_list("session_key", flat=True))


# CSRF ---------------------------------------------------------------------------------------


def upstream_posts(sandbox):
    return [r for r in sandbox.requests if r.method == "POST"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(world, synced, headers):
    patterns = list(post_patterns())
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(world.members["admin"])
    anonymous = Client(enforce_csrf_checks=True)
    before = database_fingerprint()

    answers = {}
    for pattern in patterns:
        client = anonymous if pattern.key in ("login", "team:set_password") else signed_in
        url = url_of(pattern, world)
        answers[pattern.key] = client.post(url, form_for(pattern.key, world), **headers)
    refresh.wait(timeout=10)

    assert {key: response.status_code for key, response in answers.items()} == {
        key: 403 for key in answers
    }
    assert {"logout", "claims:approve", "claims:reject", "team:role"} <= set(answers)
    assert database_fingerprint() == before
    assert upstream_posts(synced) == []
    assert signed_in.get(reverse("claims:queue")).status_code == 200  # still signed in


def test_the_same_htmx_post_with_its_token_goes_through(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.members["admin"])
    client.get(reverse("claims:queue"))
    token = client.cookies["csrftoken"].value

    response = client.post(
        reverse("claims:approve", args=[world.claim.pk]), HTTP_X_CSRFTOKEN=token, **HTMX
    )

    assert response.status_code == 200
    assert Decision.objects.get().claim_id == world.claim.pk


# Sign-out -----------------------------------------------------------------------------------


def test_signing_out_by_get_is_refused_and_leaves_the_member_signed_in(client, member):
    client.force_login(member("agent"))

    response = client.get(reverse("logout"))

    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert client.get(reverse("claims:queue")).status_code == 200


def test_signing_out_by_post_ends_the_session(client, member):
    client.force_login(member("agent"))
    session_key = client.session.session_key

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert not Session.objects.filter(session_key=session_key).exists()
    assert client.get(reverse("claims:queue")).status_code == 302


# The sign-in's `next` -----------------------------------------------------------------------

LEAVING = [
    "https://evil.test/",
    "http://evil.test/claims/",
    "//evil.test/",
    "///evil.test/",
    "/\\evil.test/",
    "\\\\evil.test/",
    "\\/evil.test/",
    "/\\/evil.test/",
    "https:evil.test",
    "https:/evil.test",
    "http://testserver@evil.test/",
    " //evil.test/",
    "\t//evil.test/",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://evil.test/",
]


@pytest.mark.parametrize("next_url", LEAVING)
def test_the_sign_in_never_sends_anyone_off_the_site(client, member, next_url):
    user = member("agent")

    shown = client.get(reverse("login"), {"next": next_url})
    signed_in = client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD, "next": next_url}
    )
    again = client.get(reverse("login"), {"next": next_url})

    assert 'name="next" value=""' in shown.content.decode()
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/")
    assert (again.status_code, again["Location"]) == (302, "/")


def test_the_sign_in_keeps_a_next_within_the_site(client, member):
    user = member("agent")
    next_url = "/claims/0b7c2a64-5cf0-4bd4-9f3e-3f8f0d8f5a11/?type=refund&q=R-1"

    signed_in = client.post(
        reverse("login"), {"username": user.username, "password": PASSWORD, "next": next_url}
    )

    assert signed_in["Location"] == next_url


def test_an_htmx_sign_in_redirect_never_names_another_site_as_next(client):
    response = client.get(
        reverse("claims:queue"), HTTP_HX_CURRENT_URL="https://evil.test/phish?x=1", **HTMX
    )

    assert response["HX-Redirect"] == "/login/?next=%2F"


# An expired session -------------------------------------------------------------------------


def expire(client):
    past = timezone.now() - timedelta(seconds=1)
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=past)


def test_an_expired_session_sends_an_htmx_pane_request_to_a_whole_sign_in_page(
    client, member, synced
):
    claim = Claim.objects.filter(status="waiting").first()
    client.force_login(member("agent"))
    expire(client)
    current = f"http://testserver/claims/{claim.pk}/?type=refund"

    response = client.get(
        reverse("claims:detail", args=[claim.pk]),
        HTTP_HX_CURRENT_URL=current,
        HTTP_HX_TARGET="detail-pane",
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/login/?next=%2Fclaims%2F{claim.pk}%2F%3Ftype%3Drefund"
    assert response.content == b""


def test_an_expired_session_sends_an_htmx_decision_to_sign_in_and_decides_nothing(
    client, member, synced
):
    claim = Claim.objects.filter(status="waiting").first()
    client.force_login(member("agent"))
    expire(client)

    response = client.post(
        reverse("claims:approve", args=[claim.pk]),
        HTTP_HX_CURRENT_URL=f"http://testserver/claims/{claim.pk}/",
        **HTMX,
    )

    assert response["HX-Redirect"] == f"/login/?next=%2Fclaims%2F{claim.pk}%2F"
    assert not Decision.objects.exists()
    assert upstream_posts(synced) == []
