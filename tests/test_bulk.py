import signal
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from claims import bulk
from claims.models import BulkItem, BulkRun, Claim, Decision
from claims.seller_center import SellerCenterClient
from claims.sync import sync_everything

from . import processes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast(sandbox, settings):
    settings.BULK_REQUESTS_PER_SECOND = 100
    settings.SELLER_CENTER_CONNECT_TIMEOUT = 0.5
    settings.SELLER_CENTER_TIMEOUT = 1.0
    return sandbox


@pytest.fixture
def waiting_500(fast):
    waiting = len(fast.find_claims(status="waiting"))
    fast.add_claims(round((500 - waiting) / 0.8))
    sync_everything()
    claims = Claim.objects.filter(status="waiting").order_by("created_at", "id")
    assert claims.count() >= 500
    return list(claims.values_list("id", flat=True)[:500])


@pytest.fixture
def worker_signals():
    """db_worker installs its own signal handlers; the test-suite gets its own back."""
    names = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT]
    saved = {name: signal.getsignal(name) for name in names}
    yield
    for name, handler in saved.items():
        signal.signal(name, handler)


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.05)


def run_worker(*extra):
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", *extra, verbosity=0)


def approve_posts(sandbox):
    return Counter(r.path.split("/")[-3] for r in sandbox.requests if r.path.endswith("/approve/"))


def stop_the_worker_during_call(monkeypatch, number):
    """The worker is told to stop (sys.exit from its signal handler) as call `number` ends."""
    real_approve = SellerCenterClient.approve
    calls = []

    def approve(self, claim_id):
        outcome = real_approve(self, claim_id)
        calls.append(claim_id)
        if len(calls) == number:
            raise SystemExit(1)
        return outcome

    monkeypatch.setattr(SellerCenterClient, "approve", approve)
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_bulk_run_of_500_claims_interrupted_and_restarted_decides_every_claim_once(
    member, waiting_500, fast, monkeypatch, worker_signals
):
    lead = member("lead")
    fast.requests.clear()
    run = bulk.start(
        lead, "approve", "", [], bulk.waiting_claims_among(waiting_500), {"scope": "selected"}
    )
    calls = stop_the_worker_during_call(monkeypatch, 200)
    # One long slice, however busy the machine, so the stop lands inside the worker's first task.
    monkeypatch.setattr(bulk, "SLICE_SECONDS", 600)

    run_worker("--max-tasks", "1")
    stopped = bulk.progress(run)
    queued = DBTaskResult.objects.ready().count()
    monkeypatch.undo()
    run_worker()
    finished = bulk.progress(run)
    time.sleep(bulk.decisions.call_limit().total_seconds())
    sync_everything()

    assert len(calls) == 200
    assert stopped == {
        "pending": 300,
        "requested": 1,
        "sent": 199,
        "unconfirmed": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert queued == 1
    assert (finished["pending"], finished["sent"], finished["requested"]) == (0, 499, 1)
    assert bulk.progress(run)["sent"] == 500
    posts = approve_posts(fast)
    assert set(posts) == {str(claim_id) for claim_id in waiting_500}
    assert set(posts.values()) == {1}
    assert {fast.claim(claim_id)["status"] for claim_id in waiting_500} == {"approved"}
    assert Decision.objects.filter(state="sent").count() == 500
    assert BulkRun.objects.get(pk=run.pk).state == "finished"


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_is_carried_on_by_the_task_it_left_deferred(
    member, fast, worker_signals
):
    sync_everything()
    claim_ids = [c.pk for c in waiting(60)]
    run = bulk.start(member("lead"), "approve", "", [], bulk.waiting_claims_among(claim_ids), {})
    fast.faults.latency = 0.02
    worker = processes.start(
        ["manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--interval=0.2"],
        fast,
        BULK_REQUESTS_PER_SECOND=20,
    )
    try:
        wait_for(lambda: sum(approve_posts(fast).values()) >= 20, seconds=30)
    finally:
        worker.kill()
        worker.wait(timeout=10)

    left = bulk.progress(run)
    ready_at_once = DBTaskResult.objects.ready().count()
    # As if the deferred task's moment had come: it is what carries the run on.
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_worker()
    time.sleep(bulk.decisions.call_limit().total_seconds())
    sync_everything()

    assert 0 < left["pending"] < 60
    assert ready_at_once == 0
    posts = approve_posts(fast)
    assert set(posts.values()) == {1}
    items = list(bulk.report(run))
    assert {item.outcome for item in items} <= {"sent", "failed"}
    for item in items:
        applied = fast.claim(item.claim_id)["status"] == "approved"
        assert (item.outcome == "sent") == applied == (str(item.claim_id) in posts)


def test_a_bulk_run_keeps_to_the_configured_request_rate(member, fast, settings):
    settings.BULK_REQUESTS_PER_SECOND = 20
    sync_everything()
    claims = Claim.objects.filter(status="waiting").order_by("created_at", "id")[:10]
    run = bulk.start(
        member("lead"), "approve", "", [], bulk.waiting_claims_among(claims), {"scope": "selected"}
    )

    outcome = bulk.advance(run.pk)

    arrivals = [r.at for r in fast.requests if r.method == "POST"]
    gaps = [(b - a).total_seconds() for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert outcome == "finished"
    assert len(arrivals) == 10
    # Nine intervals of 1/20 s; the sandbox sees arrivals with a few ms of jitter each way.
    assert sum(gaps) >= 9 * 0.05 - 0.01
    assert min(gaps) >= 0.03


def test_claims_already_decided_are_skipped_with_who_decided_and_cost_no_call(member, fast):
    sync_everything()
    claims = list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:3])
    agent = member("agent", first_name="Ece", last_name="Kaya")
    bulk.decisions.approve(claims[1].pk, agent)
    fast.requests.clear()
    run = bulk.start(
        member("lead"),
        "reject",
        "Used item",
        ["https://127.0.0.1/evidence.jpg"],
        Claim.objects.filter(pk__in=[c.pk for c in claims]),
        {"scope": "selected"},
    )

    bulk.advance(run.pk)

    items = list(bulk.report(run))
    assert [item.outcome for item in items] == ["sent", "skipped", "sent"]
    assert items[1].message == "Ece Kaya already chose to approve this claim."
    assert len([r for r in fast.requests if r.method == "POST"]) == 2
    assert fast.requests[-1].json() == {
        "reason": "Used item",
        "images": ["https://127.0.0.1/evidence.jpg"],
    }


