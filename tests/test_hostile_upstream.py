"""A Seller Center that is wrong, slow, huge or hostile: each sync ends with a clear error or a
clean result, in bounded time and memory, with the watermark no further than what was stored,
and the API key sent to the configured host only.

The sandbox makes the faults over real HTTP. A body with no declared length, and a host other
than the configured one, come from small listeners on 127.0.0.1 started here.
"""

import json
import random
import socket
import string
import threading
import time
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.urls import reverse

from claims import decisions, search
from claims.models import Claim, ClaimReason, SyncState
from claims.seller_center import (
    CLAIM_FIELD_LIMITS,
    REASON_TYPE_LIMIT,
    BadResponse,
    PaginationLimitExceeded,
    Unavailable,
)
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

API_KEY = "sc-live-4f1c9e2b7a6d3085"
CLAIMS = "/i2/claims/"
MB = 2**20


class Listener:
    """A port on 127.0.0.1 that counts every connection made to it and answers none."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _address = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.server.close()


class ChunkedBody:
    """A Seller Center of our own that answers every request with a body of no declared
    length, sent in chunks without copying it, so a reader must count as it reads."""

    def __init__(self, body):
        self.body = memoryview(body)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/api"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _address = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._answer(conn)
                except OSError:
                    pass  # the client hung up once it had read enough

    def _answer(self, conn):
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        step = 64 * 1024
        for start in range(0, len(self.body), step):
            piece = self.body[start : start + step]
            conn.sendall(b"%x\r\n" % len(piece))
            conn.sendall(piece)
            conn.sendall(b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    def close(self):
        self._stop.set()
        self._thread.join()
        self.server.close()


@pytest.fixture
def listener():
    foreign = Listener()
    yield foreign
    foreign.close()


@pytest.fixture
def upstream(sandbox, settings):
    """The sandbox with a realistic key and three pages of claims, synced once."""
    settings.SELLER_CENTER_API_KEY = API_KEY
    previous, sandbox.api_key = sandbox.api_key, API_KEY
    settings.SELLER_CENTER_PAGE_SIZE = 100
    sync_everything()
    sandbox.requests.clear()
    yield sandbox
    sandbox.api_key = previous


def claims_state():
    return SyncState.objects.get(name="claims")


def stored_claims():
    """Every claim row's id and row version: what a sync changed, if anything."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM claims_claim ORDER BY id")
        return cursor.fetchall()


def page_body(results, count, next_url=None):
    return json.dumps({"count": count, "next": next_url, "previous": None, "results": results})


def claim_gets(sandbox):
    return [r for r in sandbox.requests if r.method == "GET" and r.path.endswith(CLAIMS)]


def timed_failing_sync(error_type):
    started = time.monotonic()
    with pytest.raises(error_type) as raised:
        sync_everything()
    return raised.value, time.monotonic() - started


def assert_failed_and_nothing_moved(message, watermark, claims_before):
    state = claims_state()
    assert state.outcome == SyncState.Outcome.FAILED
    assert state.error == message
    assert state.watermark == watermark
    assert stored_claims() == claims_before


# Replies that are not a page of claims ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        pytest.param(
            "<!doctype html><h1>Scheduled maintenance</h1>",
            "text/html; charset=utf-8",
            "The Seller Center sent HTML instead of JSON.",
            id="html-instead-of-json",
        ),
        pytest.param(
            "<html><body>Gateway error</body></html>",
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
            id="html-labelled-json",
        ),
        pytest.param(
            '{"count": 300, "next": null, "previous": null, "results": [{"id": "0b7c',
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
            id="truncated-json",
        ),
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
            id="nested-too-deep",
        ),
        pytest.param(
            '{"count": NaN, "next": null, "previous": null, "results": []}',
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
            id="nan",
        ),
        pytest.param(
            '{"count": 1, "next": null, "results": [{"score": 1e999}]}',
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
            id="infinite-number",
        ),
        pytest.param(
            b'{"count": 0, "next": null, "results": ["\xff\xfe"]}',
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
            id="not-utf-8",
        ),
        pytest.param(
            '{"count": "300", "next": null, "results": []}',
            "application/json",
            "The Seller Center sent a page ClaimDesk cannot read (no valid count).",
            id="count-as-text",
        ),
    ],
)
def test_an_unreadable_page_fails_the_sync_with_a_clear_error_and_moves_nothing(
    upstream, body, content_type, message
):
    watermark, before = claims_state().watermark, stored_claims()
    upstream.faults.respond_next(1, body=body, content_type=content_type, path_contains=CLAIMS)

    error, seconds = timed_failing_sync(BadResponse)

    assert error.message == message
    assert seconds < 5
    assert len(claim_gets(upstream)) == 1  # a reply that cannot be read is not asked again
    assert_failed_and_nothing_moved(message, watermark, before)


