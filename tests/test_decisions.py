import contextlib
import json
import signal
import socket
import threading
import time

import pytest
from django.db import connection

from claims import decisions
from claims.models import AuditEvent, Claim, Decision
from claims.sync import sync_everything

from . import processes

pytestmark = pytest.mark.django_db

WRONG_KEY = "wrong-key-Zq81"


@pytest.fixture
def synced(sandbox, settings):
    # Short timeouts keep the waits of these tests short: a read gives up after 1 s, and a
    # sync settles a still-waiting claim's decision from 1 s after its call ended.
    settings.SELLER_CENTER_CONNECT_TIMEOUT = 0.5
    settings.SELLER_CENTER_TIMEOUT = 1.0
    sync_everything()
    return sandbox


@pytest.fixture
def claim(synced):
    return Claim.objects.filter(status="waiting").order_by("created_at", "id").first()


def posts(sandbox, claim):
    return [r for r in sandbox.requests if r.method == "POST" and str(claim.pk) in r.path]


def events(claim):
    return list(
        AuditEvent.objects.filter(claim=claim).order_by("id").values_list("action", flat=True)
    )


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.05)


def sync_after_the_settling_delay():
    time.sleep(1.05)
    sync_everything()


@pytest.mark.django_db(transaction=True)
def test_two_agents_deciding_the_same_claim_at_once_make_exactly_one_call(
    member, claim, synced, settings
):
    settings.SELLER_CENTER_TIMEOUT = 3
    ayse = member("agent", first_name="Ayşe", last_name="Demir")
    can = member("agent", first_name="Can", last_name="Yılmaz")
    synced.faults.latency = 0.5  # the first call is still in flight when the second arrives
    barrier = threading.Barrier(2)
    results = {}

    def decide(user):
        try:
            barrier.wait(timeout=5)
            results[user] = decisions.approve(claim.pk, user)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(user,)) for user in (ayse, can)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    [winner] = [user for user, result in results.items() if result.ok]
    [loser] = [user for user in results if user is not winner]
    assert len(posts(synced, claim)) == 1
    assert Decision.objects.get(claim=claim).state == "sent"
    assert Decision.objects.get(claim=claim).actor == winner
    assert results[loser].message == (
        f"{winner.get_full_name()} already chose to approve this claim."
    )
    assert results[loser].decision == Decision.objects.get(claim=claim)
    refusal = AuditEvent.objects.get(action="decision.refused")
    assert (refusal.actor, refusal.details["why"]) == (loser, "already_decided")


def test_a_slow_answer_is_waited_for_and_the_decision_sent(member, claim, synced, settings):
    settings.SELLER_CENTER_TIMEOUT = 3
    synced.faults.latency = 0.6

    result = decisions.approve(claim.pk, member("agent"))

    assert (result.level, result.message) == ("success", "Claim approved.")
    assert Decision.objects.get(claim=claim).state == "sent"
    assert Claim.objects.get(pk=claim.pk).status == "approved"
    sent = AuditEvent.objects.get(claim=claim, action="decision.sent")
    assert sent.upstream_status == 204
    assert sent.latency_ms >= 600


def test_a_400_because_the_claim_moved_on_shows_its_words_and_rereads_the_claim(
    member, claim, synced
):
    synced.update_claim(claim.pk, status="completed")
    synced.requests.clear()

    result = decisions.approve(claim.pk, member("agent"))

    assert result.level == "error"
    assert result.message == (
        "The Seller Center refused the decision: Only a claim waiting for approval can be "
        "approved or rejected. The claim is now completed."
    )
    decision = Decision.objects.get(claim=claim)
    assert (decision.state, decision.upstream_status) == ("failed", 400)
    assert Claim.objects.get(pk=claim.pk).status == "completed"
    [reread] = [r for r in synced.requests if r.method == "GET"]
    assert reread.query["created_at__gte"] == claim.raw["created_at"]
    assert events(claim) == ["decision.requested", "decision.failed"]


