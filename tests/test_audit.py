import csv
import datetime
import hashlib
import io
import threading
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from claims import audit
from claims.audit import Origin
from claims.management.commands import verify_audit
from claims.models import AuditEvent, Claim
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
Event = AuditEvent.Action


@pytest.fixture
def waiting_claim(sandbox):
    sync_everything()
    return Claim.objects.filter(status="waiting").order_by("created_at", "id").first()


def record_many(count, actor=None, action=Event.LOGIN, **fields):
    return [audit.record(action, actor=actor, **fields).pk for _ in range(count)]


def recorded_at(moment, action, **fields):
    """An event recorded as if it were `moment`: the audit keeps its own time, not ours."""
    with mock.patch.object(audit.timezone, "now", return_value=moment):
        return audit.record(action, **fields)


def at_day(day, hour=12):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def shown_ids(response):
    return [event.pk for event in response.context["page"].events]


def csv_rows(response):
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# Append-only in the database --------------------------------------------------------------


def test_the_database_refuses_to_update_or_delete_an_audit_event(member):
    event = audit.record(Event.LOGIN, actor=member("agent"))

    for sql in (
        "UPDATE claims_auditevent SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM claims_auditevent WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="audit events are append-only"):
            with transaction.atomic():
                raw(sql, [event.pk])

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.reason, stored.hash) == ("", event.hash)


def test_truncate_is_refused_unless_the_session_allows_it(member):
    event = audit.record(Event.LOGIN, actor=member("agent"))

    with pytest.raises(IntegrityError, match="TRUNCATE on claims_auditevent refused"):
        with transaction.atomic():
            # The event's foreign keys are checked at commit; TRUNCATE wants that done first.
            raw("SET CONSTRAINTS ALL IMMEDIATE")
            raw("SET LOCAL claimdesk.allow_audit_truncate = off")
            raw("TRUNCATE claims_auditevent")

    assert AuditEvent.objects.filter(pk=event.pk).exists()


# The hash chain ---------------------------------------------------------------------------


def test_each_event_is_hashed_with_the_one_before_it(member):
    ids = record_many(3, actor=member("agent"), origin=Origin("req-1", "::ffff:10.0.0.1", "UA"))

    stored = list(AuditEvent.objects.filter(pk__in=ids).order_by("id"))
    previous = audit.GENESIS
    for event in stored:
        values = {name: getattr(event, name) for name in audit.CHAINED_FIELDS}
        expected = hashlib.sha256((previous + audit.canonical(values)).encode()).hexdigest()
        assert event.hash == expected
        previous = event.hash
    assert len({event.hash for event in stored}) == 3


def test_verify_audit_reports_an_intact_chain(member):
    ids = record_many(4, actor=member("agent"))
    out = io.StringIO()

    call_command("verify_audit", stdout=out)

    last = AuditEvent.objects.get(pk=ids[-1])
    assert out.getvalue() == (
        f"4 audit events verified. The chain ends at event {last.pk} with hash {last.hash}.\n"
    )


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verify_audit_shows_its_progress_on_a_terminal(member, monkeypatch):
    record_many(5, actor=member("agent"))
    monkeypatch.setattr(audit, "VERIFY_CHUNK", 2)
    monkeypatch.setattr(verify_audit, "PROGRESS_SECONDS", 0)
    out = Terminal()

    call_command("verify_audit", stdout=out)

    shown = out.getvalue()
    last = AuditEvent.objects.latest("id")
    assert "\rchecking [############                  ] 2/5" in shown
    assert "\rchecking [########################      ] 4/5" in shown
    assert shown.endswith(f"\r5 audit events verified. The chain ends at event {last.pk} "
                          f"with hash {last.hash}.\n")  # fmt: skip


def disabled_trigger_sql(sql, params):
    # Only the table's owner can do this, and the chain is what catches it. ALTER TABLE
    # wants the foreign keys of the events just written checked first.
    raw("SET CONSTRAINTS ALL IMMEDIATE")
    raw("ALTER TABLE claims_auditevent DISABLE TRIGGER claims_auditevent_append_only")
    raw(sql, params)
    raw("ALTER TABLE claims_auditevent ENABLE TRIGGER claims_auditevent_append_only")