# Size ---------------------------------------------------------------------------------------


def test_a_declared_10_mb_body_over_the_limit_is_refused_before_it_is_read(upstream, settings):
    settings.SELLER_CENTER_MAX_BODY_BYTES = MB
    watermark, before = claims_state().watermark, stored_claims()
    upstream.faults.respond_next(1, body=b" " * (10 * MB), path_contains=CLAIMS)

    tracemalloc.start()
    try:
        error, seconds = timed_failing_sync(BadResponse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert error.message == "The Seller Center sent a reply larger than 1048576 bytes."
    assert peak < MB
    assert seconds < 5
    assert_failed_and_nothing_moved(error.message, watermark, before)


def test_an_undeclared_10_mb_body_is_cut_off_at_the_limit(upstream, settings):
    body = b" " * (10 * MB)
    server = ChunkedBody(body)
    settings.SELLER_CENTER_URL = server.url
    settings.SELLER_CENTER_MAX_BODY_BYTES = MB
    watermarks = dict(SyncState.objects.values_list("name", "watermark"))

    tracemalloc.start()
    try:
        error, seconds = timed_failing_sync(BadResponse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.close()

    # Reasons sync first, so it is their run that meets the body, and the claims' never starts.
    assert error.message == "The Seller Center sent a reply larger than 1048576 bytes."
    assert peak < 3 * MB
    assert seconds < 5
    reasons = SyncState.objects.get(name="reasons")
    assert (reasons.outcome, reasons.error) == (SyncState.Outcome.FAILED, error.message)
    assert dict(SyncState.objects.values_list("name", "watermark")) == watermarks


def test_a_10_mb_page_within_the_limit_is_stored_in_bounded_time_and_memory(upstream):
    results = upstream.find_claims()[:100]
    padding = "x" * (10 * MB // len(results))
    for claim in results:
        claim["attachment_blob"] = padding
    body = page_body(results, len(results)).encode()
    upstream.faults.respond_next(1, body=body, path_contains=CLAIMS)
    assert len(body) > 10 * MB

    tracemalloc.start()
    started = time.monotonic()
    try:
        _, claims = sync_everything()
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (claims.fetched, claims.updated) == (100, 100)
    assert Claim.objects.get(pk=results[0]["id"]).raw["attachment_blob"] == padding
    assert claims_state().outcome == SyncState.Outcome.OK
    # The body, its text and the parsed page, the rows and their JSON for PostgreSQL.
    assert peak < 8 * len(body)
    assert seconds < 30


# Time ---------------------------------------------------------------------------------------


def test_a_body_that_drips_slowly_is_given_up_in_bounded_time(upstream, settings):
    settings.SELLER_CENTER_TIMEOUT = 0.3
    settings.SELLER_CENTER_READ_RETRIES = 1
    watermark, before = claims_state().watermark, stored_claims()
    body = page_body(upstream.find_claims()[:10], 10)  # about 7 kB: over 30 s at 200 B/s
    upstream.faults.respond_next(2, body=body, drip_bytes_per_second=200, path_contains=CLAIMS)

    error, seconds = timed_failing_sync(Unavailable)

    assert error.message == "The Seller Center took too long to send its reply."
    assert len(claim_gets(upstream)) == 2
    assert seconds < 3  # two attempts, each cut off at twice the read timeout
    assert_failed_and_nothing_moved(error.message, watermark, before)


def test_a_page_repeated_forever_stops_at_the_page_cap(upstream, settings):
    settings.SELLER_CENTER_MAX_PAGES = 5
    watermark = claims_state().watermark
    same_page = page_body(upstream.find_claims()[:100], 10**9, f"{upstream.url}{CLAIMS}?page=2")
    upstream.faults.respond_next(1000, body=same_page, path_contains=CLAIMS)

    error, seconds = timed_failing_sync(PaginationLimitExceeded)

    message = "The Seller Center announced more than 5 pages; ClaimDesk stopped there."
    assert error.message == message
    assert [r.query["page"] for r in claim_gets(upstream)] == ["1", "2", "3", "4", "5"]
    assert seconds < 10
    state = claims_state()
    assert (state.outcome, state.error, state.watermark) == (
        SyncState.Outcome.FAILED,
        message,
        watermark,
    )


# Other hosts and the key --------------------------------------------------------------------


def test_a_next_link_to_another_host_is_never_followed_and_the_key_stays_home(upstream, listener):
    first_page = upstream.find_claims()[:100]
    foreign = f"{listener.url}/api/i2/claims/?page=2&limit=100"
    upstream.faults.respond_next(1, body=page_body(first_page, 300, foreign), path_contains=CLAIMS)
    reasons = {"count": 12, "next": f"{listener.url}/r/", "results": upstream.reasons()}
    upstream.faults.respond_next(1, body=json.dumps(reasons), path_contains="claim-reasons")

    _, claims = sync_everything(full=True)

    assert (claims.pages, claims.fetched) == (3, 300)
    assert claims_state().outcome == SyncState.Outcome.OK
    assert [r.query["page"] for r in claim_gets(upstream)] == ["1", "2", "3"]
    assert listener.connections == 0
    assert {r.headers["Authorization"] for r in upstream.requests} == {API_KEY}


def test_a_redirect_to_another_host_is_refused_for_reads_and_decisions(upstream, listener, member):
    watermark, before = claims_state().watermark, stored_claims()
    moved = [("Location", f"{listener.url}/api/i2/claims/")]
    upstream.faults.respond_next(
        2, status=302, body="", content_type="text/html", headers=moved, path_contains=CLAIMS
    )
    claim = Claim.objects.filter(status="waiting").first()

    error, _ = timed_failing_sync(BadResponse)
    result = decisions.approve(claim.pk, member("agent"))

    message = (
        "The Seller Center answered with a redirect, which ClaimDesk does not follow (HTTP 302)."
    )
    assert error.message == message
    assert_failed_and_nothing_moved(message, watermark, before)
    assert result.decision.state == "unconfirmed"  # it may have been applied before the redirect
    assert listener.connections == 0
    assert {r.headers["Authorization"] for r in upstream.requests} == {API_KEY}


# Fields -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("updated_at", "2025-05-22", "is not an ISO 8601 date-time"),
        ("updated_at", "22/05/2025 11:36", "is not an ISO 8601 date-time"),
        ("updated_at", "2025-05-22T11:36:17", "has no time zone"),
        ("updated_at", "Thu, 22 May 2025 11:36:17 GMT", "is not an ISO 8601 date-time"),
        ("updated_at", 1747913777, "is not a string"),
        ("created_at", "yesterday", "is not an ISO 8601 date-time"),
        ("created_at", "", "is not an ISO 8601 date-time"),
        ("status", "s" * 33, "is longer than 32 characters"),
        ("return_code", "R" * 129, "is longer than 128 characters"),
        ("product", "P" * 256, "is longer than 255 characters"),
    ],
)
def test_a_claim_it_cannot_store_fails_the_sync_naming_the_claim_and_the_field(
    upstream, field, value, problem
):
    watermark, before = claims_state().watermark, stored_claims()
    results = upstream.find_claims()[:3]
    results[1][field] = value
    upstream.faults.respond_next(1, body=page_body(results, 3), path_contains=CLAIMS)

    error, _ = timed_failing_sync(BadResponse)

    message = (
        "The Seller Center sent a claim ClaimDesk cannot read (page 1, item 2): "
        f"{field} {problem}."
    )
    assert error.message == message
    assert_failed_and_nothing_moved(message, watermark, before)


def test_a_date_with_an_offset_is_stored_in_utc(upstream):
    claim = upstream.find_claims(status="waiting")[0]
    claim["updated_at"] = "2031-05-22T14:36:17.718+03:00"
    upstream.faults.respond_next(1, body=page_body([claim], 1), path_contains=CLAIMS)

    _, claims = sync_everything()

    assert claims.updated == 1
    stored = Claim.objects.get(pk=claim["id"]).updated_at
    assert stored == datetime(2031, 5, 22, 11, 36, 17, 718000, tzinfo=UTC)


def test_unknown_fields_statuses_and_types_are_kept_and_shown_as_sent(upstream, client, member):
    claim_id = upstream.find_claims(status="waiting")[0]["id"]
    upstream.update_claim(
        claim_id,
        status="escalated",
        type="exchange",
        courier_note="left with the neighbour",
        insurance={"covered": True, "limit": 250},
    )

    _, claims = sync_everything()
    client.force_login(member("viewer"))
    page = client.get(reverse("claims:detail", args=[claim_id])).content.decode()

    assert claims.updated == 1
    claim = Claim.objects.get(pk=claim_id)
    assert (claim.status, claim.type) == ("escalated", "exchange")
    assert claim.raw["insurance"] == {"covered": True, "limit": 250}
    assert (
        '<dt class="extra">courier_note</dt><dd class="mono">left with the neighbour</dd>' in page
    )
    assert '<dd class="mono">{&quot;covered&quot;: true, &quot;limit&quot;: 250}</dd>' in page
    assert "badge-escalated" in page
    assert claims_state().outcome == SyncState.Outcome.OK


def test_nul_and_lone_surrogates_are_stored_as_replacement_characters(upstream):
    claim = upstream.find_claims(status="waiting")[0]
    body = page_body([claim], 1).replace(
        '"detail": ', '"note\\u0000": "x\\ud800y", "detail": "a\\u0000b\\udc00" , "was": ', 1
    )
    upstream.faults.respond_next(1, body=body, path_contains=CLAIMS)

    _, claims = sync_everything()

    stored = Claim.objects.get(pk=claim["id"])
    assert claims.updated == 1
    assert stored.detail == "a\ufffdb\ufffd"
    assert stored.raw["note\ufffd"] == "x\ufffdy"


def test_customer_text_too_long_to_index_is_stored_and_the_sync_goes_on(upstream):
    rng = random.Random(8)
    words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(250_000)]
    claim_id = upstream.find_claims(status="waiting")[0]["id"]
    upstream.update_claim(claim_id, detail=" ".join(words))

    _, claims = sync_everything()

    assert claims.updated == 1
    assert len(Claim.objects.get(pk=claim_id).detail) == 250_000 * 9 - 1
    found = search.matching(Claim.objects.all(), words[0])
    assert [str(pk) for pk in found.values_list("id", flat=True)] == [claim_id]


