"""Approving and rejecting claims: the only code that changes a claim's decision.

A decision is recorded, with the claim row locked, before the Seller Center is called; the call
happens after that transaction commits, so no lock is held while waiting on the network, and
the database's one-live-decision constraint makes a second click or a second agent a no-op.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit
from .models import AuditEvent, Claim, ClaimStatus, Decision
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

# A decision still "requested" this long after it was recorded lost its process mid-call.
ABANDONED_AFTER = timezone.timedelta(minutes=2)


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision | None
    level: str  # "success", "warning" or "error": how the UI presents the message
    message: str

    @property
    def ok(self):
        return self.level == "success"


class NotDecidable(Exception):
    def __init__(self, message, decision=None):
        super().__init__(message)
        self.message = message
        self.decision = decision


def approve(claim_id, actor, *, origin=None, client=None):
    return _decide(claim_id, actor, Decision.Action.APPROVE, "", [], origin, client)


def reject(claim_id, actor, reason, images, *, origin=None, client=None):
    return _decide(claim_id, actor, Decision.Action.REJECT, reason, list(images), origin, client)


def _decide(claim_id, actor, action, reason, images, origin, client):
    try:
        decision = _record_request(claim_id, actor, action, reason, images, origin)
    except NotDecidable as refusal:
        return DecisionResult(refusal.decision, "error", refusal.message)

    client = client or client_for()
    try:
        if action == Decision.Action.APPROVE:
            outcome = client.approve(claim_id)
        else:
            outcome = client.reject(claim_id, reason, images)
    except SellerCenterError as error:
        return _record_failure(decision, error, origin)
    return _record_sent(decision, outcome, origin)


def _record_request(claim_id, actor, action, reason, images, origin):
    with transaction.atomic():
        claim = Claim.objects.select_for_update().get(pk=claim_id)
        live = claim.decisions.filter(state__in=Decision.LIVE_STATES).first()
        if live:
            raise NotDecidable(_already_decided_message(live), live)
        if not claim.is_decidable:
            raise NotDecidable(_("This claim is no longer waiting for a decision."))
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
            live = claim.decisions.filter(state__in=Decision.LIVE_STATES).first()
            raise NotDecidable(_already_decided_message(live), live) from None
        _audit(Event.DECISION_REQUESTED, decision, origin, status_after=claim.status)
    return decision


def _already_decided_message(decision):
    if decision is None:
        return _("Someone else is deciding this claim right now.")
    return _("%(person)s already chose to %(action)s this claim.") % {
        "person": decision.actor.get_full_name() or decision.actor.get_username(),
        "action": decision.get_action_display().lower(),
    }


def _record_sent(decision, outcome, origin):
    now = timezone.now()
    new_status = (
        ClaimStatus.APPROVED if decision.action == Decision.Action.APPROVE else ClaimStatus.REJECTED
    )
    with transaction.atomic():
        _finish(decision, State.SENT, outcome.status, "", sent_at=now, resolved_at=now)
        Claim.objects.filter(pk=decision.claim_id).update(status=new_status)
        _audit(
            Event.DECISION_SENT,
            decision,
            origin,
            status_after=new_status,
            upstream_status=outcome.status,
            latency_ms=outcome.latency_ms,
        )
    if decision.action == Decision.Action.APPROVE:
        message = _("Claim approved.")
    else:
        message = _("Claim rejected.")
    return DecisionResult(decision, "success", message)


def _record_failure(decision, error, origin):
    if isinstance(error, Unavailable) and error.outcome_unknown:
        state, event, level = State.UNCONFIRMED, Event.DECISION_UNCONFIRMED, "warning"
        message = _(
            "Sent, awaiting confirmation: the Seller Center did not answer clearly. The next "
            "sync will confirm whether it was applied."
        )
    else:
        state, event, level = State.FAILED, Event.DECISION_FAILED, "error"
        message = _failure_message(error)
    now = timezone.now()
    with transaction.atomic():
        resolved_at = now if state == State.FAILED else None
        _finish(decision, state, error.status, error.message, sent_at=now, resolved_at=resolved_at)
        if isinstance(error, NotFound):
            Claim.objects.filter(pk=decision.claim_id).update(missing_upstream_at=now)
        _audit(
            event,
            decision,
            origin,
            upstream_status=error.status,
            upstream_message=error.message,
        )
    logger.info("decision %s ended %s (upstream status %s)", decision.pk, state, error.status)
    return DecisionResult(decision, level, message)


def _failure_message(error):
    if isinstance(error, InvalidRequest):
        return _("The Seller Center refused the decision: %(message)s") % {
            "message": error.message
        }
    if isinstance(error, Unauthorized):
        return _(
            "The Seller Center refused ClaimDesk's API key. An admin needs to check the "
            "SELLER_CENTER_API_KEY setting."
        )
    if isinstance(error, NotFound):
        return _("The Seller Center no longer knows this claim; it is marked as gone.")
    return _("The Seller Center could not be reached, so nothing was sent. Try again shortly.")


def _finish(decision, state, upstream_status, upstream_message, **times):
    fields = {
        "state": state,
        "upstream_status": upstream_status,
        "upstream_message": upstream_message[:2000],
        **times,
    }
    Decision.objects.filter(pk=decision.pk).update(**fields)
    for name, value in fields.items():
        setattr(decision, name, value)


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


def reconcile():
    """Settle decisions whose outcome is unknown against the claims' synced upstream status."""
    cutoff = timezone.now() - ABANDONED_AFTER
    unsettled = Decision.objects.filter(state=State.UNCONFIRMED) | Decision.objects.filter(
        state=State.REQUESTED, requested_at__lt=cutoff
    )
    for decision in unsettled.select_related("claim", "actor"):
        _reconcile_one(decision)


def _reconcile_one(decision):
    status = decision.claim.status
    expected = "approved" if decision.action == Decision.Action.APPROVE else "rejected"
    if status == ClaimStatus.WAITING:
        state, event = State.FAILED, Event.DECISION_NOT_APPLIED
    elif status == expected or (expected == "approved" and status == ClaimStatus.COMPLETED):
        state, event = State.SENT, Event.DECISION_CONFIRMED
    else:
        # The claim moved on some other way (decided elsewhere, cancelled upstream).
        state, event = State.FAILED, Event.DECISION_NOT_APPLIED
    with transaction.atomic():
        changed = Decision.objects.filter(pk=decision.pk, state=decision.state).update(
            state=state, resolved_at=timezone.now()
        )
        if changed:
            decision.state = state
            _audit(event, decision, None, status_after=status)
