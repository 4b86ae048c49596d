"""Read-only queries behind the queue and the detail pane. They read PostgreSQL only.

`queue_claims` is the one query builder for the queue: every filter, then a sort with a total
ordering (the id breaks ties), so a page never shuffles between requests.
"""

import datetime
import hashlib
import json
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property

from . import search
from .forms import SORTS
from .models import CannedReason, Claim, ClaimReason, ClaimStatus, Decision, SyncState

TAB_ORDER = [s.value for s in ClaimStatus]
HISTORY_LENGTH = 20
SUGGESTIONS = 10
COUNTS_CACHE_SECONDS = 300
# A search with at most this many matches sorts them in memory (see _ordering).
SORT_MATCHES_UP_TO = 3000
_NOT_IN_ROWS = (
    "raw",
    "detail",
    "search_codes",
    "search_words",
    "payload_hash",
    "return_tracking_number",
    "return_tracking_url",
    "first_seen_at",
    "last_synced_at",
)
# Filters the status counts do not depend on; every other one is part of the cache key.
_NOT_COUNTED = {"status", "sort", "per_page", "page"}

# Fields every sync changes or that say nothing to a person reading the history.
_QUIET_FIELDS = {"updated_at"}


def filtered_claims(filters):
    """Claims matching every filter except the statuses."""
    claims = Claim.objects.all()
    if filters.get("type"):
        claims = claims.filter(type=filters["type"])
    if filters.get("reason"):
        claims = claims.filter(reason_id=filters["reason"])
    if filters.get("q"):
        claims = search.matching(claims, filters["q"])
    claims = _in_date_range(
        claims, "created_at", filters.get("created_from"), filters.get("created_to")
    )
    claims = _in_date_range(
        claims, "updated_at", filters.get("updated_from"), filters.get("updated_to")
    )
    if filters.get("waiting_days") is not None:
        cutoff = timezone.now() - datetime.timedelta(days=filters["waiting_days"])
        claims = claims.filter(created_at__lt=cutoff)
    return claims


def _in_date_range(claims, field, first_day, last_day):
    """Whole days in the current time zone, both ends included."""
    if first_day:
        claims = claims.filter(**{f"{field}__gte": _start_of(first_day)})
    if last_day:
        claims = claims.filter(
            **{f"{field}__lt": _start_of(last_day + datetime.timedelta(days=1))}
        )
    return claims