def test_verify_audit_names_the_first_event_that_was_changed(member):
    ids = record_many(5, actor=member("agent"))
    changed = AuditEvent.objects.get(pk=ids[2])
    disabled_trigger_sql("UPDATE claims_auditevent SET reason = 'x' WHERE id = %s", [ids[2]])

    with pytest.raises(CommandError) as refusal:
        call_command("verify_audit", stdout=io.StringIO())

    assert str(refusal.value) == (
        f"Audit event {ids[2]} (auth.login at {changed.at.isoformat()}) does not match its "
        "hash: it was changed, or the event before it was removed or rewritten. The 2 events "
        "before it are intact."
    )


def test_verify_audit_catches_an_event_removed_from_the_middle(member):
    ids = record_many(4, actor=member("agent"))
    disabled_trigger_sql("DELETE FROM claims_auditevent WHERE id = %s", [ids[1]])

    verdict = audit.verify()

    assert (verdict.broken.id, verdict.checked) == (ids[2], 1)


@pytest.mark.django_db(transaction=True)
def test_events_recorded_at_once_by_many_connections_form_one_chain(member):
    agent = member("agent")
    barrier = threading.Barrier(4)

    def write():
        try:
            barrier.wait(timeout=10)
            record_many(15, actor=agent)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    verdict = audit.verify()
    assert (verdict.ok, verdict.checked) == (True, 60)
    assert AuditEvent.objects.values("hash").distinct().count() == 60


# What each event records ------------------------------------------------------------------


def test_an_approval_records_who_in_which_role_from_where_and_what_the_api_said(
    client, member, waiting_claim, sandbox
):
    agent = member("agent")
    client.force_login(agent)

    client.post(
        reverse("claims:approve", args=[waiting_claim.pk]),
        HTTP_X_REQUEST_ID="req-approve-7",
        HTTP_USER_AGENT="Firefox/140",
        **HTMX,
    )

    events = AuditEvent.objects.filter(claim=waiting_claim).order_by("id")
    assert [
        (e.action, e.actor, e.actor_role, e.status_before, e.status_after, e.upstream_status)
        for e in events
    ] == [
        ("decision.requested", agent, "agent", "waiting", "waiting", None),
        ("decision.sent", agent, "agent", "waiting", "approved", 204),
    ]
    sent = events[1]
    assert (sent.request_id, sent.client_ip, sent.user_agent) == (
        "req-approve-7",
        "127.0.0.1",
        "Firefox/140",
    )
    assert sent.latency_ms is not None


def test_a_refused_rejection_records_the_reason_images_and_the_upstream_words(
    client, member, waiting_claim, sandbox
):
    client.force_login(member("agent"))
    sandbox.update_claim(waiting_claim.pk, status="completed")

    client.post(
        reverse("claims:reject", args=[waiting_claim.pk]),
        {"reason": "Used item", "images": ["https://127.0.0.1/a.jpg"]},
        **HTMX,
    )

    failed = AuditEvent.objects.get(claim=waiting_claim, action="decision.failed")
    assert (failed.reason, failed.images) == ("Used item", ["https://127.0.0.1/a.jpg"])
    assert (failed.status_before, failed.status_after) == ("waiting", "waiting")
    decision = failed.decision
    assert (failed.upstream_status, decision.upstream_status) == (400, 400)
    assert failed.upstream_message == decision.upstream_message != ""


def test_a_decision_refused_by_claimdesk_records_the_claims_status(client, member, sandbox):
    sync_everything()
    approved = Claim.objects.filter(status="approved").first()
    client.force_login(member("agent"))

    client.post(reverse("claims:approve", args=[approved.pk]), **HTMX)

    refusal = AuditEvent.objects.get(action="decision.refused")
    assert (refusal.claim, refusal.status_before, refusal.status_after) == (
        approved,
        "approved",
        "approved",
    )


# The audit page ---------------------------------------------------------------------------


def test_a_lead_sees_everyones_events_and_an_agent_only_their_own(client, member):
    lead, agent, other = member("lead"), member("agent"), member("agent")
    mine = record_many(2, actor=agent, action=Event.MEMBER_ADDED)
    theirs = record_many(2, actor=other, action=Event.MEMBER_ADDED)
    url = reverse("audit:events") + "?action=team.member_added"

    client.force_login(agent)
    as_agent = client.get(url)
    client.force_login(lead)
    as_lead = client.get(url)

    assert shown_ids(as_agent) == mine[::-1]
    assert "person" not in as_agent.context["filter_form"].fields
    assert shown_ids(as_lead) == (mine + theirs)[::-1]