def test_an_unknown_reason_type_is_kept(upstream):
    catalogue = upstream.reasons()
    catalogue[0]["type"] = "exchange"
    catalogue[0]["sla_hours"] = 48
    body = json.dumps({"count": len(catalogue), "next": None, "results": catalogue})
    upstream.faults.respond_next(1, body=body, path_contains="claim-reasons")

    reasons, _ = sync_everything()

    assert reasons.updated == 1
    stored = ClaimReason.objects.get(pk=catalogue[0]["id"])
    assert (stored.type, stored.raw["sla_hours"]) == ("exchange", 48)


def test_the_field_limits_are_the_widths_of_the_columns_that_store_them():
    widths = {name: Claim._meta.get_field(name).max_length for name in CLAIM_FIELD_LIMITS}

    assert CLAIM_FIELD_LIMITS == widths
    assert REASON_TYPE_LIMIT == ClaimReason._meta.get_field("type").max_length


def test_a_field_name_the_api_chose_is_cleaned_in_the_error_and_the_log(upstream, caplog):
    forged = "en-us\n2031-01-01 INFO claims.sync sync finished: all is well" + "x" * 200
    results = upstream.find_claims()[:1]
    results[0]["reason"] = {"id": None, "subject": "x", "translations": {forged: 5}}
    upstream.faults.respond_next(1, body=page_body(results, 1), path_contains=CLAIMS)

    error, _ = timed_failing_sync(BadResponse)

    shown = "reason.translations.en-us 2031-01-01 INFO claims.sync sync finished: all is well"
    shown += "x" * (80 - len(shown))
    assert error.message == (
        f"The Seller Center sent a claim ClaimDesk cannot read (page 1, item 1): {shown} "
        "is not a string."
    )
    assert not [r for r in caplog.records if "\n" in r.getMessage()]