def test_a_400_on_a_claim_still_waiting_lets_it_be_decided_again(member, claim, synced):
    body = json.dumps({"reason": ["Reason is not accepted."], "code": "invalid"})
    synced.faults.fail_next(
        status=400, body=body, content_type="application/json", path_contains="/reject/"
    )
    agent = member("agent")

    refused = decisions.reject(claim.pk, agent, "Used", [])
    again = decisions.approve(claim.pk, agent)

    assert refused.message == (
        "The Seller Center refused the decision: reason: Reason is not accepted. "
        "The claim is still waiting and can be decided again."
    )
    assert again.ok
    assert list(Decision.objects.filter(claim=claim).values_list("action", "state")) == [
        ("approve", "sent"),
        ("reject", "failed"),
    ]
    assert len(posts(synced, claim)) == 2


@pytest.mark.parametrize(
    ("role", "message"),
    [
        (
            "admin",
            "The Seller Center refused ClaimDesk's API key, so nothing was sent. Check "
            "SELLER_CENTER_API_KEY and SELLER_CENTER_AUTH_SCHEME in ClaimDesk's environment, "
            "and that the key is still active in the Seller Center.",
        ),
        (
            "agent",
            "ClaimDesk is not allowed into the Seller Center right now, so nothing was sent. "
            "Please tell an admin.",
        ),
    ],
)
def test_a_401_tells_admins_what_to_fix_and_others_to_ask_and_shows_no_key(
    member, claim, synced, settings, role, message
):
    settings.SELLER_CENTER_API_KEY = WRONG_KEY

    result = decisions.approve(claim.pk, member(role))

    assert (result.level, result.message) == ("error", message)
    decision = Decision.objects.get(claim=claim)
    assert (decision.state, decision.upstream_status) == ("failed", 401)
    failed = AuditEvent.objects.get(claim=claim, action="decision.failed")
    for text in (result.message, decision.upstream_message, failed.upstream_message):
        assert WRONG_KEY not in text and "test-key" not in text
    assert Claim.objects.get(pk=claim.pk).is_decidable


def test_a_404_marks_the_claim_gone_and_it_cannot_be_decided_again(member, claim, synced):
    synced.remove_claim(claim.pk)
    agent = member("agent")

    result = decisions.approve(claim.pk, agent)
    second = decisions.approve(claim.pk, agent)

    assert result.message == "The Seller Center no longer knows this claim; it is marked as gone."
    assert Decision.objects.get(claim=claim).state == "failed"
    assert Claim.objects.get(pk=claim.pk).missing_upstream_at is not None
    assert second.message == (
        "The Seller Center no longer returns this claim, so it cannot be decided."
    )
    assert len(posts(synced, claim)) == 1


def test_a_500_leaves_the_decision_unconfirmed_until_a_sync_finds_it_not_applied(
    member, claim, synced
):
    synced.faults.fail_next(status=500, body="<h1>Server Error</h1>", path_contains="/approve/")

    result = decisions.approve(claim.pk, member("agent"))
    sync_everything()
    after_first_sync = Decision.objects.get(claim=claim).state
    sync_after_the_settling_delay()

    assert result.level == "warning"
    assert result.message.startswith("Sent, awaiting confirmation")
    assert after_first_sync == "unconfirmed"
    decision = Decision.objects.get(claim=claim)
    assert (decision.state, decision.upstream_status) == ("failed", 500)
    assert Claim.objects.get(pk=claim.pk).is_decidable
    assert events(claim) == [
        "decision.requested",
        "decision.unconfirmed",
        "decision.not_applied",
    ]