def test_an_agent_cannot_see_another_persons_events_by_naming_them(client, member):
    agent, other = member("agent"), member("agent")
    record_many(2, actor=other, action=Event.MEMBER_ADDED)
    client.force_login(agent)

    response = client.get(reverse("audit:events"), {"person": other.pk, "action": "team"})

    assert shown_ids(response) == []


def test_the_filters_for_person_action_outcome_claim_and_dates_combine(
    client, member, waiting_claim
):
    lead, agent = member("lead"), member("agent")
    day = datetime.date(2026, 3, 10)
    other_claim = Claim.objects.exclude(pk=waiting_claim.pk).exclude(return_code="").first()
    wanted = recorded_at(
        at_day(day), Event.DECISION_FAILED, actor=agent, claim_id=waiting_claim.pk
    )
    recorded_at(at_day(day), Event.DECISION_SENT, actor=agent, claim_id=waiting_claim.pk)
    recorded_at(at_day(day), Event.DECISION_FAILED, actor=lead, claim_id=waiting_claim.pk)
    recorded_at(at_day(day), Event.DECISION_FAILED, actor=agent, claim_id=other_claim.pk)
    recorded_at(at_day(day, 0) - datetime.timedelta(minutes=1), Event.DECISION_FAILED,
                actor=agent, claim_id=waiting_claim.pk)  # fmt: skip
    client.force_login(lead)

    response = client.get(
        reverse("audit:events"),
        {
            "person": agent.pk,
            "action": "decision",
            "outcome": "failed",
            "claim": waiting_claim.return_code,
            "date_from": "2026-03-10",
            "date_to": "2026-03-10",
        },
    )

    assert shown_ids(response) == [wanted.pk]
    by_id = client.get(reverse("audit:events"), {"claim": str(other_claim.pk)})
    assert {e.claim_id for e in by_id.context["page"].events} == {other_claim.pk}


