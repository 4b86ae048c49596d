"""Pulls claim reasons and claims from the Seller Center into PostgreSQL.

Incremental and idempotent: each page is stored by one upsert statement that touches only
claims whose payload changed, and writes a snapshot for exactly those. The API promises no
order, so the watermark moves only after a run has stored every page; it then becomes the
run's start time minus an overlap, and anything that changed while the run was paging is
fetched again next time.
"""

import contextvars
import hashlib
import json
import logging
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from . import decisions, logs
from .models import SyncState
from .search import code_text, fold
from .seller_center import SellerCenterError, client_for

logger = logging.getLogger(__name__)

# pg_advisory_lock keys: one ClaimDesk-wide number, so two workers never sync at once.
SYNC_LOCK_KEY = 0x636C6D64


class SyncBusy(Exception):
    """Another process holds the sync lock."""


@dataclass
class SyncSummary:
    name: str
    pages: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0

    def line(self):
        return (
            f"{self.name}: pages {self.pages}, fetched {self.fetched}, created {self.created}, "
            f"updated {self.updated}, unchanged {self.unchanged}, {self.seconds:.1f} s"
        )


@contextmanager
def sync_lock():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise SyncBusy
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])


def sync_everything(*, full=False, client=None, progress=None):
    """Reasons, then claims, then reconcile unconfirmed decisions. Raises SyncBusy.

    A run has its own request id: on its log lines and on its calls to the Seller Center.
    """
    with logs.request_id_bound(), sync_lock():
        client = client or client_for()
        reasons = _run("reasons", lambda state: _sync_reasons(client, state, progress))
        claims = _run("claims", lambda state: _sync_claims(client, state, full, progress))
        decisions.reconcile()
    return [reasons, claims]


def _run(name, work):
    state, _ = SyncState.objects.get_or_create(name=name)
    started_at = timezone.now()
    _save_state(state, outcome=SyncState.Outcome.RUNNING, started_at=started_at, error="")
    clock = time.monotonic()
    try:
        summary = work(state)
    except SellerCenterError as error:
        logger.warning("sync of %s failed: %s", name, error.message)
        _save_state(
            state,
            outcome=SyncState.Outcome.FAILED,
            finished_at=timezone.now(),
            error=error.message,
        )
        raise
    except BaseException:
        _save_state(
            state,
            outcome=SyncState.Outcome.FAILED,
            finished_at=timezone.now(),
            error=gettext("The sync stopped unexpectedly."),
        )
        raise
    summary.seconds = time.monotonic() - clock
    logger.info("sync finished: %s", summary.line())
    finished_at = timezone.now()
    _save_state(
        state,
        outcome=SyncState.Outcome.OK,
        finished_at=finished_at,
        last_success_at=finished_at,
        watermark=started_at - timezone.timedelta(seconds=settings.SYNC_OVERLAP_SECONDS),
        summary=asdict(summary),
    )
    return summary


def _save_state(state, **fields):
    fields["heartbeat_at"] = timezone.now()
    for name, value in fields.items():
        setattr(state, name, value)
    state.save(update_fields=list(fields))


def _sync_claims(client, state, full, progress):
    filters = {}
    if state.watermark and not full:
        filters["updated_at__gte"] = state.watermark
    summary = SyncSummary("claims")
    # Rows are prepared on the fetching thread too, so this one only waits on PostgreSQL.
    pages = ((page, prepare_rows(page.items)) for page in client.claim_pages(**filters))
    for page, rows in prefetched(pages):
        created, updated = store_rows(rows)
        _count(summary, page, created, updated)
        if progress:
            progress(summary, page)
    return summary


def _sync_reasons(client, state, progress):
    summary = SyncSummary("reasons")
    for page in client.reason_pages():
        created, updated = store_reasons(page.items)
        _count(summary, page, created, updated)
        if progress:
            progress(summary, page)
    return summary


