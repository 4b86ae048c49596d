"""/healthz for load balancers and monitoring, /metrics for Prometheus."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from claims import health
from claims.models import Decision, SyncState
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
AGO = timedelta(seconds=120)


class Seconds:
    """A number of seconds measured a moment after the test set it: that many, or a few more
    on a busy machine."""

    def __init__(self, expected):
        self.expected = expected

    def __eq__(self, other):
        return isinstance(other, int | float) and self.expected <= other <= self.expected + 5

    def __repr__(self):
        return f"{self.expected} s (+5)"


TWO_MINUTES = Seconds(120)


@pytest.fixture
def synced(sandbox):
    """A claims sync that succeeded two minutes ago, by a worker last heard of then too."""
    sync_everything()
    two_minutes_ago = timezone.now() - AGO
    SyncState.objects.update(last_success_at=two_minutes_ago, heartbeat_at=two_minutes_ago)
    return sandbox


def queue_task(ready_since, run_after=None):
    DBTaskResult.objects.create(
        args_kwargs={"args": ["0"], "kwargs": {}},
        task_path="claims.tasks.advance_bulk_run",
        backend_name="default",
        run_after=run_after or get_date_max(),
    )
    DBTaskResult.objects.update(enqueued_at=ready_since)


def test_it_answers_200_with_every_check_when_all_is_well(client, synced):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"ok": True},
            "migrations": {"ok": True, "pending": 0},
            "sync": {"ok": True, "outcome": "ok", "last_success_seconds": TWO_MINUTES},
            "sync_worker": {"ok": True, "heartbeat_seconds": TWO_MINUTES},
            "tasks": {"ok": True, "ready": 0, "oldest_ready_seconds": None},
        },
    }


def test_it_needs_no_sign_in_and_shows_no_data(client, synced):
    response = client.get(reverse("healthz"))

    assert "Set-Cookie" not in response
    assert set(response.json()["checks"]["sync"]) == {"ok", "outcome", "last_success_seconds"}


def test_it_answers_503_before_any_sync(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert response.json()["status"] == "failing"
    assert checks["sync"] == {"ok": False, "outcome": "never", "last_success_seconds": None}
    assert checks["sync_worker"] == {"ok": False, "heartbeat_seconds": None}


def test_a_sync_that_kept_failing_for_too_long_fails_the_check(client, synced, settings):
    SyncState.objects.filter(name="claims").update(outcome="failed")
    settings.HEALTHZ_SYNC_MAX_AGE = 119

    checks = client.get(reverse("healthz")).json()["checks"]

    assert checks["sync"] == {
        "ok": False,
        "outcome": "failed",
        "last_success_seconds": TWO_MINUTES,
    }
    assert checks["sync_worker"] == {"ok": False, "heartbeat_seconds": TWO_MINUTES}


def test_a_run_stopped_by_failing_reasons_shows_as_failed(client, synced):
    SyncState.objects.filter(name="reasons").update(outcome="failed")

    checks = client.get(reverse("healthz")).json()["checks"]

    assert checks["sync"] == {"ok": True, "outcome": "failed", "last_success_seconds": TWO_MINUTES}


def test_one_failed_run_alone_does_not_fail_it(client, synced):
    SyncState.objects.filter(name="claims").update(outcome="failed")

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json()["checks"]["sync"]["outcome"] == "failed"


def test_a_task_left_waiting_too_long_fails_the_check(client, synced, settings):
    queue_task(ready_since=timezone.now() - timedelta(seconds=settings.HEALTHZ_TASK_MAX_WAIT + 5))

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["checks"]["tasks"] == {
        "ok": False,
        "ready": 1,
        "oldest_ready_seconds": Seconds(settings.HEALTHZ_TASK_MAX_WAIT + 5),
    }


def test_a_task_deferred_to_later_is_not_waiting(client, synced):
    queue_task(
        ready_since=timezone.now() - timedelta(hours=1),
        run_after=timezone.now() + timedelta(minutes=1),
    )

    checks = client.get(reverse("healthz")).json()["checks"]

    assert checks["tasks"] == {"ok": True, "ready": 0, "oldest_ready_seconds": None}


def test_a_pending_migration_fails_it(client, synced, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    MigrationRecorder.Migration.objects.filter(app="claims").order_by("-id").first().delete()

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {"ok": False, "pending": 1}


def test_the_web_scope_asks_only_whether_this_process_can_serve(client):
    response = client.get(reverse("healthz"), {"scope": "web"})

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"ok": True}, "migrations": {"ok": True, "pending": 0}},
    }


def test_an_unreachable_database_answers_503():
    env = {
        **os.environ,
        "SECRET_KEY": "test",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/claimdesk",
    }
    code = (
        "from django.test import Client; r = Client().get('/healthz?scope=web'); "
        "print(r.status_code, r.content.decode())"
    )

    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity=0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (
        done.stdout.strip() == '503 {"status": "failing", "checks": {"database": {"ok": false}}}'
    )


# Metrics ------------------------------------------------------------------------------------


def test_the_metrics_are_not_served_unless_enabled(client, synced):
    assert client.get(reverse("metrics")).status_code == 404


def test_the_metrics_show_sync_lag_and_error_counts(client, synced, settings, member):
    settings.METRICS_ENABLED = True
    SyncState.objects.filter(name="claims").update(outcome="failed")
    queue_task(ready_since=timezone.now() - timedelta(seconds=30))
    claim = synced.find_claims(status="waiting")[0]
    Decision.objects.create(
        claim_id=claim["id"], action="approve", actor=member("agent"), state="unconfirmed",
        requested_at=timezone.now(),
    )  # fmt: skip

    response = client.get(reverse("metrics"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = dict(
        line.rsplit(" ", 1) for line in response.content.decode().splitlines() if line[0] != "#"
    )
    measured = {name: float(value) for name, value in samples.items()}
    assert measured == {
        'claimdesk_sync_last_success_age_seconds{sync="claims"}': TWO_MINUTES,
        'claimdesk_sync_last_success_age_seconds{sync="reasons"}': TWO_MINUTES,
        'claimdesk_sync_failing{sync="claims"}': 1,
        'claimdesk_sync_failing{sync="reasons"}': 0,
        'claimdesk_sync_heartbeat_age_seconds{sync="claims"}': TWO_MINUTES,
        'claimdesk_sync_heartbeat_age_seconds{sync="reasons"}': TWO_MINUTES,
        "claimdesk_task_oldest_ready_age_seconds": Seconds(30),
        'claimdesk_tasks{status="READY"}': 1,
        'claimdesk_decisions{state="requested"}': 0,
        'claimdesk_decisions{state="sent"}': 0,
        'claimdesk_decisions{state="unconfirmed"}': 1,
        'claimdesk_decisions{state="failed"}': 0,
    }


def test_the_metrics_token_is_required_when_set(client, synced, settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = "scrape-token-1"
    url = reverse("metrics")

    missing = client.get(url)
    wrong = client.get(url, HTTP_AUTHORIZATION="Bearer scrape-token-2")
    right = client.get(url, HTTP_AUTHORIZATION="Bearer scrape-token-1")

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing["WWW-Authenticate"] == "Bearer"
