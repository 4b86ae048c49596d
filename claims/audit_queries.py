"""Read-only queries behind the audit page, a claim's trail and the audit's CSV export.

`events` is the one query builder: whose events the person may see, then every filter. Pages
go through (at, id), newest first, from a cursor instead of an offset: a page deep in a million
events costs what the first one does, and rows never shift between pages. An index on
(at, id), and one on each of actor, claim and action followed by (at, id), serve every filter.
"""

import dataclasses
import datetime
import json
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from . import roles
from .audit_forms import actions_for
from .models import AuditEvent
from .roles import Action

PAGE_SIZE = 50
TRAIL_LENGTH = 20
EXPORT_CHUNK = 2000

NEWEST_FIRST = ("-at", "-id")
OLDEST_FIRST = ("at", "id")

EXPORT_COLUMNS = (
    ("id", "id"),
    ("at", "at"),
    ("person", "actor__username"),
    ("role", "actor_role"),
    ("action", "action"),
    ("claim", "claim_id"),
    ("return_code", "claim__return_code"),
    ("decision", "decision_id"),
    ("member", "subject_user__username"),
    ("status_before", "status_before"),
    ("status_after", "status_after"),
    ("reason", "reason"),
    ("images", "images"),
    ("upstream_status", "upstream_status"),
    ("upstream_message", "upstream_message"),
    ("latency_ms", "latency_ms"),
    ("request_id", "request_id"),
    ("client_ip", "client_ip"),
    ("user_agent", "user_agent"),
    ("details", "details"),
    ("hash", "hash"),
)


def sees_everyone(user):
    return roles.can(user, Action.VIEW_ALL_AUDIT)


def visible_events(user):
    """Leads and admins see every event; everyone else the events they caused."""
    if sees_everyone(user):
        return AuditEvent.objects.all()
    if roles.can(user, Action.VIEW_OWN_AUDIT):
        return AuditEvent.objects.filter(actor=user)
    return AuditEvent.objects.none()


def events(user, filters):
    """The events this person may see that match every filter, in no particular order."""
    found = visible_events(user)
    if filters.get("person") and sees_everyone(user):
        found = found.filter(actor=filters["person"])
    actions = actions_for(filters.get("action"), filters.get("outcome"))
    if actions is not None:
        found = found.filter(action__in=actions)
    if filters.get("claim"):
        found = found.filter(claim_id__in=filters["claim"])
    if filters.get("date_from"):
        found = found.filter(at__gte=_start_of(filters["date_from"]))
    if filters.get("date_to"):
        found = found.filter(at__lt=_start_of(filters["date_to"] + datetime.timedelta(days=1)))
    return found


def _start_of(day):
    """Midnight at the start of `day` in the current time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# A page of the audit page -----------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: list
    newer: int | None  # cursor for the page of newer events, if there is one
    older: int | None  # cursor for the page of older events, if there is one
    lost_cursor: bool = False  # the page asked for starts at an event this person cannot see

    @property
    def is_first(self):
        return self.newer is None


def page(user, filters, size=PAGE_SIZE):
    """One page, newest first: the first, or the one before or after a cursor event."""
    matching = _for_display(events(user, filters))
    before, after = filters.get("before"), filters.get("after")
    cursor_id = before or after
    if cursor_id is None:
        return _first_page(matching, size)
    cursor = visible_events(user).filter(pk=cursor_id).values_list("at", "id").first()
    if cursor is None:
        return dataclasses.replace(_first_page(matching, size), lost_cursor=True)
    if before:
        return _older_than(matching, cursor, size)
    return _newer_than(matching, cursor, size)


def _for_display(found):
    return found.select_related("actor", "subject_user").annotate(
        claim_code=F("claim__return_code"), claim_package_item=F("claim__package_item")
    )


def _first_page(matching, size):
    rows = list(matching.order_by(*NEWEST_FIRST)[: size + 1])
    return EventPage(rows[:size], None, _last_id(rows, size))


def _older_than(matching, cursor, size):
    at, event_id = cursor
    # (at, id) < cursor, written so the index range starts at the cursor: at <= cursor's
    # time is the index condition, and only the cursor's own instant needs the id check.
    older = matching.filter(at__lte=at).exclude(at=at, id__gte=event_id)
    rows = list(older.order_by(*NEWEST_FIRST)[: size + 1])
    newer = rows[0].id if rows else None
    return EventPage(rows[:size], newer, _last_id(rows, size))


def _newer_than(matching, cursor, size):
    at, event_id = cursor
    newer = matching.filter(at__gte=at).exclude(at=at, id__lte=event_id)
    rows = list(newer.order_by(*OLDEST_FIRST)[: size + 1])
    has_newer = len(rows) > size
    rows = rows[:size][::-1]
    if not rows:
        return _first_page(matching, size)
    return EventPage(rows, rows[0].id if has_newer else None, rows[-1].id)


def _last_id(rows, size):
    return rows[size - 1].id if len(rows) > size else None


def claim_trail(user, claim, limit=TRAIL_LENGTH):
    """The latest events about one claim that this person may see, newest first."""
    found = visible_events(user).filter(claim=claim).select_related("actor", "subject_user")
    return list(found.order_by(*NEWEST_FIRST)[:limit])


# The CSV export ---------------------------------------------------------------------------


def export_header():
    return [name for name, _field in EXPORT_COLUMNS]


def export_rows(user, filters):
    """Every matching event, newest first, as CSV cells, read from the database in chunks."""
    fields = [field for _name, field in EXPORT_COLUMNS]
    found = events(user, filters).order_by(*NEWEST_FIRST).values_list(*fields)
    for row in found.iterator(chunk_size=EXPORT_CHUNK):
        yield [_cell(value) for value in row]


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return value