def _start_of(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _with_statuses(claims, statuses):
    if len(statuses) == 1:
        return claims.filter(status=statuses[0])
    if statuses:
        return claims.filter(status__in=statuses)
    return claims


def queue_claims(filters, matches=None):
    """The queue's rows in order: the only place the queue's query is built.

    `matches`, the number of rows these filters give when known, picks the plan for a
    search (see _ordering).
    """
    claims = _with_statuses(filtered_claims(filters), filters["status"])
    pending = Decision.objects.filter(
        claim=OuterRef("pk"), state__in=[Decision.State.REQUESTED, Decision.State.UNCONFIRMED]
    )
    return (
        claims.annotate(pending_decision=Exists(pending))
        .order_by(*_ordering(filters["sort"], sort_matches=_few(filters, matches)))
        # Only what a row shows; the query-count test catches a row that reads more.
        .defer(*_NOT_IN_ROWS)
    )


def _few(filters, matches):
    return bool(filters.get("q")) and matches is not None and matches <= SORT_MATCHES_UP_TO


def _ordering(sort, sort_matches):
    """The sort's keys; to sort a search's few matches, the date key as an expression.

    PostgreSQL's usual plan walks the date index in order and tests each row against the
    search, guessing that matches are spread evenly: for a rare term that reads thousands
    of rows. Ordered by an expression no index provides, it takes the search index's
    matches and sorts them instead, which is cheap while they are few. For a common term
    the walk finds a page of matches at once, so it is kept.
    """
    date_key, *rest = SORTS[sort]
    if not sort_matches:
        return [date_key, *rest]
    field = date_key.lstrip("-")
    expression = Coalesce(field, field)
    return [expression.desc() if date_key.startswith("-") else expression.asc(), *rest]


class _CountedPaginator(Paginator):
    """A paginator told its total, which the status tabs have already counted."""

    def __init__(self, object_list, per_page, count):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count


def queue_page(filters, tabs=None):
    """One page of the queue. With the tabs given, no extra COUNT query is needed."""
    tabs = tabs if tabs is not None else status_tabs(filters)
    counts = dict(tabs)
    statuses = filters["status"]
    total = sum(counts.get(s, 0) for s in statuses) if statuses else counts["all"]
    claims = queue_claims(filters, matches=total)
    paginator = _CountedPaginator(claims, filters["per_page"], total)
    return paginator.get_page(filters.get("page") or 1)


def status_tabs(filters):
    """[(status, count)] for the tabs: the documented statuses first, then any new ones."""
    counts = status_counts(filters)
    extra = sorted(set(counts) - set(TAB_ORDER))
    tabs = [(status, counts.get(status, 0)) for status in TAB_ORDER + extra]
    return [*tabs, ("all", sum(counts.values()))]


def status_counts(filters):
    """{status: claims} under every filter but the statuses, cached until the claims change.

    Counting is the one part of the queue that reads every matching row. The claims table's
    trigger bumps a counter on each write (migration 0007); the counter's value and the
    transaction that last set it (xmin, which a rollback restores) name the data's state.
    It is read before counting, so counts cached under it are never older than it.
    """
    key = _counts_key(filters, _claims_version())
    counts = cache.get(key)
    if counts is None:
        counts = dict(
            filtered_claims(filters).order_by().values_list("status").annotate(n=Count("*"))
        )
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts


def forget_counts(filters):
    """Drop the cached counts for these filters, as a change to the claims would."""
    cache.delete(_counts_key(filters, _claims_version()))


def _claims_version():
    with connection.cursor() as cursor:
        cursor.execute("SELECT changes, xmin::text FROM claims_change_counter WHERE id = 1")
        return cursor.fetchone()


def _counts_key(filters, version):
    relevant = {name: str(value) for name, value in filters.items() if name not in _NOT_COUNTED}
    if filters.get("waiting_days") is not None:
        # "Waiting longer than N days" moves with the clock, not only with the data.
        relevant["minute"] = str(int(time.time() // 60))
    digest = hashlib.sha256(repr(sorted(relevant.items())).encode()).hexdigest()
    return f"claimdesk:queue-counts:{version[0]}:{version[1]}:{digest}"


def next_waiting_claim(filters, after):
    """The claim to open after deciding `after`: the next undecided one in the queue's order,
    else the first one, under the same filters except the statuses."""
    pending = Decision.objects.filter(claim=OuterRef("pk"), state__in=Decision.LIVE_STATES)
    candidates = (
        filtered_claims(filters)
        .filter(status=ClaimStatus.WAITING, missing_upstream_at=None)
        .exclude(pk=after.pk)
        .exclude(Exists(pending))
        .order_by(*SORTS[filters["sort"]])
    )
    later = candidates.filter(_after_in_order(SORTS[filters["sort"]], after)).first()
    return later or candidates.first()


def _after_in_order(ordering, claim):
    """Rows that come after `claim` in this two-key ordering (a date, then the id)."""
    (date_key, id_key) = ordering
    date_field, descending = date_key.lstrip("-"), date_key.startswith("-")
    direction = "lt" if descending else "gt"
    value = getattr(claim, date_field)
    same_date_id = "id__lt" if id_key.startswith("-") else "id__gt"
    return Q(**{f"{date_field}__{direction}": value}) | Q(
        **{date_field: value, same_date_id: claim.pk}
    )


def reason_choices():
    """The reasons for the filter, as a query run only when the filter form is shown."""
    return ClaimReason.objects.only("id", "subject", "translations").order_by("subject", "id")


@dataclass(frozen=True)
class Freshness:
    outcome: str
    error: str = ""
    last_success_at: datetime.datetime | None = None


def sync_freshness():
    """How fresh the cache is: a run in progress or a failure of either sync comes first.

    A run syncs reasons, then claims; when reasons fail the claims are not even tried, so
    the claims' own state alone would look fine.
    """
    states = {s.name: s for s in SyncState.objects.filter(name__in=["reasons", "claims"])}
    claims = states.get("claims")
    last_success_at = claims.last_success_at if claims else None
    for outcome in (SyncState.Outcome.RUNNING, SyncState.Outcome.FAILED):
        for state in states.values():
            if state.outcome == outcome:
                return Freshness(outcome, state.error, last_success_at)
    if claims is None or claims.outcome == SyncState.Outcome.NEVER:
        return Freshness(SyncState.Outcome.NEVER)
    return Freshness(claims.outcome, claims.error, last_success_at)


def claim_synced_at(claim, freshness):
    """When this claim was last known to match the Seller Center.

    A sync that finds a claim unchanged does not write it, so a successful run after the
    claim's own last change vouches for it too.
    """
    moments = [claim.last_synced_at]
    if freshness and freshness.last_success_at and not claim.missing_upstream_at:
        moments.append(freshness.last_success_at)
    return max(moments)


def claim_history(claim, limit=HISTORY_LENGTH):
    """Every version of the claim ClaimDesk stored, newest first, each with what changed.

    The current payload is on the claim; snapshots hold the payloads it had before. A
    snapshot equal to the version after it (as older syncs wrote them) is not a change.
    """
    snapshots = list(claim.snapshots.order_by("-taken_at", "-id")[:limit])
    versions = [(claim.last_synced_at, claim.payload_hash, claim.raw)]
    for snapshot in snapshots:
        if snapshot.payload_hash != versions[-1][1]:
            versions.append((snapshot.taken_at, snapshot.payload_hash, snapshot.payload))
    seen_all = len(snapshots) < limit
    entries = []
    for index, (stored_at, _hash, payload) in enumerate(versions):
        older = versions[index + 1][2] if index + 1 < len(versions) else None
        if older is None and not seen_all:
            break
        changes = [] if older is None else payload_changes(older, payload)
        entries.append({"stored_at": stored_at, "first": older is None, "changes": changes})
    return entries


def payload_changes(before, after):
    """[(field, old, new)] for the top-level fields that differ, as short readable text."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    fields = sorted((set(before) | set(after)) - _QUIET_FIELDS)
    return [
        (field, readable(before.get(field)), readable(after.get(field)))
        for field in fields
        if before.get(field) != after.get(field)
    ]


def readable(value):
    if value is None or value == "":
        return "—"
    if isinstance(value, dict) and "subject" in value:
        return str(value["subject"])
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def rejection_suggestions():
    """(the team's saved reasons, reasons used before that are not saved ones)."""
    canned = [reason.text for reason in CannedReason.objects.all()[:50]]
    used = (
        Decision.objects.filter(action=Decision.Action.REJECT)
        .exclude(reason="")
        .exclude(reason__in=canned)
        .values("reason")
        .annotate(last_used=Max("requested_at"))
        .order_by("-last_used")
        .values_list("reason", flat=True)[:SUGGESTIONS]
    )
    return canned, list(used)
