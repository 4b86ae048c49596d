"""Request ids, log formats and secrets: what reaches the log and the error e-mails."""

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter
from django_tasks_db.models import DBTaskResult

from claims import bulk, logs
from claims.models import AuditEvent, Claim
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HTTP_HX_REQUEST": "true"}
API_KEY = "sc-live-0123456789abcdef"
NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_output():
    """What the configured console handler writes, while the test runs."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.fixture
def secret_key(sandbox, settings):
    """A realistic API key, which the sandbox accepts too."""
    settings.SELLER_CENTER_API_KEY = API_KEY
    previous, sandbox.api_key = sandbox.api_key, API_KEY
    yield API_KEY
    sandbox.api_key = previous


def lines_with(output, text):
    return [line for line in output.getvalue().splitlines() if text in line]


def test_a_response_carries_a_new_request_id_when_none_came_in(client):
    response = client.get(reverse("login"))

    assert NEW_ID.fullmatch(response["X-Request-ID"])
    assert client.get(reverse("login"))["X-Request-ID"] != response["X-Request-ID"]


def test_a_sensible_incoming_request_id_is_kept(client):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID="lb-7f3a.91:02_x")

    assert response["X-Request-ID"] == "lb-7f3a.91:02_x"


@pytest.mark.parametrize("incoming", ["has space", "a" * 65, "new\nline", "", "<script>"])
def test_an_unusable_incoming_request_id_is_replaced(client, incoming):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID=incoming)

    assert NEW_ID.fullmatch(response["X-Request-ID"])


def test_every_line_of_a_request_and_its_seller_center_call_carry_the_request_id(
    client, member, sandbox, log_output
):
    sync_everything()
    claim = Claim.objects.filter(status="waiting").order_by("created_at", "id").first()
    client.force_login(agent := member("agent"))
    sandbox.requests.clear()
    sandbox.faults.fail_next(status=502, path_contains="/approve/")
    log_output.truncate(0)

    client.post(
        reverse("claims:approve", args=[claim.pk]), HTTP_X_REQUEST_ID="req-approve-1", **HTMX
    )

    lines = log_output.getvalue().splitlines()
    assert len(lines) >= 2
    assert all("[req-approve-1]" in line for line in lines), lines
    path = f"/claims/{claim.pk}/approve/"
    request_line = rf".* INFO claims.middleware \[req-approve-1\] POST {path} 200 \d+ ms"
    assert re.fullmatch(request_line, lines[-1]), lines[-1]
    assert [r.headers["X-Request-ID"] for r in sandbox.requests] == ["req-approve-1"]
    event = AuditEvent.objects.filter(actor=agent, claim=claim).latest("at")
    assert event.request_id == "req-approve-1"


def test_a_sync_run_has_its_own_request_id_on_its_lines_and_its_calls(sandbox, log_output):
    sync_everything()

    sent = {r.headers["X-Request-ID"] for r in sandbox.requests}
    assert len(sent) == 1
    (run_id,) = sent
    assert NEW_ID.fullmatch(run_id)
    finished = lines_with(log_output, "sync finished")
    assert len(finished) == 2
    assert all(f"[{run_id}]" in line for line in finished)


@pytest.fixture
def worker_signals():
    """db_worker installs its own signal handlers; the test-suite gets its own back."""
    names = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT]
    saved = {name: signal.getsignal(name) for name in names}
    yield
    for name, handler in saved.items():
        signal.signal(name, handler)


@pytest.mark.django_db(transaction=True)
def test_a_background_task_logs_and_calls_under_its_own_id(
    member, sandbox, settings, log_output, worker_signals
):
    settings.BULK_REQUESTS_PER_SECOND = 100
    sync_everything()
    claim = Claim.objects.filter(status="waiting").order_by("created_at", "id").first()
    run = bulk.start(member("lead"), "approve", "", [], bulk.waiting_claims_among([claim.pk]), {})
    task = DBTaskResult.objects.ready().get()
    sandbox.requests.clear()

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert [r.headers["X-Request-ID"] for r in sandbox.requests] == [str(task.id)]
    (finished,) = lines_with(log_output, f"bulk run {run.pk} finished")
    assert f"[{task.id}]" in finished


def test_a_failed_sign_in_is_logged_without_the_username_or_address(client, log_output):
    client.post(
        reverse("login"),
        {"username": "ayse.yilmaz@example.com", "password": "wrong"},
        HTTP_X_REQUEST_ID="req-sign-in",
        REMOTE_ADDR="203.0.113.9",
    )

    written = log_output.getvalue()
    assert "AXES: New login failure by request req-sign-in." in written
    assert "ayse" not in written and "203.0.113.9" not in written


def test_lines_outside_any_request_say_so(log_output):
    logging.getLogger("claims.test").warning("no work under way")

    assert log_output.getvalue().endswith(" WARNING claims.test [-] no work under way\n")


def test_the_json_format_is_one_object_per_line_with_the_request_id_and_extras():
    record = logging.makeLogRecord(
        {
            "name": "claims.sync",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "sync of %s failed",
            "args": ("claims",),
            "created": 1767225600.5,
            "request_id": "abc",
            "pages": 3,
            "request": "<WSGIRequest: GET '/?q=customer words'>",
        }
    )

    line = logs.JsonFormatter().format(record)

    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.500+00:00",
        "level": "WARNING",
        "logger": "claims.sync",
        "message": "sync of claims failed",
        "request_id": "abc",
        "pages": 3,
    }


def test_log_format_json_makes_every_line_json():
    env = {**os.environ, "SECRET_KEY": "test", "LOG_FORMAT": "json", "DEBUG": "false"}
    code = "import logging; logging.getLogger('claims.x').warning('hello %s', 'there')"

    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity=0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    entry = json.loads(done.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello there"
    assert (entry["level"], entry["logger"]) == ("WARNING", "claims.x")
    assert "request_id" not in entry


def test_the_api_key_is_redacted_from_messages_arguments_and_tracebacks(secret_key, log_output):
    logger = logging.getLogger("claims.test")
    try:
        raise ValueError(f"upstream echoed the header Authorization: {secret_key}")
    except ValueError:
        logger.exception("call failed with key %s", secret_key, extra={"header": secret_key})

    written = log_output.getvalue()
    assert secret_key not in written
    assert "call failed with key [redacted]" in written
    assert "ValueError: upstream echoed the header Authorization: [redacted]" in written


def test_the_api_key_is_hidden_in_djangos_error_reports(settings, secret_key):
    safe = SafeExceptionReporterFilter().get_safe_settings()

    assert safe["SELLER_CENTER_API_KEY"] == SafeExceptionReporterFilter.cleansed_substitute
    assert secret_key not in repr(safe)


def test_an_error_email_never_shows_the_api_key(settings, secret_key, monkeypatch):
    settings.ADMINS = [("", "ops@example.com")]
    # The HTML part, off by default, shows each frame's local variables.
    (handler,) = logging.getLogger("django").handlers
    monkeypatch.setattr(handler, "include_html", True)
    request = RequestFactory().get("/claims/")
    try:
        api_key = secret_key  # a local variable the traceback shows  # noqa: F841
        raise RuntimeError(f"refused key {secret_key}")
    except RuntimeError:
        logging.getLogger("django.request").exception(
            "Internal Server Error: %s",
            request.path,
            extra={"status_code": 500, "request": request},
        )

    (email,) = mail.outbox
    html = email.alternatives[0][0]
    assert email.to == ["ops@example.com"]
    assert secret_key not in email.subject + email.body + html
    assert "refused key [redacted]" in email.body
    assert "api_key" in html and "[redacted]" in html


def test_a_failing_health_check_sends_no_error_email(client, settings):
    settings.ADMINS = [("", "ops@example.com")]

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert mail.outbox == []
