import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A member of the seller's support team. The role is a Django group (see roles.py)."""

    language = models.CharField(_("language"), max_length=8, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Istanbul")


class ClaimStatus(models.TextChoices):
    """The documented statuses. Upstream may add others; those are stored as sent."""

    OPEN = "open", _("Open")
    WAITING = "waiting", _("Waiting")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    COMPLETED = "completed", _("Completed")


class ClaimType(models.TextChoices):
    CANCEL = "cancel", _("Cancellation")
    REFUND = "refund", _("Refund")


class ClaimReason(models.Model):
    id = models.UUIDField(primary_key=True)
    subject = models.TextField(blank=True)
    translations = models.JSONField(default=dict, blank=True)
    type = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)
    raw = models.JSONField(default=dict)
    last_synced_at = models.DateTimeField()

    class Meta:
        ordering = ["subject", "id"]

    def __str__(self):
        return self.subject


class Claim(models.Model):
    """The cached copy of one Seller Center claim, as of the last sync that changed it.

    Status and type are free text rather than choices in the database: the API may add values
    at any time and they are kept as sent.
    """

    id = models.UUIDField(primary_key=True)
    package_item = models.CharField(max_length=128, blank=True)
    product = models.CharField(max_length=255, blank=True)
    reason_id = models.UUIDField(null=True, blank=True)
    reason_subject = models.TextField(blank=True)
    reason_translations = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)
    return_code = models.CharField(max_length=128, blank=True)
    return_tracking_number = models.CharField(max_length=128, blank=True)
    return_tracking_url = models.TextField(blank=True)
    type = models.CharField(max_length=32)
    status = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    raw = models.JSONField()
    payload_hash = models.CharField(max_length=32)
    # Filled by sync from search.fold(): identifiers for substring search, and the customer's
    # words for full-text search (see search.py for why two indexes).
    search_codes = models.TextField(blank=True, default="")
    search_words = SearchVectorField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_synced_at = models.DateTimeField()
    missing_upstream_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "created_at", "id"], name="claim_status_created"),
            models.Index(fields=["created_at", "id"], name="claim_created"),
            models.Index(fields=["updated_at", "id"], name="claim_updated"),
            models.Index(fields=["reason_id"], name="claim_reason"),
            # Serves the queue's per-status counts under a type filter as an index-only scan.
            models.Index(fields=["type", "status"], name="claim_type_status"),
            GinIndex(fields=["search_codes"], opclasses=["gin_trgm_ops"], name="claim_codes_trgm"),
            GinIndex(fields=["search_words"], name="claim_words_fts"),
        ]

    def __str__(self):
        return self.return_code or str(self.id)

    @property
    def is_decidable(self):
        return self.status == ClaimStatus.WAITING and self.missing_upstream_at is None


class ClaimSnapshot(models.Model):
    """A payload a claim had before a sync replaced it; `taken_at` is when it was stored.

    Together with the claim's current payload these are every version ClaimDesk has seen.
    """

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="snapshots")
    payload = models.JSONField()
    payload_hash = models.CharField(max_length=32)
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["claim", "-taken_at"], name="snapshot_claim_taken")]

    def __str__(self):
        return f"{self.claim_id} as of {self.taken_at:%Y-%m-%d %H:%M}"


class Decision(models.Model):
    class Action(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REJECT = "reject", _("Reject")

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        SENT = "sent", _("Sent")
        UNCONFIRMED = "unconfirmed", _("Sent, awaiting confirmation")
        FAILED = "failed", _("Failed")

    LIVE_STATES = [State.REQUESTED, State.SENT, State.UNCONFIRMED]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.REQUESTED)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_message = models.TextField(blank=True)
    requested_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(state__in=["requested", "sent", "unconfirmed"]),
                name="one_live_decision_per_claim",
            )
        ]

    def __str__(self):
        return f"{self.action} {self.claim_id} ({self.state})"

    @property
    def is_live(self):
        return self.state in self.LIVE_STATES


