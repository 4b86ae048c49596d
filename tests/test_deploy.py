"""Production settings: what `check --deploy` says, and the headers every answer carries."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
# The policy's directives; django-csp writes them in no fixed order.
POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' https:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}


def production_environment():
    """What a team sets in production, and nothing from this machine's own settings."""
    database = connection.settings_dict
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/"),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "claimdesk.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://claimdesk.example.com",
        "BEHIND_TLS_PROXY": "true",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "SELLER_CENTER_URL": "https://seller-center.example.com/api",
        "SELLER_CENTER_API_KEY": secrets.token_hex(20),
        "LOG_FORMAT": "json",
    }


def test_check_deploy_finds_nothing_to_warn_about_in_production_settings():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "System check identified no issues (0 silenced).\n"


def test_pages_carry_the_content_security_policy_and_the_other_security_headers(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_PRELOAD = True

    response = client.get(reverse("login"), secure=True)

    assert set(response["Content-Security-Policy"].split("; ")) == POLICY
    assert response["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_session_and_csrf_cookies_are_secure_and_the_session_cookie_http_only(
    client, settings, member
):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True

    page = client.get(reverse("login"), secure=True)
    member("agent", username="agent-a")
    signed_in = client.post(
        reverse("login"),
        {
            "username": "agent-a",
            "password": "a-long-test-password",
            "csrfmiddlewaretoken": page.context["csrf_token"],
        },
        secure=True,
    )

    session = signed_in.cookies["sessionid"]
    assert (signed_in.status_code, session["secure"], session["httponly"]) == (302, True, True)
    assert page.cookies["csrftoken"]["secure"] is True


def test_plain_http_is_sent_to_https_but_the_probes_answer_on_it(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    page = client.get(reverse("login"))
    health = client.get(reverse("healthz"), {"scope": "web"})
    metrics = client.get(reverse("metrics"))

    assert (page.status_code, page["Location"]) == (301, "https://testserver/login/")
    assert health.status_code == 200
    assert metrics.status_code == 404  # not enabled here, but not redirected either


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