def prefetched(pages, depth=2):
    """Yield from `pages` while a thread fetches the next ones.

    Fetching and parsing a page is Python work; storing it is PostgreSQL's. Overlapping the
    two nearly halves a sync's time, and `depth` bounds how many pages wait in memory.
    """
    handoff = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for page in pages:
                if stop.is_set():
                    return
                handoff.put(page)
            handoff.put(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            handoff.put(error)

    # The thread logs under the run's request id, like the rest of the run.
    producer = threading.Thread(
        target=contextvars.copy_context().run, args=(produce,), name="sync-prefetch", daemon=True
    )
    producer.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while producer.is_alive():
            try:
                handoff.get_nowait()
            except queue.Empty:
                producer.join(0.05)


def _count(summary, page, created, updated):
    summary.pages += 1
    summary.fetched += len(page.items)
    summary.created += created
    summary.updated += updated
    summary.unchanged += len(page.items) - created - updated


# The upsert's columns, in the order of each prepared row and of the SQL's unnest() below.
_ROW_COLUMNS = (
    ("id", "uuid"),
    ("package_item", "text"),
    ("product", "text"),
    ("reason_id", "uuid"),
    ("reason_subject", "text"),
    ("reason_translations", "text"),
    ("detail", "text"),
    ("return_code", "text"),
    ("return_tracking_number", "text"),
    ("return_tracking_url", "text"),
    ("type", "text"),
    ("status", "text"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("search_codes", "text"),
    ("search_words", "text"),
    ("payload_hash", "text"),
    ("raw", "text"),
)
# Bump when what a row stores from a payload changes, so the next sync rewrites every claim.
_ROW_FORMAT = "2"
# Search reads this much of the customer's words. PostgreSQL refuses a text search vector
# over 1 MB, and a claim whose text made one would stop every sync at that claim.
SEARCHED_DETAIL_CHARACTERS = 20_000


def prepare_rows(records):
    """{claim id: row} for ClaimRecords, each row a tuple in _ROW_COLUMNS order.

    The row carries a hash of the payload, so unchanged claims are recognised without sending
    them to PostgreSQL at all.
    """
    return {record.id: _claim_row(record) for record in records}


def _claim_row(record):
    # Keys sorted, so the hash ignores the order in which the API happens to list fields.
    raw_json = json.dumps(record.raw, sort_keys=True, ensure_ascii=False)
    payload_hash = hashlib.md5(f"{_ROW_FORMAT}{raw_json}".encode(), usedforsecurity=False)
    codes = code_text(
        record.return_code, record.return_tracking_number, record.package_item, record.product
    )
    return (
        record.id,
        record.package_item,
        record.product,
        record.reason_id,
        record.reason_subject,
        json.dumps(record.reason_translations, ensure_ascii=False),
        record.detail,
        record.return_code,
        record.return_tracking_number,
        record.return_tracking_url,
        record.type,
        record.status,
        record.created_at,
        record.updated_at,
        codes,
        fold(record.detail[:SEARCHED_DETAIL_CHARACTERS]),
        payload_hash.hexdigest(),
        raw_json,
    )


# One statement stores a page: the changed rows as one array per column; an upsert; and, for
# each claim whose payload it replaced, a snapshot of the old payload (every CTE reads the
# table as it was before the statement). The current payload lives on the claim itself, so a
# first sight writes no snapshot. (Only the constant _ROW_COLUMNS are formatted into it.)
_UPSERT_CLAIMS = f"""
WITH incoming AS (
    SELECT * FROM unnest({", ".join(f"%b::{sql_type}[]" for _, sql_type in _ROW_COLUMNS)})
        AS x({", ".join(name for name, _ in _ROW_COLUMNS)})
), replaced AS (
    SELECT claim.id, claim.raw, claim.payload_hash, claim.last_synced_at
    FROM claims_claim AS claim JOIN incoming USING (id)
    WHERE claim.raw <> incoming.raw::jsonb
), written AS (
    INSERT INTO claims_claim AS claim (
        id, package_item, product, reason_id, reason_subject, reason_translations, detail,
        return_code, return_tracking_number, return_tracking_url, type, status, created_at,
        updated_at, raw, payload_hash, search_codes, search_words, first_seen_at,
        last_synced_at)
    SELECT id, package_item, product, reason_id, reason_subject,
        reason_translations::jsonb, detail, return_code, return_tracking_number,
        return_tracking_url, type, status, created_at, updated_at, raw::jsonb, payload_hash,
        search_codes, to_tsvector('simple', search_words), %b, %b
    FROM incoming
    ON CONFLICT (id) DO UPDATE SET
        package_item = EXCLUDED.package_item, product = EXCLUDED.product,
        reason_id = EXCLUDED.reason_id, reason_subject = EXCLUDED.reason_subject,
        reason_translations = EXCLUDED.reason_translations, detail = EXCLUDED.detail,
        return_code = EXCLUDED.return_code,
        return_tracking_number = EXCLUDED.return_tracking_number,
        return_tracking_url = EXCLUDED.return_tracking_url, type = EXCLUDED.type,
        status = EXCLUDED.status, created_at = EXCLUDED.created_at,
        updated_at = EXCLUDED.updated_at, raw = EXCLUDED.raw,
        payload_hash = EXCLUDED.payload_hash, search_codes = EXCLUDED.search_codes,
        search_words = EXCLUDED.search_words,
        last_synced_at = EXCLUDED.last_synced_at, missing_upstream_at = NULL
    WHERE claim.payload_hash <> EXCLUDED.payload_hash
    RETURNING (xmax = 0) AS created
), snapshots AS (
    INSERT INTO claims_claimsnapshot (claim_id, payload, payload_hash, taken_at)
    SELECT id, raw, payload_hash, last_synced_at FROM replaced
)
SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written
"""  # noqa: S608


def store_claims(records):
    """Upsert ClaimRecords; returns (created, updated)."""
    return store_rows(prepare_rows(records))


def store_rows(rows):
    changed = _changed_rows(rows)
    if not changed:
        return 0, 0
    now = timezone.now()
    # A plain psycopg cursor binds parameters server-side, in binary: a page's columns go as
    # arrays instead of being quoted into a megabyte of SQL text, as Django's cursor would.
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_UPSERT_CLAIMS, [*map(list, zip(*changed, strict=True)), now, now])
        created, updated = cursor.fetchone()
    return created, updated


def _changed_rows(rows):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, payload_hash FROM claims_claim WHERE id = ANY(%s)", [list(rows)]
        )
        stored = dict(cursor.fetchall())
    hash_at = len(_ROW_COLUMNS) - 2
    return [row for claim_id, row in rows.items() if stored.get(claim_id) != row[hash_at]]


