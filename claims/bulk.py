"""Bulk decisions: one action, reason and images for many claims, worked off in the background.

`start` stores a BulkRun with one BulkItem per claim and queues `tasks.advance_bulk_run`. Each
run of that task is a slice of at most SLICE_SECONDS: it decides pending items one by one
through decisions.py, as a person would, no faster than BULK_REQUESTS_PER_SECOND.

Stopping the worker at any moment loses nothing and sends nothing twice:
- an item's decision is linked to it in the transaction that records the decision, so an item
  either has no decision and was never sent, or has one and is never sent again; a decision
  whose call was cut off is settled by the next sync like any other;
- one process at a time advances a run (a PostgreSQL advisory lock per run, which dies with
  the process that held it);
- a slice queues, before it starts, a deferred task that carries the run on should the worker
  be killed, and, when it stops (its time is up, or the worker is shutting down), the next
  slice, which a restarted worker runs at once.
"""

import logging
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import audit, decisions, queries, roles, tasks
from .models import AuditEvent, BulkItem, BulkRun, Claim, ClaimStatus, Decision
from .seller_center import client_for

logger = logging.getLogger(__name__)

# Long enough to amortise a task's overhead, short enough that a graceful stop of the worker
# (which lets the running task finish) is quick.
SLICE_SECONDS = 10
MAX_CLAIMS_PER_RUN = 5000
# pg_advisory_lock(key1, key2) keys: this class, and 32 bits of the run's id.
BULK_LOCK_CLASS = 0x626C6B

KEY_REFUSED = frozenset({401, 403})
SLOW_DOWN = frozenset({429, 503})
OUTCOMES = ["pending", "requested", "sent", "unconfirmed", "failed", "skipped"]


class NothingToDecide(Exception):
    pass


class TooManyClaims(Exception):
    pass


class ItemTaken(Exception):
    """The item stopped being pending while its decision was being recorded."""


# Starting a run ---------------------------------------------------------------------------


def waiting_claims_matching(filters):
    """Every claim a bulk run could take under these queue filters: the decidable ones."""
    return queries.filtered_claims(filters).filter(
        status=ClaimStatus.WAITING, missing_upstream_at__isnull=True
    )


def waiting_claims_among(claim_ids):
    return Claim.objects.filter(
        pk__in=claim_ids, status=ClaimStatus.WAITING, missing_upstream_at__isnull=True
    )


def start(actor, action, reason, images, claims, selection, *, origin=None):
    """Store a run over `claims` (a queryset) and queue it; the run, once committed."""
    roles.require(actor, roles.Action.BULK_DECIDE)
    claim_ids = list(claims.order_by("created_at", "id").values_list("id", flat=True))
    if not claim_ids:
        raise NothingToDecide
    if len(claim_ids) > MAX_CLAIMS_PER_RUN:
        raise TooManyClaims
    with transaction.atomic():
        run = BulkRun.objects.create(
            actor=actor,
            action=action,
            reason=reason if action == Decision.Action.REJECT else "",
            images=list(images) if action == Decision.Action.REJECT else [],
            selection=selection,
            language=translation.get_language() or "",
            total=len(claim_ids),
            created_at=timezone.now(),
        )
        BulkItem.objects.bulk_create(
            BulkItem(run=run, claim_id=claim_id, position=position)
            for position, claim_id in enumerate(claim_ids, start=1)
        )
        _audit(run, AuditEvent.Action.BULK_STARTED, origin, total=run.total, selection=selection)
        transaction.on_commit(lambda: _enqueue(run.pk))
    logger.info("bulk run %s started: %s of %s claims", run.pk, action, run.total)
    return run


def _enqueue(run_id, delay=None):
    task = tasks.advance_bulk_run
    if delay is not None:
        task = task.using(run_after=timezone.now() + delay)
    task.enqueue(str(run_id))


def watchdog_delay():
    """When a slice that has not ended by now is taken for dead."""
    return timedelta(seconds=SLICE_SECONDS + 10) + decisions.call_limit()


# Advancing a run --------------------------------------------------------------------------


def advance(run_id, *, client=None):
    """One slice of a run; what the slice did: "finished", "continues", "busy" or "done"."""
    run = BulkRun.objects.filter(pk=run_id).select_related("actor").first()
    if run is None or run.is_done:
        return "done"
    with _run_lock(run.pk) as held:
        if not held:
            return "busy"
        _enqueue(run.pk, delay=watchdog_delay())
        return _slice(run, client)


def _slice(run, client):
    finished = False
    try:
        finished = _work(run, client)
    except Exception:
        # Left to the deferred task: an immediate retry of a failing slice would only spin.
        logger.exception("bulk run %s: a slice stopped with an error", run.pk)
        raise
    except BaseException:
        # The worker is being stopped: queue the rest for whenever it is back.
        _enqueue(run.pk)
        raise
    if not finished:
        _enqueue(run.pk)
    return "finished" if finished else "continues"


