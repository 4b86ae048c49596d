"""Approving and rejecting claims: the only code that changes a claim's decision.

A decision is recorded, with the claim row locked, before the Seller Center is called; the call
happens after that transaction commits, so no lock is held while waiting on the network, and
the database's one-live-decision constraint makes a second click or a second agent a no-op.
Whatever the Seller Center answers, or fails to answer, ends in one recorded state:

- 2xx: sent.
- 400: failed, in the Seller Center's words; the claim is read again, so the queue shows what
  it has become and it can be decided again if it is still waiting.
- 401/403: failed; admins are told which settings to check, nobody sees the key.
- 404: failed; the claim is marked as gone upstream.
- timeout, broken connection, 5xx: unconfirmed ("sent, awaiting confirmation"): the request
  may have been applied. The next sync settles it from the claim's upstream status.
- the process dies mid-call: the decision stays requested, and a sync settles it once the call
  can no longer be running.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit, roles, sync
from .models import AuditEvent, Claim, ClaimStatus, Decision, SyncState
from .seller_center import (
    InvalidRequest,
    NotFound,
    SellerCenterError,
    Unauthorized,
    Unavailable,
    client_for,
)

logger = logging.getLogger(__name__)

Event = AuditEvent.Action
State = Decision.State

# The API's dates carry milliseconds; a one-millisecond window around a claim's creation time
# finds that claim (and, at worst, the odd claim created in the same millisecond).
_CREATED_AT_WINDOW = timedelta(milliseconds=1)


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision | None
    level: str  # "success", "warning" or "error": how the UI presents the message
    message: str

    @property
    def ok(self):
        return self.level == "success"


class NotDecidable(Exception):
    def __init__(self, message, decision=None, *, why):
        super().__init__(message)
        self.message = message
        self.decision = decision
        self.why = why


def approve(claim_id, actor, *, origin=None, client=None, on_record=None):
    return _decide(claim_id, actor, Decision.Action.APPROVE, "", [], origin, client, on_record)


def reject(claim_id, actor, reason, images, *, origin=None, client=None, on_record=None):
    """`on_record(decision)`, if given, runs in the transaction that records the decision."""
    return _decide(
        claim_id, actor, Decision.Action.REJECT, reason, list(images), origin, client, on_record
    )


def _decide(claim_id, actor, action, reason, images, origin, client, on_record):
    # The client is made first: a configuration error must not leave a decision behind.
    owns_client = client is None
    client = client or client_for()
    try:
        try:
            decision = _record_request(claim_id, actor, action, reason, images, origin, on_record)
        except NotDecidable as refusal:
            _audit_refusal(claim_id, actor, action, reason, images, origin, refusal)
            return DecisionResult(refusal.decision, "error", refusal.message)
        try:
            outcome = _send(client, decision)
        except SellerCenterError as error:
            return _record_failure(decision, error, origin, client)
        return _record_sent(decision, outcome, origin)
    finally:
        if owns_client:
            client.close()


def _send(client, decision):
    if decision.action == Decision.Action.APPROVE:
        return client.approve(decision.claim_id)
    return client.reject(decision.claim_id, decision.reason, decision.images)


# Recording the request --------------------------------------------------------------------


def _record_request(claim_id, actor, action, reason, images, origin, on_record):
    with transaction.atomic():
        claim = Claim.objects.select_for_update().filter(pk=claim_id).first()
        if claim is None:
            raise NotDecidable(_("ClaimDesk does not know this claim."), why="unknown")
        _refuse_if_taken(claim)
        if not claim.is_decidable:
            raise NotDecidable(_not_decidable_message(claim), why="not_waiting")
        try:
            with transaction.atomic():
                decision = Decision.objects.create(
                    claim=claim,
                    action=action,
                    reason=reason,
                    images=images,
                    actor=actor,
                    requested_at=timezone.now(),
                )
        except IntegrityError:
            # Only reachable if something wrote a decision without taking the row lock.
            _refuse_if_taken(claim)
            raise
        _audit(Event.DECISION_REQUESTED, decision, origin, status_after=claim.status)
        if on_record is not None:
            on_record(decision)
    return decision


def _refuse_if_taken(claim):
    live = claim.decisions.filter(state__in=Decision.LIVE_STATES).select_related("actor").first()
    if live is not None:
        raise NotDecidable(_already_decided_message(live), live, why="already_decided")


def _already_decided_message(decision):
    person = decision.actor.get_full_name() or decision.actor.get_username()
    if decision.action == Decision.Action.APPROVE:
        return _("%(person)s already chose to approve this claim.") % {"person": person}
    return _("%(person)s already chose to reject this claim.") % {"person": person}


def _not_decidable_message(claim):
    if claim.missing_upstream_at is not None:
        return _("The Seller Center no longer returns this claim, so it cannot be decided.")
    return _("This claim is no longer waiting for a decision (it is %(status)s).") % {
        "status": _status_label(claim.status)
    }


def _status_label(status):
    try:
        return ClaimStatus(status).label.lower()
    except ValueError:
        return status


def _audit_refusal(claim_id, actor, action, reason, images, origin, refusal):
    known = refusal.why != "unknown"
    status = _cached_status(claim_id) if known else ""
    audit.record(
        Event.DECISION_REFUSED,
        actor=actor,
        origin=origin,
        claim_id=claim_id if known else None,
        status_before=status,
        status_after=status,
        decision=refusal.decision,
        reason=reason,
        images=images,
        details={"action": action, "why": refusal.why, "claim": str(claim_id)},
    )


# Recording the outcome --------------------------------------------------------------------


def _record_sent(decision, outcome, origin):
    now = timezone.now()
    new_status = _expected_status(decision)
    with transaction.atomic():
        settled = _finish(decision, State.SENT, outcome.status, "", sent_at=now, resolved_at=now)
        if settled:
            Claim.objects.filter(pk=decision.claim_id).update(status=new_status)
        _audit(
            Event.DECISION_SENT,
            decision,
            origin,
            status_after=new_status,
            upstream_status=outcome.status,
            latency_ms=outcome.latency_ms,
            details={} if settled else {"arrived_after_settling": True},
        )
    if decision.action == Decision.Action.APPROVE:
        message = _("Claim approved.")
    else:
        message = _("Claim rejected.")
    return DecisionResult(decision, "success", message)


def _cached_status(claim_id):
    """The claim's status as ClaimDesk has it now: a failed call leaves it as it was."""
    return Claim.objects.filter(pk=claim_id).values_list("status", flat=True).first() or ""