class AuditEvent(models.Model):
    """One thing that happened, recorded once and never changed."""

    class Action(models.TextChoices):
        DECISION_REQUESTED = "decision.requested", _("Decision requested")
        DECISION_SENT = "decision.sent", _("Decision sent")
        DECISION_FAILED = "decision.failed", _("Decision failed")
        DECISION_UNCONFIRMED = "decision.unconfirmed", _("Decision unconfirmed")
        DECISION_CONFIRMED = "decision.confirmed", _("Decision confirmed")
        DECISION_NOT_APPLIED = "decision.not_applied", _("Decision not applied")
        DECISION_REFUSED = "decision.refused", _("Decision refused")
        BULK_STARTED = "bulk.started", _("Bulk decision started")
        BULK_FINISHED = "bulk.finished", _("Bulk decision finished")
        LOGIN = "auth.login", _("Signed in")
        LOGOUT = "auth.logout", _("Signed out")
        LOGIN_FAILED = "auth.login_failed", _("Sign-in failed")
        LOCKOUT = "auth.lockout", _("Locked out")
        MEMBER_ADDED = "team.member_added", _("Member added")
        ROLE_CHANGED = "team.role_changed", _("Role changed")
        MEMBER_DEACTIVATED = "team.member_deactivated", _("Member deactivated")
        MEMBER_REACTIVATED = "team.member_reactivated", _("Member reactivated")

    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    actor_role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    claim = models.ForeignKey(
        Claim, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status_before = models.CharField(max_length=32, blank=True)
    status_after = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_message = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # SHA-256 of the previous event's hash and this event's fields (see audit.py).
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        # The audit page pages through (at, id), newest first, under each of its filters.
        indexes = [
            models.Index(fields=["at", "id"], name="audit_at_id"),
            models.Index(fields=["actor", "at", "id"], name="audit_actor_at_id"),
            models.Index(fields=["claim", "at", "id"], name="audit_claim_at_id"),
            models.Index(fields=["action", "at", "id"], name="audit_action_at_id"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class CannedReason(models.Model):
    """A rejection reason a lead saved for the team to reuse."""

    text = models.CharField(_("reason"), max_length=500, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["text", "id"]

    def __str__(self):
        return self.text


class BulkRun(models.Model):
    """One bulk decision: the same action, reason and images for many claims, in the background."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")
        STOPPED = "stopped", _("Stopped")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bulk_runs"
    )
    action = models.CharField(max_length=16, choices=Decision.Action.choices)
    reason = models.TextField(blank=True)
    images = models.JSONField(default=list, blank=True)
    # What the lead chose: the rows ticked, or the queue filter whose claims were taken.
    selection = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The language of the lead who started it: the run speaks it to the Seller Center and
    # writes each claim's outcome in it, long after their request has ended.
    language = models.CharField(max_length=8, blank=True)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"bulk {self.action} of {self.total} ({self.state})"

    @property
    def is_done(self):
        return self.state in (self.State.FINISHED, self.State.STOPPED)


class BulkItem(models.Model):
    """One claim of a bulk run. Once it has a decision, the decision tells its outcome."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting its turn")
        DECIDED = "decided", _("Decided")
        SKIPPED = "skipped", _("Skipped")

    run = models.ForeignKey(BulkRun, on_delete=models.CASCADE, related_name="items")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="bulk_items")
    position = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    decision = models.OneToOneField(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="bulk_item"
    )
    message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "claim"], name="one_item_per_claim_and_run")
        ]
        indexes = [models.Index(fields=["run", "state", "position"], name="bulkitem_run_state")]

    def __str__(self):
        return f"{self.claim_id} in {self.run_id} ({self.state})"

    @property
    def outcome(self):
        """pending, skipped, or the decision's state: requested, sent, unconfirmed, failed."""
        return self.decision.state if self.decision_id else self.state


class SyncState(models.Model):
    """Progress of one kind of sync ("claims" or "reasons"): one row each."""

    class Outcome(models.TextChoices):
        NEVER = "never", _("Never run")
        RUNNING = "running", _("Running")
        OK = "ok", _("Succeeded")
        FAILED = "failed", _("Failed")

    name = models.CharField(max_length=32, primary_key=True)
    watermark = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.NEVER)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name}: {self.outcome}"
