"""The Seller Center client against the sandbox over real HTTP.

Faults the sandbox cannot produce (a refused connection, a foreign host, a chunked body) come
from closed ports and tiny servers on 127.0.0.1 started here.
"""

import json
import logging
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice

import pytest
from django.test import RequestFactory

from claims import seller_center
from claims.seller_center import (
    BadResponse,
    ClaimRecord,
    InvalidRequest,
    NotFound,
    Outcome,
    PaginationLimitExceeded,
    ReasonRecord,
    SellerCenterClient,
    Unauthorized,
    Unavailable,
    accept_language,
    client_for,
    parse_claim,
)

WRONG_KEY = "sk-wrong-7f3a9c1e"


@pytest.fixture
def sleeps(monkeypatch):
    """The waits between retries, recorded instead of slept."""
    waits = []
    monkeypatch.setattr(seller_center, "_sleep", waits.append)
    return waits


class _LocalHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.hits.append((self.command, self.path, dict(self.headers)))
        self.wfile.write(self.server.reply)

    do_POST = do_GET

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture
def local_server():
    """A server of our own on 127.0.0.1 that records requests and sends one raw reply."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LocalHandler)
    server.daemon_threads = True
    server.hits = []
    server.reply = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def gets(sandbox, path="/api/i2/claims/"):
    return [r for r in sandbox.requests if r.method == "GET" and r.path == path]


def posts(sandbox):
    return [r for r in sandbox.requests if r.method == "POST"]


def waiting_claim_id(sandbox):
    return sandbox.find_claims(status="waiting")[0]["id"]


def page_body(results, count, next_url=None):
    return json.dumps({"count": count, "next": next_url, "previous": None, "results": results})


def utc(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def every_item(pages):
    return [item for page in pages for item in page.items]


# Listing claims -----------------------------------------------------------------------------


def test_it_pages_through_all_claims_with_urls_built_from_the_base(sandbox):
    client = SellerCenterClient(page_size=120)

    pages = list(client.claim_pages())

    assert [(p.number, p.count, len(p.items), p.has_more) for p in pages] == [
        (1, 300, 120, True),
        (2, 300, 120, True),
        (3, 300, 60, False),
    ]
    assert [r.query for r in gets(sandbox)] == [
        {"page": "1", "limit": "120"},
        {"page": "2", "limit": "120"},
        {"page": "3", "limit": "120"},
    ]
    assert [str(c.id) for c in every_item(pages)] == [c["id"] for c in sandbox.find_claims()]


@pytest.mark.parametrize(
    ("filters", "sent"),
    [
        ({"type": "refund"}, {"type": "refund"}),
        ({"status": "waiting"}, {"status": "waiting"}),
        ({"status__in": ["waiting", "open"]}, {"status__in": "waiting,open"}),
        (
            {"created_at": datetime(2025, 5, 22, 11, 36, 17, 718123, tzinfo=UTC)},
            {"created_at": "2025-05-22T11:36:17.718Z"},
        ),
        (
            {
                "created_at__gte": datetime(
                    2025, 5, 22, 14, 36, tzinfo=timezone(timedelta(hours=3))
                )
            },
            {"created_at__gte": "2025-05-22T11:36:00.000Z"},
        ),
        (
            {"created_at__lte": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)},
            {"created_at__lte": "2025-01-02T03:04:05.000Z"},
        ),
        (
            {"updated_at": datetime(2025, 5, 22, 11, 36, 17, 5000, tzinfo=UTC)},
            {"updated_at": "2025-05-22T11:36:17.005Z"},
        ),
        (
            {"updated_at__gte": datetime(2025, 5, 22, tzinfo=UTC)},
            {"updated_at__gte": "2025-05-22T00:00:00.000Z"},
        ),
        (
            {"updated_at__lte": datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
            {"updated_at__lte": "2025-12-31T23:59:59.999Z"},
        ),
        ({"cancelled_by": 2}, {"cancelled_by": "2"}),
        ({"status": None, "type": "cancel"}, {"type": "cancel"}),
    ],
)
def test_it_sends_each_claim_filter_as_documented(sandbox, filters, sent):
    list(SellerCenterClient().claim_pages(**filters))

    assert gets(sandbox)[0].query == {**sent, "page": "1", "limit": "500"}


def test_it_returns_only_what_the_filter_selects(sandbox):
    items = every_item(SellerCenterClient(page_size=50).claim_pages(status__in=["waiting"]))

    assert {c.status for c in items} == {"waiting"}
    assert len(items) == len(sandbox.find_claims(status="waiting"))


def test_it_refuses_unknown_filters_and_naive_datetimes_before_sending(sandbox):
    client = SellerCenterClient()

    with pytest.raises(TypeError, match="status__gt"):
        client.claim_pages(status__gt="open")
    with pytest.raises(ValueError, match="timezone-aware"):
        client.claim_pages(updated_at__gte=datetime(2025, 5, 22))
    assert sandbox.requests == []


def test_it_turns_each_claim_into_a_typed_record(sandbox):
    payload = next(
        c for c in sandbox.find_claims(type="refund") if c["reason"] and c["return_tracking_url"]
    )

    items = every_item(SellerCenterClient().claim_pages())
    record = next(c for c in items if str(c.id) == payload["id"])

    reason = payload["reason"]
    assert record == ClaimRecord(
        id=uuid.UUID(payload["id"]),
        package_item=payload["package_item"],
        product=payload["product"],
        reason_id=uuid.UUID(reason["id"]),
        reason_subject=reason["subject"],
        reason_translations=reason["translations"],
        detail=payload["detail"] or "",
        return_code=payload["return_code"],
        return_tracking_number=payload["return_tracking_number"],
        return_tracking_url=payload["return_tracking_url"],
        type="refund",
        status=payload["status"],
        created_at=utc(payload["created_at"]),
        updated_at=utc(payload["updated_at"]),
        raw=payload,
    )
    assert record.created_at.tzinfo is UTC


def test_it_keeps_unknown_statuses_and_fields_as_sent(sandbox):
    claim_id = waiting_claim_id(sandbox)
    sandbox.update_claim(claim_id, status="escalated", courier_note="left at the door")

    items = every_item(SellerCenterClient().claim_pages())
    record = next(c for c in items if str(c.id) == claim_id)

    assert record.status == "escalated"
    assert record.raw["courier_note"] == "left at the door"


def test_it_lists_claim_reasons(sandbox):
    pages = list(SellerCenterClient(page_size=5).reason_pages())

    upstream = sandbox.reasons()
    assert [(p.number, p.count, p.has_more) for p in pages] == [
        (1, len(upstream), True),
        (2, len(upstream), True),
        (3, len(upstream), False),
    ]
    first = upstream[0]
    assert pages[0].items[0] == ReasonRecord(
        id=uuid.UUID(first["id"]),
        subject=first["subject"],
        translations=first["translations"],
        type=first["type"],
        created_at=utc(first["created_at"]),
        updated_at=utc(first["updated_at"]),
        raw=first,
    )
    assert [str(r.id) for r in every_item(pages)] == [r["id"] for r in upstream]
    assert [r.query for r in gets(sandbox, "/api/i2/claim-reasons/")] == [
        {"page": str(n), "limit": "5"} for n in (1, 2, 3)
    ]


# Pagination guards ----------------------------------------------------------------------


def test_it_never_follows_a_next_link_to_another_host(sandbox, local_server):
    results = sandbox.find_claims()[:10]
    foreign = f"{local_server.url}/api/i2/claims/?page=2&limit=10"
    sandbox.faults.respond_next(1, body=page_body(results, 300, foreign))

    pages = list(islice(SellerCenterClient(page_size=10).claim_pages(), 3))

    assert [p.number for p in pages] == [1, 2, 3]
    assert local_server.hits == []
    assert [r.query["page"] for r in gets(sandbox)] == ["1", "2", "3"]


def test_it_stops_on_empty_results_even_when_next_is_set(sandbox):
    sandbox.faults.respond_next(1, body=page_body([], 300, f"{sandbox.url}/i2/claims/?page=2"))

    pages = list(SellerCenterClient(page_size=10).claim_pages())

    assert [(p.number, p.items, p.has_more) for p in pages] == [(1, [], False)]
    assert len(gets(sandbox)) == 1


def test_it_stops_when_the_count_is_reached_even_when_next_is_set(sandbox):
    results = sandbox.find_claims()[:10]
    sandbox.faults.respond_next(1, body=page_body(results, 10, f"{sandbox.url}/i2/claims/?p=2"))

    pages = list(SellerCenterClient(page_size=10).claim_pages())

    assert [(p.number, len(p.items), p.has_more) for p in pages] == [(1, 10, False)]
    assert len(gets(sandbox)) == 1


def test_it_raises_at_the_page_cap_instead_of_paging_forever(sandbox):
    results = sandbox.find_claims()[:10]
    sandbox.faults.respond_next(5, body=page_body(results, 10**9, "https://elsewhere.test/"))
    client = SellerCenterClient(page_size=10, max_pages=3)

    seen = []
    with pytest.raises(PaginationLimitExceeded) as raised:
        for page in client.claim_pages():
            seen.append(page.number)

    assert seen == [1, 2, 3]
    assert len(gets(sandbox)) == 3
    assert raised.value.message == (
        "The Seller Center announced more than 3 pages; ClaimDesk stopped there."
    )


# Decisions ------------------------------------------------------------------------------


def test_it_approves_with_exactly_one_post_and_no_body(sandbox):
    claim_id = waiting_claim_id(sandbox)

    outcome = SellerCenterClient().approve(claim_id)

    assert isinstance(outcome, Outcome)
    assert outcome.status == 204
    assert 0 <= outcome.latency_ms < 5000
    assert [(r.path, r.body) for r in posts(sandbox)] == [
        (f"/api/i2/claims/{claim_id}/approve/", b"")
    ]
    assert sandbox.claim(claim_id)["status"] == "approved"


def test_it_rejects_with_the_reason_and_images_as_sent(sandbox):
    claim_id = waiting_claim_id(sandbox)
    images = ["https://img.example.test/a.jpg", "https://img.example.test/b.jpg"]

    outcome = SellerCenterClient().reject(uuid.UUID(claim_id), "Used, tags removed", images)

    assert outcome.status == 204
    (sent,) = posts(sandbox)
    assert sent.path == f"/api/i2/claims/{claim_id}/reject/"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"reason": "Used, tags removed", "images": images}
    assert sandbox.claim(claim_id)["status"] == "rejected"


def test_it_refuses_a_claim_id_that_is_not_a_uuid_without_sending(sandbox):
    with pytest.raises(ValueError):
        SellerCenterClient().approve("../../i2/packages")

    assert sandbox.requests == []


# Errors from the Seller Center ----------------------------------------------------------


def test_it_raises_unauthorized_for_a_wrong_key(sandbox):
    client = SellerCenterClient(api_key=WRONG_KEY)

    with pytest.raises(Unauthorized) as listing:
        list(client.claim_pages())
    with pytest.raises(Unauthorized) as approving:
        client.approve(waiting_claim_id(sandbox))

    assert listing.value.status == approving.value.status == 401
    assert listing.value.message == "The Seller Center refused ClaimDesk's API key (HTTP 401)."
    assert len(gets(sandbox)) == 1
    assert len(posts(sandbox)) == 1


def test_it_raises_not_found_for_an_unknown_claim(sandbox):
    with pytest.raises(NotFound) as raised:
        SellerCenterClient().approve(uuid.uuid4())

    assert raised.value.status == 404
    assert raised.value.message == "The Seller Center does not know this claim (HTTP 404)."


def test_it_parses_the_upstream_reason_for_a_claim_not_waiting(sandbox):
    claim_id = sandbox.find_claims(status="approved")[0]["id"]

    with pytest.raises(InvalidRequest) as raised:
        SellerCenterClient().approve(claim_id)

    assert raised.value.status == 400
    assert raised.value.messages == [
        "Only a claim waiting for approval can be approved or rejected."
    ]
    assert raised.value.message == "Only a claim waiting for approval can be approved or rejected."


def test_it_names_the_field_the_seller_center_refused(sandbox):
    with pytest.raises(InvalidRequest) as raised:
        SellerCenterClient().reject(waiting_claim_id(sandbox), "  ", [])

    assert raised.value.messages == ["reason: This field is required."]


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        (
            {"detail": "Claim is locked by another action.", "code": "locked"},
            ["Claim is locked by another action."],
        ),
        (
            {"non_field_errors": ["Not waiting.", "Try later."], "code": "invalid"},
            [
                "Not waiting.",
                "Try later.",
            ],
        ),
        (
            {"reason": ["Too long."], "images": "Enter a valid URL.", "code": "invalid"},
            [
                "reason: Too long.",
                "images: Enter a valid URL.",
            ],
        ),
        (
            {"images": {"0": ["Enter a valid URL."]}, "code": "invalid"},
            ["images.0: Enter a valid URL."],
        ),
    ],
)
def test_it_parses_each_shape_of_a_400(sandbox, body, messages):
    sandbox.faults.fail_next(1, 400, json.dumps(body), "application/json")

    with pytest.raises(InvalidRequest) as raised:
        SellerCenterClient().approve(waiting_claim_id(sandbox))

    assert raised.value.messages == messages
    assert raised.value.message == "; ".join(messages)


def test_it_gives_a_generic_message_for_an_unreadable_400(sandbox):
    sandbox.faults.fail_next(1, 400, "<h1>Bad Request</h1>", "text/html")

    with pytest.raises(InvalidRequest) as raised:
        SellerCenterClient().approve(waiting_claim_id(sandbox))

    assert raised.value.messages == []
    assert raised.value.message == "The Seller Center refused the request (HTTP 400)."


def test_it_strips_control_characters_and_truncates_upstream_text(sandbox):
    detail = "\x1b[31mRefused\x00\u202e" + "x" * 1000
    sandbox.faults.fail_next(1, 400, json.dumps({"detail": detail}), "application/json")

    with pytest.raises(InvalidRequest) as raised:
        SellerCenterClient().approve(waiting_claim_id(sandbox))

    (message,) = raised.value.messages
    assert message.startswith("[31mRefused xxx")
    assert len(message) == 300
    assert message.endswith("…")
    assert len(raised.value.message) <= 300


def test_it_raises_unavailable_for_a_500_after_retrying_the_read(sandbox, sleeps):
    sandbox.faults.fail_next(3, 500, "<h1>Server Error (500)</h1>")

    with pytest.raises(Unavailable) as raised:
        list(SellerCenterClient().claim_pages())

    assert type(raised.value) is Unavailable
    assert raised.value.status == 500
    assert raised.value.outcome_unknown is False
    assert raised.value.message == "The Seller Center is unavailable (HTTP 500)."
    assert len(gets(sandbox)) == 3
    assert len(sleeps) == 2


# Retries --------------------------------------------------------------------------------


def test_it_retries_a_read_with_exponential_backoff(sandbox, sleeps):
    sandbox.faults.fail_next(2, 503, "<h1>Service Unavailable</h1>")

    pages = list(SellerCenterClient().claim_pages())

    assert [len(p.items) for p in pages] == [300]
    assert len(gets(sandbox)) == 3
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.011
    assert 0.02 <= sleeps[1] <= 0.022


def test_it_honours_retry_after_on_a_429(sandbox, sleeps):
    sandbox.faults.rate_limit_next(1, retry_after=4)

    pages = list(SellerCenterClient().claim_pages())

    assert len(pages) == 1
    assert sleeps == [4.0]
    assert len(gets(sandbox)) == 2


def test_it_caps_a_long_retry_after(sandbox, sleeps, settings):
    settings.SELLER_CENTER_MAX_RETRY_AFTER = 2.5
    sandbox.faults.rate_limit_next(1, retry_after=3600)

    list(SellerCenterClient().claim_pages())

    assert sleeps == [2.5]


def test_it_waits_for_real_as_retry_after_asks(sandbox):
    sandbox.faults.rate_limit_next(1, retry_after=1)

    started = time.monotonic()
    list(SellerCenterClient().reason_pages())

    assert 1.0 <= time.monotonic() - started < 2.0


def test_it_gives_up_on_429_after_the_retries(sandbox, sleeps):
    sandbox.faults.rate_limit_next(3, retry_after=1)

    with pytest.raises(Unavailable) as raised:
        list(SellerCenterClient().claim_pages())

    assert raised.value.status == 429
    assert sleeps == [1.0, 1.0]
    assert len(gets(sandbox)) == 3


def test_it_retries_a_read_that_timed_out(sandbox, sleeps):
    sandbox.faults.delay_next(1, seconds=1.0, path_contains="/claim-reasons/")

    pages = list(SellerCenterClient(read_timeout=0.2).reason_pages())

    assert len(pages) == 1
    assert len(gets(sandbox, "/api/i2/claim-reasons/")) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_it_never_retries_an_approve_that_got_a_5xx(sandbox, sleeps, status):
    claim_id = waiting_claim_id(sandbox)
    sandbox.faults.fail_next(1, status, path_contains="/approve/", after_apply=True)

    with pytest.raises(Unavailable) as raised:
        SellerCenterClient().approve(claim_id)

    assert raised.value.status == status
    assert raised.value.outcome_unknown is True
    assert len(posts(sandbox)) == 1
    assert sleeps == []


def test_it_never_retries_a_reject_that_timed_out(sandbox, sleeps):
    claim_id = waiting_claim_id(sandbox)
    sandbox.faults.delay_next(1, seconds=0.5, path_contains="/reject/")

    with pytest.raises(Unavailable) as raised:
        SellerCenterClient(read_timeout=0.1).reject(claim_id, "Worn", [])

    assert type(raised.value) is Unavailable
    assert raised.value.outcome_unknown is True
    assert raised.value.status is None
    assert raised.value.message == "The Seller Center did not answer in time."
    assert sleeps == []
    # The sandbox applies the rejection once its delay is over: why the outcome is unknown.
    deadline = time.monotonic() + 3
    while sandbox.claim(claim_id)["status"] != "rejected" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.claim(claim_id)["status"] == "rejected"
    assert len(posts(sandbox)) == 1


def test_it_knows_a_rate_limited_write_was_not_applied(sandbox, sleeps):
    sandbox.faults.rate_limit_next(1, retry_after=5, path_contains="/approve/")

    with pytest.raises(Unavailable) as raised:
        SellerCenterClient().approve(waiting_claim_id(sandbox))

    assert raised.value.status == 429
    assert raised.value.outcome_unknown is False
    assert len(posts(sandbox)) == 1
    assert sleeps == []


def test_it_knows_a_refused_connection_sent_nothing(sleeps):
    client = SellerCenterClient(base_url=closed_port_url(), api_key="test-key", read_retries=2)

    with pytest.raises(Unavailable) as writing:
        client.approve(uuid.uuid4())
    with pytest.raises(Unavailable) as reading:
        list(client.claim_pages())

    assert writing.value.outcome_unknown is False
    assert writing.value.message == "The Seller Center could not be reached."
    assert reading.value.status is None
    assert len(sleeps) == 2


# Unreadable replies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (
            "<html><body>Maintenance</body></html>",
            "text/html",
            "The Seller Center sent HTML instead of JSON.",
        ),
        (
            '{"count": 300, "next": null, "results": [{"id": "',
            "application/json",
            "The Seller Center sent incomplete or invalid JSON.",
        ),
        (
            '{"count": 300, "next": null, "results": {"id": 1}}',
            "application/json",
            "The Seller Center sent a page ClaimDesk cannot read (no list of results).",
        ),
        (
            '[{"id": 1}]',
            "application/json",
            "The Seller Center sent a page ClaimDesk cannot read (not an object).",
        ),
    ],
)
def test_it_raises_bad_response_for_a_page_it_cannot_read(sandbox, body, content_type, message):
    sandbox.faults.respond_next(1, body=body, content_type=content_type)

    with pytest.raises(BadResponse) as raised:
        list(SellerCenterClient().claim_pages())

    assert raised.value.message == message
    assert raised.value.outcome_unknown is False
    assert len(gets(sandbox)) == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"created_at": None}, "created_at is missing"),
        ({"updated_at": "2025-05-22"}, "updated_at is not an ISO 8601 date-time"),
        ({"updated_at": "2025-05-22T11:36:17"}, "updated_at has no time zone"),
        ({"updated_at": "2025-13-22T11:36:17Z"}, "updated_at is not an ISO 8601 date-time"),
        ({"id": 42}, "id is not a string"),
        ({"id": "not-a-uuid"}, "id is not a UUID"),
        ({"status": None}, "status is missing"),
        ({"type": ["refund"]}, "type is not a string"),
        ({"detail": {"text": "x"}}, "detail is not a string"),
        ({"reason": "Damaged"}, "reason is not an object"),
        ({"reason": {"id": "x", "subject": "Damaged"}}, "reason.id is not a UUID"),
    ],
)
def test_it_names_the_field_of_a_claim_it_cannot_read(sandbox, change, problem):
    results = sandbox.find_claims()[:3]
    results[1] = {**results[1], **change}
    sandbox.faults.respond_next(1, body=page_body(results, 3))

    with pytest.raises(BadResponse) as raised:
        list(SellerCenterClient().claim_pages())

    assert raised.value.message == (
        f"The Seller Center sent a claim ClaimDesk cannot read (page 1, item 2): {problem}."
    )


def test_it_reads_a_cancellation_with_nulls_and_absent_fields():
    record = parse_claim(
        {
            "id": "0b7c2a64-5cf0-4bd4-9f3e-3f8f0d8f5a11",
            "package_item": None,
            "reason": None,
            "return_code": None,
            "type": "cancel",
            "status": "approved",
            "created_at": "2025-05-22T11:36:17Z",
            "updated_at": "2025-05-22T14:36:17.5+03:00",
        }
    )

    assert (record.package_item, record.product, record.detail, record.return_code) == (
        "",
        "",
        "",
        "",
    )
    assert (record.reason_id, record.reason_subject, record.reason_translations) == (None, "", {})
    assert record.created_at == datetime(2025, 5, 22, 11, 36, 17, tzinfo=UTC)
    assert record.updated_at == datetime(2025, 5, 22, 11, 36, 17, 500000, tzinfo=UTC)
    assert record.updated_at.tzinfo is UTC


def test_it_lower_cases_translation_keys():
    record = parse_claim(
        {
            "id": "0b7c2a64-5cf0-4bd4-9f3e-3f8f0d8f5a11",
            "reason": {"id": None, "subject": "Hasarlı", "translations": {"tr-TR": "Hasarlı"}},
            "type": "refund",
            "status": "waiting",
            "created_at": "2025-05-22T11:36:17.718Z",
            "updated_at": "2025-05-22T11:36:17.718Z",
        }
    )

    assert record.reason_translations == {"tr-tr": "Hasarlı"}


def test_it_refuses_a_body_over_the_size_limit(sandbox):
    with pytest.raises(BadResponse) as raised:
        list(SellerCenterClient(page_size=100, max_body_bytes=4096).claim_pages())

    assert raised.value.message == "The Seller Center sent a reply larger than 4096 bytes."
    assert len(gets(sandbox)) == 1


def test_it_refuses_a_chunked_body_over_the_size_limit(local_server):
    chunk = b"x" * 1000
    local_server.reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"3e8\r\n" + chunk + b"\r\n" for _ in range(10))
        + b"0\r\n\r\n"
    )
    client = SellerCenterClient(
        base_url=local_server.url, api_key="test-key", max_body_bytes=4096, read_retries=0
    )

    with pytest.raises(BadResponse) as raised:
        list(client.claim_pages())

    assert raised.value.message == "The Seller Center sent a reply larger than 4096 bytes."


def test_it_refuses_to_follow_a_redirect(sandbox):
    sandbox.faults.respond_next(2, status=302, body="", content_type="text/html")

    with pytest.raises(BadResponse) as reading:
        list(SellerCenterClient().claim_pages())
    with pytest.raises(BadResponse) as writing:
        SellerCenterClient().approve(waiting_claim_id(sandbox))

    assert reading.value.status == writing.value.status == 302
    assert reading.value.outcome_unknown is False
    assert writing.value.outcome_unknown is True
    assert len(sandbox.requests) == 2


def test_it_bounds_the_time_a_dripping_body_may_take(sandbox):
    body = page_body(sandbox.find_claims()[:10], 10)  # about 7 kB: over 30 s at 200 B/s
    sandbox.faults.respond_next(1, body=body, drip_bytes_per_second=200)
    client = SellerCenterClient(read_timeout=0.4, read_retries=0)

    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        list(client.claim_pages())

    assert 0.8 <= time.monotonic() - started < 1.6
    assert raised.value.message == "The Seller Center took too long to send its reply."
    assert raised.value.status == 200


def test_it_retries_a_read_whose_body_dripped_too_slowly(sandbox, sleeps):
    sandbox.faults.respond_next(1, body=page_body([], 0) + " " * 5000, drip_bytes_per_second=500)

    pages = list(SellerCenterClient(read_timeout=0.2).claim_pages())

    assert len(pages[0].items) == 300
    assert len(gets(sandbox)) == 2


# Headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "header"), [("", "test-key"), ("Token", "Token test-key")])
def test_it_sends_the_key_bare_or_with_a_scheme(sandbox, scheme, header):
    list(SellerCenterClient(auth_scheme=scheme).reason_pages())

    assert sandbox.requests[0].headers["Authorization"] == header


def test_it_sends_the_language_and_gets_messages_in_it(sandbox):
    client = SellerCenterClient(language="tr-tr")

    with pytest.raises(InvalidRequest) as raised:
        client.reject(waiting_claim_id(sandbox), "", [])

    assert sandbox.requests[0].headers["Accept-Language"] == "tr-tr"
    assert raised.value.messages == ["reason: Bu alan zorunludur."]


def test_it_speaks_the_default_language_without_a_request_id(sandbox):
    list(SellerCenterClient().reason_pages())

    headers = sandbox.requests[0].headers
    assert headers["Accept-Language"] == "en-us"
    assert "X-Request-ID" not in headers


def test_it_builds_a_client_for_a_request(sandbox):
    request = RequestFactory().get("/")
    request.LANGUAGE_CODE = "tr"
    request.request_id = "4f1c2b9e-req"

    list(client_for(request, page_size=7).reason_pages())

    sent = sandbox.requests[0]
    assert sent.headers["Accept-Language"] == "tr-tr"
    assert sent.headers["X-Request-ID"] == "4f1c2b9e-req"
    assert sent.query["limit"] == "7"


@pytest.mark.parametrize(
    ("code", "tag"), [("tr", "tr-tr"), ("en", "en-us"), ("en-GB", "en-gb"), ("", "")]
)
def test_it_maps_django_language_codes_to_accept_language(code, tag):
    assert accept_language(code) == tag


# Secrets and logs -----------------------------------------------------------------------


def test_it_never_puts_the_key_in_messages_or_logs(sandbox, caplog, sleeps, local_server):
    caplog.set_level(logging.DEBUG)
    echo = {"detail": f"Key {WRONG_KEY} is not allowed here", "code": "denied"}
    sandbox.faults.fail_next(1, 400, json.dumps(echo), "application/json")
    sandbox.faults.fail_next(3, 500, "<h1>Server Error (500)</h1>")
    local_server.reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\noops"
    )

    client = SellerCenterClient(api_key=WRONG_KEY, auth_scheme="Token")
    claim_id = waiting_claim_id(sandbox)
    calls = [
        lambda: client.approve(claim_id),
        lambda: list(client.claim_pages()),
        lambda: list(client.claim_pages()),
        lambda: client.approve(claim_id),
        lambda: list(
            SellerCenterClient(base_url=closed_port_url(), api_key=WRONG_KEY).claim_pages()
        ),
        lambda: list(
            SellerCenterClient(base_url=local_server.url, api_key=WRONG_KEY).claim_pages()
        ),
    ]
    errors = []
    for call in calls:
        with pytest.raises(seller_center.SellerCenterError) as raised:
            call()
        errors.append(raised.value)

    assert [type(e).__name__ for e in errors] == [
        "InvalidRequest",
        "Unavailable",
        "Unauthorized",
        "Unauthorized",
        "Unavailable",
        "BadResponse",
    ]
    assert errors[0].messages == ["Key [redacted] is not allowed here"]
    for error in errors:
        shown = f"{error} {error!r} {error.message} {getattr(error, 'messages', '')}"
        assert WRONG_KEY not in shown
        assert error.__cause__ is None
    assert caplog.records
    assert WRONG_KEY not in caplog.text


def test_it_logs_one_warning_per_retry_with_lazy_arguments(sandbox, caplog, sleeps):
    caplog.set_level(logging.WARNING, logger="claims.seller_center")
    sandbox.faults.fail_next(2, 503)

    list(SellerCenterClient().claim_pages(status="waiting"))

    records = [r for r in caplog.records if r.name == "claims.seller_center"]
    assert [r.getMessage() for r in records] == [
        "Seller Center GET /i2/claims/ failed with 503 (attempt 1 of 3); retrying in 0.01 s",
        "Seller Center GET /i2/claims/ failed with 503 (attempt 2 of 3); retrying in 0.02 s",
    ]
    assert {r.msg for r in records} == {
        "Seller Center %s %s failed with %s (attempt %s of %s); retrying in %.2f s"
    }
    assert all(r.levelno == logging.WARNING for r in records)