def _expected_status(decision):
    if decision.action == Decision.Action.APPROVE:
        return ClaimStatus.APPROVED
    return ClaimStatus.REJECTED


def _record_failure(decision, error, origin, client):
    unknown = isinstance(error, Unavailable) and error.outcome_unknown
    state = State.UNCONFIRMED if unknown else State.FAILED
    now = timezone.now()
    with transaction.atomic():
        _finish(
            decision,
            state,
            error.status,
            error.message,
            sent_at=now,
            resolved_at=None if unknown else now,
        )
        if isinstance(error, NotFound):
            Claim.objects.filter(pk=decision.claim_id).update(missing_upstream_at=now)
        _audit(
            Event.DECISION_UNCONFIRMED if unknown else Event.DECISION_FAILED,
            decision,
            origin,
            status_after=_cached_status(decision.claim_id),
            upstream_status=error.status,
            upstream_message=error.message,
            latency_ms=error.latency_ms,
        )
    logger.info("decision %s ended %s (upstream status %s)", decision.pk, state, error.status)
    if unknown:
        return DecisionResult(decision, "warning", _unconfirmed_message())
    if isinstance(error, InvalidRequest):
        return DecisionResult(decision, "error", _refused_message(error, decision, client))
    return DecisionResult(decision, "error", _failure_message(error, decision.actor))


def _unconfirmed_message():
    return _(
        "Sent, awaiting confirmation: the Seller Center did not answer clearly. The next sync "
        "will confirm whether it was applied."
    )


def _refused_message(error, decision, client):
    refused = _("The Seller Center refused the decision: %(message)s") % {"message": error.message}
    claim = reread_claim(decision.claim_id, client)
    if claim is None:
        now = _("ClaimDesk could not read the claim again just now; the next sync will.")
    elif claim.is_decidable:
        now = _("The claim is still waiting and can be decided again.")
    else:
        now = _("The claim is now %(status)s.") % {"status": _status_label(claim.status)}
    return f"{refused} {now}"


def _failure_message(error, actor):
    if isinstance(error, Unauthorized):
        if roles.can(actor, roles.Action.MANAGE_ADMINS):
            return _(
                "The Seller Center refused ClaimDesk's API key, so nothing was sent. Check "
                "SELLER_CENTER_API_KEY and SELLER_CENTER_AUTH_SCHEME in ClaimDesk's "
                "environment, and that the key is still active in the Seller Center."
            )
        return _(
            "ClaimDesk is not allowed into the Seller Center right now, so nothing was sent. "
            "Please tell an admin."
        )
    if isinstance(error, NotFound):
        return _("The Seller Center no longer knows this claim; it is marked as gone.")
    return _("Nothing was applied: %(message)s") % {"message": error.message}