def test_a_refused_api_key_stops_the_run_after_one_call(member, fast, settings):
    sync_everything()
    ids = [c.pk for c in waiting(4)]
    run = bulk.start(member("lead"), "approve", "", [], bulk.waiting_claims_among(ids), {})
    settings.SELLER_CENTER_API_KEY = "wrong-key"
    fast.requests.clear()

    bulk.advance(run.pk)

    items = list(bulk.report(run))
    assert BulkRun.objects.get(pk=run.pk).state == "stopped"
    assert [item.outcome for item in items] == ["failed", "skipped", "skipped", "skipped"]
    assert items[1].message == "Skipped: the Seller Center refused ClaimDesk's API key."
    assert len([r for r in fast.requests if r.method == "POST"]) == 1


def test_a_request_to_slow_down_halves_the_pace_of_the_run(member, fast, settings):
    settings.BULK_REQUESTS_PER_SECOND = 20
    sync_everything()
    ids = [c.pk for c in waiting(3)]
    run = bulk.start(member("lead"), "approve", "", [], bulk.waiting_claims_among(ids), {})
    fast.faults.rate_limit_next(1, retry_after=1, path_contains="/approve/")

    bulk.advance(run.pk)

    arrivals = [r.at for r in fast.requests if r.method == "POST"]
    gaps = [(b - a).total_seconds() for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert [item.outcome for item in bulk.report(run)] == ["failed", "sent", "sent"]
    assert min(gaps) >= 0.1 - 0.015


def test_a_run_whose_lead_lost_the_right_stops_without_a_call(member, fast):
    sync_everything()
    lead = member("lead")
    claims = Claim.objects.filter(status="waiting").order_by("created_at", "id")[:3]
    run = bulk.start(
        lead, "approve", "", [], bulk.waiting_claims_among(claims), {"scope": "selected"}
    )
    bulk.roles.set_role(lead, "agent")
    fast.requests.clear()

    bulk.advance(run.pk)

    assert BulkRun.objects.get(pk=run.pk).state == "stopped"
    assert set(BulkItem.objects.filter(run=run).values_list("state", flat=True)) == {"skipped"}
    assert not fast.requests


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def synced(fast):
    sync_everything()
    return fast


def waiting(n):
    return list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:n])