_UPSERT_REASONS = """
WITH incoming AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(
        id uuid, subject text, translations jsonb, type text, created_at timestamptz,
        updated_at timestamptz, raw jsonb)
)
INSERT INTO claims_claimreason AS reason (
    id, subject, translations, type, created_at, updated_at, raw, last_synced_at)
SELECT id, subject, translations, type, created_at, updated_at, raw, %(now)s FROM incoming
ON CONFLICT (id) DO UPDATE SET
    subject = EXCLUDED.subject, translations = EXCLUDED.translations, type = EXCLUDED.type,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, raw = EXCLUDED.raw,
    last_synced_at = EXCLUDED.last_synced_at
WHERE reason.raw IS DISTINCT FROM EXCLUDED.raw
RETURNING (xmax = 0) AS created
"""


def store_reasons(records):
    if not records:
        return 0, 0
    rows = json.dumps(
        [
            {
                "id": record.id,
                "subject": record.subject,
                "translations": record.translations,
                "type": record.type,
                "created_at": record.created_at and record.created_at.isoformat(),
                "updated_at": record.updated_at and record.updated_at.isoformat(),
                "raw": record.raw,
            }
            for record in records
        ],
        default=str,
    )
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_REASONS, {"rows": rows, "now": timezone.now()})
        flags = [row[0] for row in cursor.fetchall()]
    return sum(flags), len(flags) - sum(flags)