def _finish(decision, state, upstream_status, upstream_message, **times):
    """Record the outcome unless a sync settled the decision first; True if recorded."""
    fields = {
        "state": state,
        "upstream_status": upstream_status,
        "upstream_message": upstream_message[:2000],
        **times,
    }
    changed = Decision.objects.filter(pk=decision.pk, state=State.REQUESTED).update(**fields)
    if not changed:
        logger.warning("decision %s: the outcome arrived after a sync had settled it", decision.pk)
        decision.refresh_from_db()
        return False
    for name, value in fields.items():
        setattr(decision, name, value)
    return True


def _audit(event, decision, origin, **fields):
    audit.record(
        event,
        actor=decision.actor,
        origin=origin,
        claim_id=decision.claim_id,
        decision=decision,
        reason=decision.reason,
        images=decision.images,
        status_before=fields.pop("status_before", ClaimStatus.WAITING),
        **fields,
    )


# Reading a claim again --------------------------------------------------------------------


def reread_claim(claim_id, client):
    """Fetch one claim from the Seller Center into the cache; the stored claim, or None.

    The API has no single-claim endpoint. A window of one millisecond on `created_at` selects
    this claim whatever has happened to it since, in one small page; `updated_at__gte` would
    bring every claim changed since this one last was, and an incremental sync would have to
    wait for the sync lock.
    """
    claim = Claim.objects.filter(pk=claim_id).only("created_at").first()
    if claim is None:
        return None
    created = claim.created_at
    try:
        page = next(
            iter(
                client.claim_pages(
                    created_at__gte=created, created_at__lte=created + _CREATED_AT_WINDOW
                )
            )
        )
    except SellerCenterError as error:
        logger.warning("could not read claim %s again: %s", claim_id, type(error).__name__)
        return None
    records = [record for record in page.items if record.id == claim.pk]
    if not records:
        return None
    sync.store_claims(records)
    return Claim.objects.get(pk=claim_id)


# Settling unknown outcomes ----------------------------------------------------------------


def call_limit():
    """The longest a decision call can take before the client gives up on it."""
    return timedelta(
        seconds=settings.SELLER_CENTER_CONNECT_TIMEOUT + 3 * settings.SELLER_CENTER_TIMEOUT
    )


def reconcile():
    """Settle unconfirmed and abandoned decisions from the claims' status as last synced.

    Sync calls this after every successful claims sync. An approved, rejected or completed
    claim settles a decision at once. A claim still waiting means "not applied" only when the
    sync started at least one read timeout after the call ended, since the Seller Center may
    still have been working on a request ClaimDesk stopped waiting for. A decision still
    requested is left alone until its call cannot be running any more.
    """
    state = SyncState.objects.filter(name="claims", outcome=SyncState.Outcome.OK).first()
    if state is None or state.started_at is None:
        return 0
    abandoned_before = timezone.now() - call_limit()
    unsettled = Decision.objects.filter(state=State.UNCONFIRMED) | Decision.objects.filter(
        state=State.REQUESTED, requested_at__lt=abandoned_before
    )
    settled = 0
    for decision in unsettled.select_related("claim", "actor"):
        settled += _reconcile_one(decision, state.started_at)
    return settled


def _reconcile_one(decision, synced_from):
    status = decision.claim.status
    if status == ClaimStatus.WAITING:
        call_ended = decision.sent_at or decision.requested_at + call_limit()
        if synced_from < call_ended + timedelta(seconds=settings.SELLER_CENTER_TIMEOUT):
            return 0
    expected = _expected_status(decision)
    if status == expected or (
        expected == ClaimStatus.APPROVED and status == ClaimStatus.COMPLETED
    ):
        state, event = State.SENT, Event.DECISION_CONFIRMED
    else:
        # Still waiting, or the claim moved on some other way (decided elsewhere, withdrawn).
        state, event = State.FAILED, Event.DECISION_NOT_APPLIED
    with transaction.atomic():
        changed = Decision.objects.filter(pk=decision.pk, state=decision.state).update(
            state=state, resolved_at=timezone.now()
        )
        if changed:
            before = decision.state
            decision.state = state
            _audit(event, decision, None, status_after=status, details={"settled_from": before})
    return changed
