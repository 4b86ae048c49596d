"""Writes audit events and checks that nobody rewrote them.

Events are only ever added: a trigger (migration 0008) makes PostgreSQL refuse UPDATE, DELETE
and TRUNCATE on the table. Each event also carries `hash`, the SHA-256 of the hash of the
event before it (in id order) and the event's own fields, so an event changed or removed
while the trigger was switched off breaks the chain at that point (`verify_audit` finds it).

Writers take one transaction-level advisory lock before reading the last hash, so two events
recorded at once never both follow the same one: ids, times and the chain all advance in the
order the lock was granted, and the lock is held until the event is committed.
"""

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction
from django.utils import timezone

from . import logs, roles
from .models import AuditEvent

# pg_advisory_xact_lock key for audit writers ("adt"); sync and team changes use others.
AUDIT_LOCK_KEY = 0x616474
# The `hash` the first event follows.
GENESIS = "0" * 64
# Events read from the database at a time while the chain is checked.
VERIFY_CHUNK = 2000

# Every field that goes into an event's hash, by column name. Changing this list or the
# serialisation below makes every stored hash wrong: it can only grow with a new version.
CHAINED_FIELDS = (
    "at",
    "actor_id",
    "actor_role",
    "action",
    "claim_id",
    "decision_id",
    "subject_user_id",
    "status_before",
    "status_after",
    "reason",
    "images",
    "upstream_status",
    "upstream_message",
    "latency_ms",
    "request_id",
    "client_ip",
    "user_agent",
    "details",
)


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the request, or a background job (all blank)."""

    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""

    @classmethod
    def of(cls, request):
        if request is None:
            return cls()
        return cls(
            request_id=getattr(request, "request_id", ""),
            client_ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
        )


def record(action, *, actor=None, origin=None, **fields):
    """Adds one event after the last one, chained to it; commits with the caller's work.

    Without an origin the event is background work's: it carries the sync run's or the
    task's id, where there is one.
    """
    origin = origin or Origin(request_id=logs.current_request_id())
    role = roles.assigned_role(actor) if actor else None
    event = AuditEvent(
        action=action,
        actor=actor,
        actor_role=role.value if role else "",
        request_id=origin.request_id,
        client_ip=origin.client_ip,
        user_agent=origin.user_agent,
        **fields,
    )
    if event.latency_ms is not None:
        # The column holds whole milliseconds; the hash must see what the column keeps.
        event.latency_ms = round(event.latency_ms)
    with transaction.atomic():
        previous = _last_hash_locked()
        event.at = timezone.now()
        event.hash = chain_hash(previous, _values_of(event))
        event.save(force_insert=True)
    return event


def _last_hash_locked():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])
        cursor.execute("SELECT hash FROM claims_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    return row[0] if row else GENESIS


def _values_of(event):
    return {name: getattr(event, name) for name in CHAINED_FIELDS}


def chain_hash(previous, values):
    """The hash of an event whose chained fields are `values`, following `previous`."""
    return hashlib.sha256((previous + canonical(values)).encode()).hexdigest()


def canonical(values):
    """One fixed text for the chained fields, the same whether they come from Python or the
    database: UTC times with microseconds, ids as text, addresses as bytes, sorted JSON keys."""
    plain = {name: _plain(name, values[name]) for name in CHAINED_FIELDS}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(name, value):
    if value is None:
        return None
    if name == "at":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if name == "client_ip":
        # PostgreSQL prints some addresses differently than they were given (IPv6 forms).
        return ipaddress.ip_address(value).packed.hex()
    if name in ("images", "details"):
        # As JSON keeps them: tuples become lists, keys become text.
        return json.loads(json.dumps(value))
    if name.endswith("_id") and not isinstance(value, int):
        return str(value)
    return value


# Checking the chain ---------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first event whose stored hash is not what its fields and its predecessor give."""

    id: int
    at: object
    action: str


@dataclass(frozen=True)
class Verdict:
    checked: int
    last_id: int | None
    last_hash: str
    broken: Break | None

    @property
    def ok(self):
        return self.broken is None


def verify(*, on_progress=None):
    """Walks every event in id order, streaming; stops at the first that does not match.

    `on_progress(checked)` is called after every chunk.
    """
    chunk_size = VERIFY_CHUNK
    rows = AuditEvent.objects.order_by("id").values_list("id", "hash", *CHAINED_FIELDS)
    previous, checked, last_id = GENESIS, 0, None
    for event_id, stored, *fields in rows.iterator(chunk_size=chunk_size):
        values = dict(zip(CHAINED_FIELDS, fields, strict=True))
        if chain_hash(previous, values) != stored:
            broken = Break(event_id, values["at"], values["action"])
            return Verdict(checked, last_id, previous, broken)
        previous, checked, last_id = stored, checked + 1, event_id
        if on_progress is not None and checked % chunk_size == 0:
            on_progress(checked)
    return Verdict(checked, last_id, previous, None)