@contextmanager
def _run_lock(run_id):
    key = int.from_bytes(run_id.bytes[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [BULK_LOCK_CLASS, key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BULK_LOCK_CLASS, key])


def _work(run, client):
    """Decide items until the slice's time is up; True when the run has ended."""
    with translation.override(run.language or settings.LANGUAGE_CODE):
        return _work_in_language(run, client)


def _work_in_language(run, client):
    if not roles.can(run.actor, roles.Action.BULK_DECIDE):
        _stop(
            run, _("Skipped: the person who started this run may no longer make bulk decisions.")
        )
        return True
    _mark_running(run)
    deadline = time.monotonic() + SLICE_SECONDS
    pacer = Pacer(settings.BULK_REQUESTS_PER_SECOND, since=run.heartbeat_at)
    owns_client = client is None
    client = client or client_for()
    try:
        while time.monotonic() < deadline:
            if _step(run, client, pacer):
                return True
    finally:
        if owns_client:
            client.close()
    return False


def _step(run, client, pacer):
    """Decide the next pending item; True when the run has ended."""
    item = run.items.filter(state=BulkItem.State.PENDING).order_by("position").first()
    if item is None:
        _finish(run)
        return True
    if _looks_decidable(item.claim_id):
        pacer.wait()
    upstream_status = _process(run, item, client)
    BulkRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    if upstream_status in KEY_REFUSED:
        # Every further call would be refused the same way until an admin fixes it.
        _stop(run, _("Skipped: the Seller Center refused ClaimDesk's API key."))
        return True
    if upstream_status in SLOW_DOWN:
        pacer.slow_down()
    return False


def _looks_decidable(claim_id):
    # Only a claim that may reach the API waits its turn; refusals cost no request.
    return (
        waiting_claims_among([claim_id])
        .exclude(decisions__state__in=Decision.LIVE_STATES)
        .exists()
    )


def _process(run, item, client):
    """Decide one item; the upstream status of its decision's call, if one was made."""
    linked = []

    def link(decision):
        taken = BulkItem.objects.filter(pk=item.pk, state=BulkItem.State.PENDING).update(
            state=BulkItem.State.DECIDED, decision=decision
        )
        if not taken:
            raise ItemTaken  # rolls the decision back before any call is made
        linked.append(decision)

    try:
        result = _decide(run, item, client, link)
    except ItemTaken:
        logger.warning("bulk run %s: item %s was taken by another process", run.pk, item.pk)
        return None
    except Exception:
        logger.exception("bulk run %s: claim %s could not be decided", run.pk, item.claim_id)
        result = None
    _record_item(item, result)
    # decisions.py records the outcome on the very object it handed to link().
    return linked[0].upstream_status if linked else None


def _decide(run, item, client, link):
    if run.action == Decision.Action.APPROVE:
        return decisions.approve(item.claim_id, run.actor, client=client, on_record=link)
    return decisions.reject(
        item.claim_id, run.actor, run.reason, run.images, client=client, on_record=link
    )


def _record_item(item, result):
    message = result.message if result else _("ClaimDesk could not process this claim.")
    now = timezone.now()
    decided = BulkItem.objects.filter(pk=item.pk, state=BulkItem.State.DECIDED).update(
        message=message, finished_at=now
    )
    if not decided:
        BulkItem.objects.filter(pk=item.pk, state=BulkItem.State.PENDING).update(
            state=BulkItem.State.SKIPPED, message=message, finished_at=now
        )


def _mark_running(run):
    now = timezone.now()
    BulkRun.objects.filter(pk=run.pk, started_at__isnull=True).update(started_at=now)
    BulkRun.objects.filter(pk=run.pk).update(state=BulkRun.State.RUNNING, heartbeat_at=now)


def _finish(run, state=BulkRun.State.FINISHED):
    now = timezone.now()
    changed = (
        BulkRun.objects.filter(pk=run.pk)
        .exclude(state__in=[BulkRun.State.FINISHED, BulkRun.State.STOPPED])
        .update(state=state, finished_at=now, heartbeat_at=now)
    )
    if changed:
        counts = progress(run)
        _audit(run, AuditEvent.Action.BULK_FINISHED, None, state=state, counts=counts)
        logger.info("bulk run %s %s: %s", run.pk, state, counts)


def _stop(run, message):
    run.items.filter(state=BulkItem.State.PENDING).update(
        state=BulkItem.State.SKIPPED, message=message, finished_at=timezone.now()
    )
    _finish(run, BulkRun.State.STOPPED)


def _audit(run, event, origin, **details):
    audit.record(
        event,
        actor=run.actor,
        origin=origin,
        reason=run.reason,
        images=run.images,
        details={"run": str(run.pk), "action": run.action, **details},
    )


class Pacer:
    """Spaces calls at least 1/per_second apart, counting from the run's last activity."""

    def __init__(self, per_second, since=None, *, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        waited = (timezone.now() - since).total_seconds() if since else self.interval
        self.next_at = clock() + max(self.interval - waited, 0.0)

    def slow_down(self):
        """Halve the pace after the Seller Center asked for it, down to one call a minute."""
        slower = min(self.interval * 2, 60.0)
        self.next_at += slower - self.interval
        self.interval = slower

    def wait(self):
        now = self.clock()
        if now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


# Reading a run ----------------------------------------------------------------------------


def progress(run):
    """{outcome: count} over OUTCOMES, every outcome present."""
    counts = dict.fromkeys(OUTCOMES, 0)
    rows = (
        BulkItem.objects.filter(run=run)
        .values_list("state", "decision__state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for state, decision_state, n in rows:
        counts[decision_state or state] += n
    return counts


def report(run):
    """Every item in order, with its claim and decision, for the per-claim report."""
    return (
        run.items.select_related("claim", "decision")
        .only(
            "position",
            "state",
            "message",
            "finished_at",
            "claim__id",
            "claim__return_code",
            "claim__package_item",
            "claim__status",
            "decision__state",
            "decision__upstream_status",
            "decision__upstream_message",
        )
        .order_by("position")
    )
