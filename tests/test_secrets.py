"""Secrets: the Seller Center API key, session ids, passwords and set-password links appear in
no log line, page, error e-mail, stored error or exception; and DEBUG is off unless asked for.

One test walks a day's worth of ClaimDesk with each secret in play: a sign-in with a wrong and
then the right password, a new member setting theirs, the queue and a claim, a decision the
Seller Center refuses in words that quote the key, one it fails with an HTML page quoting it,
a sync it refuses, and a view and a sign-in that crash with error e-mails on. Every log record
at DEBUG, from every logger, and everything shown or stored is then searched for them.
"""

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from claims import audit, queries, team
from claims.models import AuditEvent, Claim, Decision, SyncState
from claims.seller_center import SellerCenterError
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sc-live-" + secrets.token_hex(16)
PASSWORD = "Harbour-" + secrets.token_urlsafe(12)
WRONG_PASSWORD = "Harbor-" + secrets.token_urlsafe(12)
NEW_PASSWORD = "Lighthouse-" + secrets.token_urlsafe(12)
SIGNING_KEY = "signing-" + secrets.token_urlsafe(40)


class Seen:
    """Everything the walk showed, stored or raised, to search for secrets afterwards."""

    def __init__(self):
        self.texts = []

    def page(self, response):
        if not response.streaming:
            self.texts.append(response.content.decode(errors="replace"))
        return response

    def add(self, *texts):
        self.texts += [str(text) for text in texts]


@pytest.fixture
def every_log_record(caplog):
    """caplog at DEBUG for the root and for every logger that sets a level of its own."""
    caplog.set_level(logging.DEBUG)
    for name in [*logging.root.manager.loggerDict, "django.request", "django.security"]:
        logger = logging.getLogger(name)
        if logger.level:
            caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def keyed_sandbox(sandbox, settings):
    settings.SELLER_CENTER_API_KEY = API_KEY
    settings.SECRET_KEY = SIGNING_KEY
    settings.ADMINS = [("", "ops@example.com")]
    previous, sandbox.api_key = sandbox.api_key, API_KEY
    yield sandbox
    sandbox.api_key = previous


@pytest.fixture
def html_error_emails(monkeypatch):
    """The error e-mail's HTML part too, which shows every frame's local variables."""
    (handler,) = logging.getLogger("django").handlers
    monkeypatch.setattr(handler, "include_html", True)


def sign_in(seen, client, username, password):
    seen.page(client.get(reverse("login")))
    form = {"username": username, "password": password}
    return seen.page(client.post(reverse("login"), form))


def set_password_of_new_member(seen, lead):
    invitation = team.add_member(
        lead, email="new.agent@example.com", role="agent", site_url="http://testserver/"
    )
    newcomer = Client()
    form_page = newcomer.get(invitation.link.removeprefix("http://testserver"), follow=True)
    seen.page(form_page)
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    done = seen.page(newcomer.post(form_page.redirect_chain[-1][0], form))
    assert done.status_code == 302
    return invitation.link


def decide_against_a_hostile_seller_center(seen, client, sandbox):
    waiting = list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:2])
    echo = f'{{"detail": "Key {API_KEY} may not reject this claim", "code": "denied"}}'
    sandbox.faults.fail_next(1, 400, echo, "application/json")
    seen.page(client.post(reverse("claims:reject", args=[waiting[0].pk]), {"reason": "Worn."}))
    sandbox.faults.fail_next(1, 500, f"<h1>Server Error</h1><pre>Authorization: {API_KEY}</pre>")
    seen.page(client.post(reverse("claims:approve", args=[waiting[1].pk])))
    assert Decision.objects.count() == 2


def sync_refused(seen, sandbox):
    refusal = f'{{"detail": "Invalid token {API_KEY}.", "code": "authentication_failed"}}'
    sandbox.faults.fail_next(1, 401, refusal, "application/json")
    with pytest.raises(SellerCenterError) as raised:
        sync_everything()
    seen.add(raised.value, repr(raised.value), raised.value.message)