def test_a_502_after_the_decision_was_applied_is_confirmed_by_the_next_sync(member, claim, synced):
    synced.faults.fail_next(status=502, path_contains="/approve/", after_apply=True)

    result = decisions.approve(claim.pk, member("agent"))
    unconfirmed = Decision.objects.get(claim=claim).get_state_display()
    sync_everything()

    assert result.level == "warning"
    assert unconfirmed == "Sent, awaiting confirmation"
    assert Decision.objects.get(claim=claim).state == "sent"
    assert Claim.objects.get(pk=claim.pk).status == "approved"
    assert events(claim) == ["decision.requested", "decision.unconfirmed", "decision.confirmed"]
    assert len(posts(synced, claim)) == 1


def test_a_read_timeout_is_unconfirmed_and_confirmed_once_the_upstream_applied_it(
    member, claim, synced
):
    synced.faults.delay_next(seconds=2.5, path_contains="/reject/")

    result = decisions.reject(claim.pk, member("agent"), "Not as described", [])
    wait_for(lambda: synced.claim(claim.pk)["status"] == "rejected")
    sync_everything()

    assert result.message.startswith("Sent, awaiting confirmation")
    decision = Decision.objects.get(claim=claim)
    assert (decision.state, decision.upstream_status) == ("sent", None)
    assert decision.upstream_message == "The Seller Center did not answer in time."
    assert events(claim) == ["decision.requested", "decision.unconfirmed", "decision.confirmed"]


def test_a_refused_connection_fails_the_decision_since_nothing_was_sent(
    member, claim, synced, settings
):
    settings.SELLER_CENTER_URL = "http://127.0.0.1:9/api"  # the discard port: nothing listens

    result = decisions.approve(claim.pk, member("agent"))

    assert result.message == "Nothing was applied: The Seller Center could not be reached."
    assert Decision.objects.get(claim=claim).state == "failed"
    assert Claim.objects.get(pk=claim.pk).is_decidable


@pytest.fixture
def hang_up_server():
    """A server that reads a request and closes the connection without a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve():
        with contextlib.suppress(OSError):
            conversation, _ = listener.accept()
            with conversation:
                conversation.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    thread.join(timeout=5)
    listener.close()


def test_a_connection_broken_after_sending_is_unconfirmed_until_a_sync_settles_it(
    member, claim, synced, settings, hang_up_server
):
    live_url = settings.SELLER_CENTER_URL
    settings.SELLER_CENTER_URL = hang_up_server

    result = decisions.approve(claim.pk, member("agent"))
    settings.SELLER_CENTER_URL = live_url
    sync_after_the_settling_delay()

    assert result.level == "warning"
    assert Decision.objects.get(claim=claim).state == "failed"
    assert events(claim) == ["decision.requested", "decision.unconfirmed", "decision.not_applied"]
    assert Claim.objects.get(pk=claim.pk).is_decidable


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_mid_call_leaves_a_requested_decision_a_later_sync_settles(
    member, claim, synced
):
    agent = member("agent")
    synced.faults.delay_next(seconds=1.0, path_contains="/approve/")
    process = _decide_in_another_process(claim, agent, synced)
    try:
        wait_for(lambda: posts(synced, claim), seconds=20)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)

    left = Decision.objects.get(claim=claim).state
    wait_for(lambda: synced.claim(claim.pk)["status"] == "approved")
    sync_everything()
    settled_too_early = Decision.objects.get(claim=claim).state
    time.sleep(decisions.call_limit().total_seconds())
    sync_everything()

    assert (left, settled_too_early) == ("requested", "requested")
    assert Decision.objects.get(claim=claim).state == "sent"
    assert events(claim) == ["decision.requested", "decision.confirmed"]
    assert len(posts(synced, claim)) == 1


def _decide_in_another_process(claim, user, sandbox):
    script = (
        "import django; django.setup()\n"
        "from claims import decisions\n"
        "from claims.models import User\n"
        f"decisions.approve('{claim.pk}', User.objects.get(pk={user.pk}))\n"
    )
    return processes.start(["-c", script], sandbox)