def test_a_lead_sees_tick_boxes_and_the_bulk_bar_and_an_agent_sees_neither(client, member, synced):
    claim = waiting(1)[0]
    client.force_login(member("lead"))
    lead_page = client.get(reverse("claims:queue")).content.decode()
    client.force_login(member("agent"))
    agent_page = client.get(reverse("claims:queue")).content.decode()

    assert f'id="select-{claim.pk}"' in lead_page
    assert 'id="bulk-form"' in lead_page
    assert f'id="select-{claim.pk}"' not in agent_page
    assert 'id="bulk-form"' not in agent_page


def test_a_lead_starts_a_bulk_approve_of_ticked_rows_and_follows_it_to_the_report(
    client, member, synced, django_capture_on_commit_callbacks
):
    claims = waiting(3)
    client.force_login(member("lead"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("claims:bulk_start"),
            {"scope": "selected", "action": "approve", "claims": [c.pk for c in claims]},
        )
    run = BulkRun.objects.get()
    queued = DBTaskResult.objects.ready().count()
    running_pane = client.get(reverse("claims:bulk_run", args=[run.pk]), **HTMX)
    bulk.advance(run.pk)
    finished_pane = client.get(reverse("claims:bulk_run", args=[run.pk]), **HTMX)

    assert response.status_code == 302
    assert response["Location"] == reverse("claims:bulk_run", args=[run.pk])
    assert (run.total, run.action, queued) == (3, "approve", 1)
    assert 'hx-trigger="claimdesk:poll"' in running_pane.content.decode()
    body = finished_pane.content.decode()
    assert "<html" not in body
    assert 'hx-trigger="claimdesk:poll"' not in body
    assert body.count("Claim approved.") == 3
    assert 'id="count-sent">3<' in body


def test_an_agent_cannot_start_a_bulk_run_or_see_one(client, member, synced):
    claims = waiting(1)
    run = bulk.start(
        member("lead"),
        "approve",
        "",
        [],
        bulk.waiting_claims_among([claims[0].pk]),
        {"scope": "selected"},
    )
    client.force_login(member("agent"))

    start = client.post(
        reverse("claims:bulk_start"),
        {"scope": "selected", "action": "approve", "claims": [claims[0].pk]},
    )
    view = client.get(reverse("claims:bulk_run", args=[run.pk]))

    assert (start.status_code, view.status_code) == (403, 403)
    assert BulkRun.objects.count() == 1


def test_a_bulk_reject_without_a_reason_is_explained_and_keeps_the_ticks(client, member, synced):
    claims = waiting(2)
    client.force_login(member("lead"))

    response = client.post(
        reverse("claims:bulk_start"),
        {"scope": "selected", "action": "reject", "claims": [c.pk for c in claims]},
    )

    body = response.content.decode()
    assert response.status_code == 422
    assert "Say why these claims are rejected." in body
    for claim in claims:
        assert f'name="claims" value="{claim.pk}"' in body
    assert not BulkRun.objects.exists()


def test_every_waiting_claim_matching_the_queue_filter_is_taken(client, member, synced):
    client.force_login(member("lead"))

    client.post(
        reverse("claims:bulk_start"),
        {
            "scope": "matching",
            "action": "reject",
            "reason": "Outside the return window",
            "filter_query": "type=cancel&status=all",
        },
    )

    run = BulkRun.objects.get()
    expected = Claim.objects.filter(type="cancel", status="waiting").order_by("created_at", "id")
    assert list(run.items.values_list("claim_id", flat=True)) == [c.pk for c in expected]
    assert run.selection == {"scope": "matching", "query": "type=cancel&status=all"}
