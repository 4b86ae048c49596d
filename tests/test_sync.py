import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from claims.models import Claim, ClaimReason, ClaimSnapshot, SyncState
from claims.seller_center import Unavailable
from claims.sync import SYNC_LOCK_KEY, SyncBusy, sync_everything

pytestmark = pytest.mark.django_db


def claims_requests(sandbox):
    return [r for r in sandbox.requests if r.path.endswith("/i2/claims/")]


def row_versions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM claims_claim ORDER BY id")
        return cursor.fetchall()


def test_a_first_sync_stores_every_claim_and_reason(sandbox):
    reasons, claims = sync_everything()

    assert Claim.objects.count() == 300
    assert claims.fetched == 300
    assert claims.created == 300
    assert ClaimReason.objects.count() == reasons.created > 0
    assert not ClaimSnapshot.objects.exists()


def test_stored_claims_match_the_upstream_payload(sandbox):
    sync_everything()
    claim = Claim.objects.filter(type="refund").exclude(return_code="").first()
    upstream = sandbox.claim(claim.pk)

    assert claim.raw == upstream
    assert claim.status == upstream["status"]
    assert claim.return_code == upstream["return_code"]
    assert claim.reason_subject == upstream["reason"]["subject"]
    assert claim.created_at.isoformat().startswith(upstream["created_at"][:19])


def test_a_second_sync_of_unchanged_data_writes_nothing(sandbox):
    sync_everything()
    before = row_versions()

    _, claims = sync_everything(full=True)

    assert (claims.created, claims.updated, claims.unchanged) == (0, 0, 300)
    assert row_versions() == before
    assert not ClaimSnapshot.objects.exists()


def test_a_changed_claim_is_updated_and_its_previous_payload_kept(sandbox):
    sync_everything()
    claim = Claim.objects.filter(status="waiting").first()
    sandbox.update_claim(claim.pk, status="approved")

    _, claims = sync_everything()

    assert claims.updated == 1
    assert Claim.objects.get(pk=claim.pk).status == "approved"
    [snapshot] = ClaimSnapshot.objects.all()
    assert (snapshot.claim_id, snapshot.payload) == (claim.pk, claim.raw)
    assert snapshot.taken_at == claim.last_synced_at


def test_an_incremental_sync_asks_only_for_changes_since_the_watermark(sandbox):
    sync_everything()
    watermark = SyncState.objects.get(name="claims").watermark
    sandbox.requests.clear()

    sync_everything()

    sent = claims_requests(sandbox)[0].query["updated_at__gte"]
    assert sent == watermark.strftime("%Y-%m-%dT%H:%M:%S.") + f"{watermark:%f}"[:3] + "Z"


def test_unknown_statuses_and_fields_are_kept_as_sent(sandbox):
    sync_everything()
    claim_id = Claim.objects.values_list("id", flat=True).first()
    sandbox.update_claim(claim_id, status="escalated", courier_note="left at the door")

    sync_everything()

    claim = Claim.objects.get(pk=claim_id)
    assert claim.status == "escalated"
    assert claim.raw["courier_note"] == "left at the door"


def test_a_failed_run_leaves_the_watermark_where_it_was(sandbox, settings):
    settings.SELLER_CENTER_PAGE_SIZE = 100
    sync_everything()
    watermark = SyncState.objects.get(name="claims").watermark
    # The first claims page is served; every later one fails past the retries.
    sandbox.faults.delay_next(1, seconds=0, path_contains="/i2/claims/")
    sandbox.faults.fail_next(10, status=500, path_contains="/i2/claims/")
    sandbox.requests.clear()

    with pytest.raises(Unavailable):
        sync_everything(full=True)

    state = SyncState.objects.get(name="claims")
    assert state.watermark == watermark
    assert state.outcome == SyncState.Outcome.FAILED
    assert state.error == "The Seller Center is unavailable (HTTP 500)."
    assert [r.query["page"] for r in claims_requests(sandbox)] == ["1", "2", "2", "2"]


def test_a_sync_is_skipped_while_another_process_holds_the_lock(sandbox):
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [SYNC_LOCK_KEY])
        with pytest.raises(SyncBusy):
            sync_everything()

    assert not sandbox.requests


def test_the_command_prints_a_one_line_summary(sandbox, capsys):
    call_command("sync_claims")

    out = capsys.readouterr().out
    assert "claims: pages 1, fetched 300, created 300, updated 0, unchanged 0," in out