def test_invalid_filters_are_explained_and_ignored_not_a_server_error(client, member):
    lead = member("lead")
    ids = record_many(2, actor=lead, action=Event.MEMBER_ADDED)
    client.force_login(lead)

    response = client.get(
        reverse("audit:events"),
        {
            "action": "team.member_added",
            "outcome": "sideways",
            "claim": "NO-SUCH-CODE",
            "date_from": "2026-02-30",
            "before": "x",
        },
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "Some filters were not understood and were ignored:" in body
    assert "Claim: No claim has this return code or id." in body
    assert "Outcome: Select a valid choice. sideways is not one of the available choices." in body
    assert shown_ids(response) == ids[::-1]


def test_an_end_date_before_the_start_date_is_explained(client, member):
    client.force_login(member("lead"))

    response = client.get(
        reverse("audit:events"), {"date_from": "2026-03-10", "date_to": "2026-03-09"}
    )

    assert "Until: The end date is before the start date." in response.content.decode()


def test_pages_follow_each_other_without_gaps_or_repeats_and_lead_back(client, member):
    lead = member("lead")
    ids = record_many(120, actor=lead, action=Event.MEMBER_ADDED)[::-1]
    client.force_login(lead)
    url = reverse("audit:events")
    query = {"action": "team.member_added"}

    first = client.get(url, query).context["page"]
    second = client.get(url, {**query, "before": first.older}).context["page"]
    third = client.get(url, {**query, "before": second.older}).context["page"]
    back = client.get(url, {**query, "after": third.newer}).context["page"]

    assert [e.pk for e in first.events] == ids[:50]
    assert (first.newer, first.older) == (None, ids[49])
    assert [e.pk for e in second.events] == ids[50:100]
    assert [e.pk for e in third.events] == ids[100:]
    assert third.older is None
    assert [e.pk for e in back.events] == ids[50:100]
    assert (back.newer, back.older) == (ids[50], ids[99])


def test_events_recorded_in_the_same_instant_keep_a_total_order(client, member):
    lead = member("lead")
    moment = at_day(datetime.date(2026, 3, 10))
    ids = [recorded_at(moment, Event.MEMBER_ADDED, actor=lead).pk for _ in range(60)][::-1]
    client.force_login(lead)
    url = reverse("audit:events")

    first = client.get(url, {"action": "team.member_added"}).context["page"]
    second = client.get(url, {"action": "team.member_added", "before": first.older})

    assert [e.pk for e in first.events] + shown_ids(second) == ids


def test_a_page_of_events_costs_a_fixed_number_of_queries(
    client, member, django_assert_max_num_queries
):
    lead = member("lead")
    ids = record_many(80, actor=lead, action=Event.MEMBER_ADDED, subject_user=member("agent"))
    client.force_login(lead)

    # Session, member and role; the person filter, the cursor, the page, the people to
    # choose from; the session saved again (three statements).
    with django_assert_max_num_queries(10):
        response = client.get(reverse("audit:events"), {"before": ids[-10], "person": lead.pk})

    assert len(shown_ids(response)) == 50


def test_an_htmx_filter_returns_only_the_results(client, member):
    client.force_login(member("lead"))

    response = client.get(
        reverse("audit:events"), {"action": "auth"}, HTTP_HX_TARGET="audit-results", **HTMX
    )

    body = response.content.decode()
    assert "<html" not in body and 'id="audit-filters"' not in body
    assert 'id="audit-export"' in body
    assert "HX-Request" in response["Vary"]


# The CSV export ---------------------------------------------------------------------------


def test_the_export_holds_exactly_the_filtered_events_across_every_page(client, member):
    lead, agent = member("lead"), member("agent")
    wanted = record_many(130, actor=agent, action=Event.MEMBER_ADDED)
    record_many(20, actor=lead, action=Event.MEMBER_ADDED)
    client.force_login(lead)

    response = client.get(
        reverse("audit:export"),
        {"person": agent.pk, "action": "team.member_added", "before": wanted[-1]},
    )

    rows = csv_rows(response)
    assert [int(row["id"]) for row in rows] == wanted[::-1]
    assert {row["person"] for row in rows} == {agent.username}
    assert response["Content-Disposition"].startswith('attachment; filename="claimdesk-audit-')


def test_an_agents_export_holds_only_their_own_events(client, member):
    agent, other = member("agent"), member("agent")
    mine = record_many(3, actor=agent, action=Event.MEMBER_ADDED)
    record_many(3, actor=other, action=Event.MEMBER_ADDED)
    client.force_login(agent)

    rows = csv_rows(client.get(reverse("audit:export"), {"action": "team"}))

    assert [int(row["id"]) for row in rows] == mine[::-1]


def test_exported_cells_that_a_spreadsheet_would_run_are_defused(client, member):
    lead = member("lead")
    audit.record(
        Event.DECISION_FAILED,
        actor=lead,
        reason='=HYPERLINK("https://127.0.0.1/x")',
        upstream_message="-2+3",
        origin=Origin("req-1", "127.0.0.1", "@SUM(A1)"),
        images=["https://127.0.0.1/a.jpg"],
    )
    client.force_login(lead)

    (row,) = csv_rows(client.get(reverse("audit:export"), {"action": "decision.failed"}))

    assert row["reason"] == '\'=HYPERLINK("https://127.0.0.1/x")'
    assert (row["upstream_message"], row["user_agent"]) == ("'-2+3", "'@SUM(A1)")
    assert (row["images"], row["role"], row["client_ip"]) == (
        "https://127.0.0.1/a.jpg",
        "lead",
        "127.0.0.1",
    )


# The claim's trail ------------------------------------------------------------------------


def test_the_detail_pane_shows_the_claims_trail_with_a_link_to_the_audit(
    client, member, waiting_claim, sandbox
):
    agent = member("agent", first_name="Ayla", last_name="Kaya")
    client.force_login(agent)
    client.post(reverse("claims:approve", args=[waiting_claim.pk]), **HTMX)

    response = client.get(reverse("claims:detail", args=[waiting_claim.pk]), **HTMX)

    trail = response.context["trail"]
    assert [e.action for e in trail] == ["decision.sent", "decision.requested"]
    body = response.content.decode()
    assert "Audit trail" in body
    assert "Ayla Kaya (Agent)" in body
    assert f'href="/audit/?claim={waiting_claim.pk}"' in body


def test_a_viewer_sees_only_their_own_events_in_a_claims_trail(
    client, member, waiting_claim, sandbox
):
    client.force_login(member("agent"))
    client.post(reverse("claims:approve", args=[waiting_claim.pk]), **HTMX)
    client.force_login(member("viewer"))

    response = client.get(reverse("claims:detail", args=[waiting_claim.pk]), **HTMX)

    assert response.context["trail"] == []
    assert "Audit trail" not in response.content.decode()