def crash_a_view(seen, client, monkeypatch):
    claim = Claim.objects.first()

    def broken(claim):
        raise RuntimeError("the history could not be read")

    monkeypatch.setattr(queries, "claim_history", broken)
    crashed = seen.page(client.get(reverse("claims:detail", args=[claim.pk])))
    monkeypatch.undo()
    assert crashed.status_code == 500


def crash_a_sign_in(seen, monkeypatch, username):
    def broken(*args, **kwargs):
        raise RuntimeError("the audit could not be written")

    monkeypatch.setattr(audit, "record", broken)
    crashed = sign_in(seen, Client(raise_request_exception=False), username, PASSWORD)
    monkeypatch.undo()
    assert crashed.status_code == 500


def test_no_secret_reaches_a_log_line_a_page_an_error_email_or_a_stored_error(
    keyed_sandbox, member, every_log_record, html_error_emails, monkeypatch
):
    seen = Seen()
    sync_everything()
    user = member("lead", username="lead@example.com")
    user.set_password(PASSWORD)
    user.save()
    client = Client(raise_request_exception=False)

    sign_in(seen, client, user.username, WRONG_PASSWORD)
    assert sign_in(seen, client, user.username, PASSWORD).status_code == 302
    session_id = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    link = set_password_of_new_member(seen, user)
    claim = Claim.objects.filter(status="waiting").first()
    seen.page(client.get(reverse("claims:queue")))
    seen.page(client.get(reverse("claims:detail", args=[claim.pk]), HTTP_HX_REQUEST="true"))
    decide_against_a_hostile_seller_center(seen, client, keyed_sandbox)
    sync_refused(seen, keyed_sandbox)
    seen.page(client.get(reverse("claims:queue")))  # the header shows the failed sync
    seen.page(client.get(reverse("audit:events")))
    crash_a_view(seen, client, monkeypatch)
    crash_a_sign_in(seen, monkeypatch, user.username)

    assert len(mail.outbox) == 2
    for email in mail.outbox:
        seen.add(email.subject, email.body, *(part for part, _type in email.alternatives))
    seen.add(*SyncState.objects.values_list("error", flat=True))
    seen.add(*Decision.objects.values_list("upstream_message", flat=True))
    seen.add(*AuditEvent.objects.values_list("details", flat=True))
    for record in every_log_record.records:
        seen.add(record.getMessage(), record.exc_text or "", vars(record))
    seen.add(every_log_record.text)
    token = link.rstrip("/").rsplit("/", 1)[1]
    leaked = {
        name: [text[:200] for text in seen.texts if secret in text]
        for name, secret in {
            "API key": API_KEY,
            "signing key": SIGNING_KEY,
            "session id": session_id,
            "password": PASSWORD,
            "wrong password": WRONG_PASSWORD,
            "new password": NEW_PASSWORD,
            "set-password token": token,
        }.items()
    }
    assert leaked == {name: [] for name in leaked}
    assert "Key [redacted] may not reject this claim" in Decision.objects.values_list(
        "upstream_message", flat=True
    )
    assert any("the history could not be read" in email.body for email in mail.outbox)


def test_a_server_error_page_shows_no_traceback(client, member, sandbox, monkeypatch):
    sync_everything()
    client.force_login(member("agent"))
    monkeypatch.setattr(queries, "claim_history", lambda claim: 1 / 0)
    client.raise_request_exception = False

    response = client.get(reverse("claims:detail", args=[Claim.objects.first().pk]))

    page = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Server Error (500)</h1>" in page
    assert "ZeroDivisionError" not in page and "Traceback" not in page and "SECRET" not in page


def settings_debug(**environment):
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "claimdesk.settings",
        **environment,
    }
    shown = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return shown.stdout.strip() or shown.stderr.strip().splitlines()[-1]


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a .env file here sets the defaults")
def test_debug_is_off_unless_asked_for():
    assert settings_debug(SECRET_KEY=SIGNING_KEY) == "False"
    assert settings_debug(SECRET_KEY=SIGNING_KEY, DEBUG="false") == "False"
    assert settings_debug(SECRET_KEY=SIGNING_KEY, DEBUG="true") == "True"
    assert settings_debug() == (
        "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off."
    )
