"""The sandbox Seller Center, exercised over real HTTP as a client would see it."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command

from claims.sandbox import (
    RecordedRequest,
    Sandbox,
    format_timestamp,
    generate_claims,
    generate_reasons,
)

KEY = "test-key"
AUTH = {"Authorization": KEY}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DOCUMENTED_STATUSES = {"open", "waiting", "approved", "rejected", "completed"}


def get(sandbox, path, headers=AUTH, timeout=5, **params):
    return requests.get(f"{sandbox.url}{path}", params=params, headers=headers, timeout=timeout)


def post(sandbox, path, headers=AUTH, timeout=5, **kwargs):
    return requests.post(f"{sandbox.url}{path}", headers=headers, timeout=timeout, **kwargs)


def every_claim(sandbox, **params):
    response = get(sandbox, "/i2/claims/", limit=1000, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next"] is None
    return body["results"]


def parse(timestamp):
    return datetime.fromisoformat(timestamp)


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def waiting_id(sandbox, index=0):
    return sandbox.find_claims(status="waiting")[index]["id"]


# ------------------------------------------------------------------------- auth


def test_it_accepts_the_bare_key(sandbox):
    assert get(sandbox, "/i2/claims/").status_code == 200


def test_it_accepts_the_token_form(sandbox):
    response = get(sandbox, "/i2/claims/", headers={"Authorization": f"Token {KEY}"})

    assert response.status_code == 200


def test_it_rejects_a_wrong_key(sandbox):
    response = get(sandbox, "/i2/claims/", headers={"Authorization": "Token not-the-key"})

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert response.json()["detail"]


def test_it_rejects_a_key_with_another_scheme(sandbox):
    response = get(sandbox, "/i2/claims/", headers={"Authorization": f"Bearer {KEY}"})

    assert response.status_code == 401


def test_it_asks_for_a_missing_key(sandbox):
    response = get(sandbox, "/i2/claim-reasons/", headers={})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Token"


def test_decisions_need_the_key_too(sandbox):
    claim_id = waiting_id(sandbox)

    response = post(sandbox, f"/i2/claims/{claim_id}/approve/", headers={})

    assert response.status_code == 401
    assert sandbox.claim(claim_id)["status"] == "waiting"


def test_messages_follow_accept_language(sandbox):
    response = get(sandbox, "/i2/claims/", headers={"Accept-Language": "tr-TR,tr;q=0.9"})

    assert response.json() == {
        "detail": "Kimlik bilgileri sağlanmadı.",
        "code": "not_authenticated",
    }


# ------------------------------------------------------------------- pagination


def test_the_first_page_has_count_next_and_no_previous(sandbox):
    body = get(sandbox, "/i2/claims/", limit=50).json()

    assert body["count"] == 300
    assert len(body["results"]) == 50
    assert body["previous"] is None
    assert body["next"] == f"{sandbox.url}/i2/claims/?limit=50&page=2"


def test_the_default_page_size_is_ten(sandbox):
    assert len(get(sandbox, "/i2/claims/").json()["results"]) == 10


def test_next_and_previous_are_absolute_links_that_keep_the_filters(sandbox):
    first = get(sandbox, "/i2/claims/", limit=20, status="waiting").json()
    second = requests.get(first["next"], headers=AUTH, timeout=5).json()

    assert urlsplit(first["next"]).netloc == urlsplit(sandbox.url).netloc
    assert {c["status"] for c in second["results"]} == {"waiting"}
    assert second["previous"] == f"{sandbox.url}/i2/claims/?limit=20&status=waiting"
    assert requests.get(second["previous"], headers=AUTH, timeout=5).json() == first


def test_the_last_page_has_no_next(sandbox):
    body = get(sandbox, "/i2/claims/", limit=100, page=3).json()

    assert len(body["results"]) == 100
    assert body["next"] is None
    assert body["previous"] == f"{sandbox.url}/i2/claims/?limit=100&page=2"


def test_a_page_beyond_the_end_is_not_found(sandbox):
    response = get(sandbox, "/i2/claims/", limit=100, page=4)

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_an_empty_result_still_has_a_first_page(sandbox):
    body = get(sandbox, "/i2/claims/", status="no-such-status").json()

    assert body == {"count": 0, "next": None, "previous": None, "results": []}
    assert get(sandbox, "/i2/claims/", status="no-such-status", page=2).status_code == 404


@pytest.mark.parametrize(
    ("name", "value"), [("limit", "0"), ("limit", "ten"), ("page", "0"), ("page", "-1")]
)
def test_a_bad_page_or_limit_is_a_400(sandbox, name, value):
    response = get(sandbox, "/i2/claims/", **{name: value})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert isinstance(body[name], list) and body[name]


def test_paging_through_returns_every_claim_exactly_once(sandbox):
    seen, page = [], 1
    while True:
        body = get(sandbox, "/i2/claims/", limit=7, page=page).json()
        seen += [claim["id"] for claim in body["results"]]
        if body["next"] is None:
            break
        page += 1

    assert page == 43
    assert len(seen) == len(set(seen)) == 300


def test_a_limit_larger_than_the_data_returns_everything(sandbox):
    body = get(sandbox, "/i2/claims/", limit=1_000_000).json()

    assert len(body["results"]) == body["count"] == 300


def test_claim_reasons_are_paginated_the_same_way(sandbox):
    first = get(sandbox, "/i2/claim-reasons/", limit=5).json()
    everything = get(sandbox, "/i2/claim-reasons/", limit=100).json()

    assert first["count"] == everything["count"] == len(everything["results"]) == 12
    assert first["next"] == f"{sandbox.url}/i2/claim-reasons/?limit=5&page=2"
    assert first["results"] == everything["results"][:5]
    assert get(sandbox, "/i2/claim-reasons/", limit=5, page=4).status_code == 404


# ---------------------------------------------------------------------- filters


def test_type_filter(sandbox):
    refunds = every_claim(sandbox, type="refund")
    cancels = every_claim(sandbox, type="cancel")

    assert {c["type"] for c in refunds} == {"refund"}
    assert {c["type"] for c in cancels} == {"cancel"}
    assert len(refunds) + len(cancels) == 300


def test_status_filter(sandbox):
    everything = every_claim(sandbox)
    waiting = every_claim(sandbox, status="waiting")

    assert waiting == [c for c in everything if c["status"] == "waiting"]
    assert waiting


def test_status_in_filter(sandbox):
    everything = every_claim(sandbox)
    chosen = every_claim(sandbox, status__in="approved, rejected,")

    assert chosen == [c for c in everything if c["status"] in ("approved", "rejected")]
    assert {c["status"] for c in chosen} == {"approved", "rejected"}


def test_cancelled_by_filter(sandbox):
    by_customer = every_claim(sandbox, cancelled_by="1")

    assert by_customer
    assert {(c["type"], c["cancelled_by"]) for c in by_customer} == {("cancel", 1)}
    assert get(sandbox, "/i2/claims/", cancelled_by="someone").status_code == 400


def test_filters_combine(sandbox):
    everything = every_claim(sandbox)
    chosen = every_claim(sandbox, type="cancel", status="waiting")

    expected = [c for c in everything if c["type"] == "cancel" and c["status"] == "waiting"]
    assert chosen == expected
    assert chosen


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
def test_date_range_filters(sandbox, field):
    everything = every_claim(sandbox)
    middle = sorted(parse(c[field]) for c in everything)[150]
    value = format_timestamp(int(middle.timestamp()) * 10**6)  # whole seconds

    since = every_claim(sandbox, **{f"{field}__gte": value})
    until = every_claim(sandbox, **{f"{field}__lte": value})

    assert since == [c for c in everything if parse(c[field]) >= parse(value)]
    assert until == [c for c in everything if parse(c[field]) <= parse(value)]
    assert 0 < len(since) < 300 and 0 < len(until) < 300


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
def test_exact_date_filter(sandbox, field):
    target = every_claim(sandbox)[123]

    found = every_claim(sandbox, **{field: target[field]})

    assert target in found
    assert {c[field] for c in found} == {target[field]}


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-02T03:04:05.000Z",
        "2026-01-02T03:04:05.000+00:00",
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05+00:00",
        "2026-01-02T06:04:05+03:00",
    ],
)
def test_date_filters_accept_every_iso_spelling(sandbox, value):
    claim_id = waiting_id(sandbox)
    sandbox.update_claim(claim_id, updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    found = every_claim(sandbox, updated_at=value)

    assert [c["id"] for c in found] == [claim_id]


def test_exact_date_filters_compare_milliseconds(sandbox):
    claim_id = waiting_id(sandbox)
    sandbox.update_claim(claim_id, updated_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))

    assert every_claim(sandbox, updated_at="2026-01-02T03:04:05Z") == []
    assert [c["id"] for c in every_claim(sandbox, updated_at="2026-01-02T03:04:05.678Z")] == [
        claim_id
    ]
    assert [c["id"] for c in every_claim(sandbox, updated_at__lte="2026-01-02T03:04:06Z")] == [
        claim_id
    ]


def test_a_bad_date_is_a_400(sandbox):
    response = get(sandbox, "/i2/claims/", created_at__gte="yesterday", updated_at="2026-13-01")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body) == {"created_at__gte", "updated_at", "code"}


def test_unknown_and_empty_parameters_are_ignored(sandbox):
    body = get(sandbox, "/i2/claims/", ordering="-id", status="", limit=1000).json()

    assert body["count"] == 300


# -------------------------------------------------------------------- decisions


def test_approving_a_waiting_claim(sandbox):
    claim_id = waiting_id(sandbox)
    before = sandbox.claim(claim_id)

    response = post(sandbox, f"/i2/claims/{claim_id}/approve/")

    assert response.status_code == 204
    assert response.content == b""
    after = sandbox.claim(claim_id)
    assert after["status"] == "approved"
    assert parse(after["updated_at"]) > parse(before["updated_at"])
    assert TIMESTAMP.match(after["updated_at"])
    assert every_claim(sandbox, status="approved", updated_at=after["updated_at"]) == [after]


def test_rejecting_a_waiting_claim(sandbox):
    claim_id = waiting_id(sandbox)
    images = ["https://images.example.com/1.jpg", "https://images.example.com/2.jpg"]

    response = post(
        sandbox,
        f"/i2/claims/{claim_id}/reject/",
        json={"reason": "Ürün kullanılmış, iade koşullarına uymuyor.", "images": images},
    )

    assert response.status_code == 204
    assert sandbox.claim(claim_id)["status"] == "rejected"
    assert sandbox.requests[-1].json()["images"] == images


def test_images_are_optional(sandbox):
    claim_id = waiting_id(sandbox)

    response = post(sandbox, f"/i2/claims/{claim_id}/reject/", json={"reason": "Kullanılmış"})

    assert response.status_code == 204


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_claim_that_is_not_waiting_cannot_be_decided(sandbox, verb):
    claim_id = sandbox.find_claims(status="completed")[0]["id"]

    response = post(sandbox, f"/i2/claims/{claim_id}/{verb}/", json={"reason": "No"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["non_field_errors"]
    assert sandbox.claim(claim_id)["status"] == "completed"


def test_a_second_decision_is_refused(sandbox):
    claim_id = waiting_id(sandbox)
    assert post(sandbox, f"/i2/claims/{claim_id}/approve/").status_code == 204

    response = post(sandbox, f"/i2/claims/{claim_id}/reject/", json={"reason": "Late"})

    assert response.status_code == 400
    assert sandbox.claim(claim_id)["status"] == "approved"


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"images": []}])
def test_rejecting_needs_a_reason(sandbox, payload):
    claim_id = waiting_id(sandbox)

    response = post(sandbox, f"/i2/claims/{claim_id}/reject/", json=payload)

    assert response.status_code == 400
    assert response.json() == {"reason": ["This field is required."], "code": "required"}
    assert sandbox.claim(claim_id)["status"] == "waiting"


def test_rejecting_with_no_body_needs_a_reason(sandbox):
    response = post(sandbox, f"/i2/claims/{waiting_id(sandbox)}/reject/")

    assert response.status_code == 400
    assert response.json()["code"] == "required"


def test_malformed_json_is_a_parse_error(sandbox):
    claim_id = waiting_id(sandbox)

    response = post(
        sandbox,
        f"/i2/claims/{claim_id}/reject/",
        data=b'{"reason": "cut sho',
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert response.json()["detail"]
    assert sandbox.claim(claim_id)["status"] == "waiting"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"reason": 12}, "reason"),
        ({"reason": "x", "images": "https://a.example/1.jpg"}, "images"),
        ({"reason": "x", "images": ["not a url"]}, "images"),
        (["reason"], "non_field_errors"),
    ],
)
def test_invalid_reject_data_is_a_400(sandbox, payload, field):
    response = post(sandbox, f"/i2/claims/{waiting_id(sandbox)}/reject/", json=payload)

    assert response.status_code == 400
    assert field in response.json()


def test_a_non_json_body_is_unsupported(sandbox):
    response = post(sandbox, f"/i2/claims/{waiting_id(sandbox)}/reject/", data={"reason": "x"})

    assert response.status_code == 415


@pytest.mark.parametrize("claim_id", ["2a0a4f4e-7bd4-4c4e-9d59-0c3b3b0e7e11", "42", "not-a-uuid"])
@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_an_unknown_or_malformed_id_is_not_found(sandbox, claim_id, verb):
    response = post(sandbox, f"/i2/claims/{claim_id}/{verb}/", json={"reason": "x"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "path", ["/i2/claims", "/i2/claims/x/", "/i2/packages/", "/i2/claims/approve/", "/"]
)
def test_any_other_path_is_not_found(sandbox, path):
    assert get(sandbox, path).status_code == 404


def test_a_wrong_method_is_405(sandbox):
    listing = post(sandbox, "/i2/claims/")
    approve = get(sandbox, f"/i2/claims/{waiting_id(sandbox)}/approve/")
    delete = requests.delete(f"{sandbox.url}/i2/claim-reasons/", headers=AUTH, timeout=5)

    assert (listing.status_code, approve.status_code, delete.status_code) == (405, 405, 405)
    assert listing.headers["Allow"] == "GET, HEAD"
    assert approve.headers["Allow"] == "POST"
    assert listing.json()["detail"] == 'Method "POST" not allowed.'


# ------------------------------------------------------------------------ HTTP


def test_one_connection_serves_many_requests(sandbox):
    parts = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        statuses = []
        for path in ("/i2/claims/?limit=3", "/i2/claim-reasons/", "/i2/claims/?page=2"):
            connection.request("GET", f"{parts.path}{path}", headers=AUTH)
            response = connection.getresponse()
            body = response.read()
            assert int(response.headers["Content-Length"]) == len(body)
            json.loads(body)
            statuses.append(response.status)
        connection.request("HEAD", f"{parts.path}/i2/claims/", headers=AUTH)
        head = connection.getresponse()
        assert head.read() == b""
        assert int(head.headers["Content-Length"]) > 0
    finally:
        connection.close()

    assert statuses == [200, 200, 200]


def test_responses_are_utf8_json(sandbox):
    response = get(sandbox, "/i2/claim-reasons/", limit=100)

    assert response.headers["Content-Type"].startswith("application/json")
    assert "Hasarlı ürün".encode() in response.content


# ------------------------------------------------------------------------- data


def test_claims_look_like_the_contract(sandbox):
    claims = every_claim(sandbox)
    refunds = [c for c in claims if c["type"] == "refund"]
    cancels = [c for c in claims if c["type"] == "cancel"]

    assert {c["status"] for c in claims} == DOCUMENTED_STATUSES
    assert sum(c["status"] == "waiting" for c in claims) > 120
    assert 150 < len(refunds) < 260
    for claim in claims:
        uuid_text = claim["id"]
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid_text
        )
        assert re.fullmatch(r"\d{16}-\d+", claim["package_item"])
        assert re.fullmatch(r"AKN-[A-Z]+-[A-Z]{2}(-[0-9A-Z-]+)?", claim["product"])
        assert TIMESTAMP.match(claim["created_at"]) and TIMESTAMP.match(claim["updated_at"])
        assert claim["created_at"] <= claim["updated_at"]
        if claim["reason"] is not None:
            assert set(claim["reason"]) == {"id", "subject", "translations"}
    for claim in refunds:
        assert re.fullmatch(r"R-\d{7}", claim["return_code"])
        if claim["return_tracking_url"] is not None:
            assert claim["return_tracking_url"].startswith("https://")
            assert claim["return_tracking_number"] in claim["return_tracking_url"]
    for claim in cancels:
        assert claim.get("return_code") is None
        assert claim.get("return_tracking_number") is None
        assert claim.get("return_tracking_url") is None
    assert any("return_tracking_url" not in c for c in cancels)
    assert any(c["detail"] is None for c in claims)
    assert any(c["detail"] and "\n" in c["detail"] for c in claims)
    assert any(c["detail"] and re.search("[ğüşıöçİ]", c["detail"]) for c in claims)


def test_claims_are_spread_over_the_last_eight_weeks(sandbox):
    now = datetime.now(UTC)
    created = [parse(c["created_at"]) for c in every_claim(sandbox)]

    assert min(created) > now - timedelta(weeks=8, days=1)
    assert max(created) <= now
    assert min(created) < now - timedelta(weeks=4)
    assert any(now - moment < timedelta(days=1) for moment in created)


def test_reasons_have_genuine_turkish_translations(sandbox):
    reasons = get(sandbox, "/i2/claim-reasons/", limit=100).json()["results"]

    assert {r["type"] for r in reasons} == {"refund", "cancel"}
    for reason in reasons:
        assert set(reason) >= {"id", "subject", "translations", "type", "created_at"}
        assert set(reason["translations"]) == {"en-us", "tr-tr"}
        assert reason["translations"]["en-us"] == reason["subject"]
        assert TIMESTAMP.match(reason["updated_at"])
    turkish = " ".join(r["translations"]["tr-tr"] for r in reasons)
    assert "ı" in turkish and "İ" in turkish and "Hasarlı ürün" in turkish


def test_embedded_reasons_are_from_the_catalogue(sandbox):
    catalogue = {r["id"]: r for r in sandbox.reasons()}

    for claim in every_claim(sandbox):
        if claim["reason"] is not None:
            reason = catalogue[claim["reason"]["id"]]
            assert claim["reason"]["subject"] == reason["subject"]
            assert reason["type"] == claim["type"]


def test_the_same_seed_gives_the_same_data():
    reasons = generate_reasons(7)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    later = now + timedelta(days=10)

    first = generate_claims(50, 7, reasons, now)
    again = generate_claims(50, 7, generate_reasons(7), now)
    shifted = generate_claims(50, 7, reasons, later)
    other = generate_claims(50, 8, generate_reasons(8), now)

    assert first == again
    assert reasons == generate_reasons(7)
    assert [c["id"] for c in shifted] == [c["id"] for c in first]
    assert [c["detail"] for c in shifted] == [c["detail"] for c in first]
    assert parse(shifted[0]["created_at"]) - parse(first[0]["created_at"]) == timedelta(days=10)
    assert not {c["id"] for c in other} & {c["id"] for c in first}


def test_the_served_claims_are_the_generated_ones(sandbox):
    generated = generate_claims(300, 7, generate_reasons(7), datetime.now(UTC))
    served = {c["id"]: c for c in every_claim(sandbox)}

    def undated(claim):
        return {k: v for k, v in claim.items() if k not in ("created_at", "updated_at")}

    assert {c["id"] for c in generated} == set(served)
    for claim in generated:
        assert undated(served[claim["id"]]) == undated(claim)


def test_a_sandbox_with_the_same_seed_serves_the_same_claims(sandbox):
    other = Sandbox(api_key="other-key", claims=300, seed=7)

    assert sorted(c["id"] for c in other.find_claims()) == sorted(
        c["id"] for c in sandbox.find_claims()
    )
    assert Sandbox(api_key="k", claims=5, seed=8).find_claims()[0]["id"] not in {
        c["id"] for c in sandbox.find_claims()
    }


def test_claim_returns_a_copy(sandbox):
    claim_id = waiting_id(sandbox)
    copy = sandbox.claim(claim_id)
    copy["status"] = "approved"
    copy["reason"] = None

    assert sandbox.claim(claim_id)["status"] == "waiting"
    with pytest.raises(KeyError):
        sandbox.claim("00000000-0000-4000-8000-000000000000")


def test_update_claim_changes_the_served_payload(sandbox):
    claim_id = waiting_id(sandbox)
    before = sandbox.claim(claim_id)

    after = sandbox.update_claim(claim_id, status="escalated", courier_note="Kapıya bırakıldı")

    assert after["status"] == "escalated"
    assert after["courier_note"] == "Kapıya bırakıldı"
    assert parse(after["updated_at"]) > parse(before["updated_at"])
    assert after["created_at"] == before["created_at"]
    assert every_claim(sandbox, status="escalated") == [after]
    assert every_claim(sandbox, updated_at__gte=after["updated_at"]) == [after]


def test_update_claim_can_set_the_dates(sandbox):
    claim_id = waiting_id(sandbox)
    moment = datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)

    after = sandbox.update_claim(claim_id, created_at=moment, updated_at="2026-02-04T00:00:00Z")

    assert (after["created_at"], after["updated_at"]) == (
        "2026-02-03T04:05:06.789Z",
        "2026-02-04T00:00:00.000Z",
    )
    assert every_claim(sandbox)[0] == after  # the oldest now


def test_add_claims_creates_new_waiting_claims(sandbox):
    before = datetime.now(UTC) - timedelta(seconds=1)

    added = sandbox.add_claims(20)

    assert len(added) == 20
    assert get(sandbox, "/i2/claims/").json()["count"] == 320
    assert sum(c["status"] == "waiting" for c in added) >= 10
    assert {c["status"] for c in added} <= {"waiting", "open"}
    for claim in added:
        assert parse(claim["created_at"]) >= before
        assert sandbox.claim(claim["id"]) == claim
    assert every_claim(sandbox)[-20:] == sorted(added, key=lambda c: (c["created_at"], c["id"]))


def test_remove_claim_makes_it_disappear(sandbox):
    claim_id = waiting_id(sandbox)

    sandbox.remove_claim(claim_id)

    assert claim_id not in {c["id"] for c in every_claim(sandbox)}
    assert post(sandbox, f"/i2/claims/{claim_id}/approve/").status_code == 404


def test_tick_moves_the_marketplace_along(sandbox):
    before = {c["id"]: c for c in every_claim(sandbox)}

    for _ in range(10):
        sandbox.tick()

    after = {c["id"]: c for c in every_claim(sandbox)}
    assert 310 <= len(after) <= 330
    assert set(before) < set(after)
    moves = {
        (before[i]["status"], after[i]["status"])
        for i in before
        if before[i]["status"] != after[i]["status"]
    }
    assert moves
    assert moves <= {("open", "waiting"), ("approved", "completed"), ("waiting", "cancelled")}
    for claim_id in before:
        if after[claim_id] != before[claim_id]:
            assert after[claim_id]["updated_at"] > before[claim_id]["updated_at"]


def test_reset_restores_the_generated_data(sandbox):
    original = every_claim(sandbox)
    post(sandbox, f"/i2/claims/{waiting_id(sandbox)}/approve/")
    sandbox.add_claims(3)
    sandbox.update_claim(waiting_id(sandbox), detail="changed")
    sandbox.faults.fail_next(5)
    sandbox.faults.latency = 2

    sandbox.reset()

    assert sandbox.faults.pending == 0
    assert sandbox.faults.latency == 0
    assert sandbox.requests == []
    assert every_claim(sandbox) == original
    # The stream of new claims starts over too.
    first = [c["id"] for c in sandbox.add_claims(2)]
    sandbox.reset()
    assert [c["id"] for c in sandbox.add_claims(2)] == first


# ----------------------------------------------------------------------- faults


def test_fail_next_answers_the_next_requests_with_the_error(sandbox):
    sandbox.faults.fail_next(2, status=500, body=b"<h1>Server Error</h1>")

    first = get(sandbox, "/i2/claims/")
    second = get(sandbox, "/i2/claim-reasons/")
    third = get(sandbox, "/i2/claims/")

    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    assert first.text == "<h1>Server Error</h1>"
    assert first.headers["Content-Type"] == "text/html"


def test_fail_next_with_an_empty_body(sandbox):
    sandbox.faults.fail_next(status=503)

    response = get(sandbox, "/i2/claims/")

    assert response.status_code == 503
    assert response.content == b""


def test_fail_next_only_for_matching_paths(sandbox):
    claim_id = waiting_id(sandbox)
    sandbox.faults.fail_next(status=502, path_contains="/approve/")

    listing = get(sandbox, "/i2/claims/")
    approve = post(sandbox, f"/i2/claims/{claim_id}/approve/")
    again = post(sandbox, f"/i2/claims/{claim_id}/approve/")

    assert (listing.status_code, approve.status_code, again.status_code) == (200, 502, 204)


def test_a_failed_decision_is_not_applied(sandbox):
    claim_id = waiting_id(sandbox)
    sandbox.faults.fail_next(status=502, path_contains=claim_id)

    assert post(sandbox, f"/i2/claims/{claim_id}/approve/").status_code == 502
    assert sandbox.claim(claim_id)["status"] == "waiting"


@pytest.mark.parametrize(("verb", "status"), [("approve", "approved"), ("reject", "rejected")])
def test_after_apply_applies_the_decision_then_fails(sandbox, verb, status):
    claim_id = waiting_id(sandbox)
    sandbox.faults.fail_next(status=502, body=b"Bad Gateway", after_apply=True)

    response = post(sandbox, f"/i2/claims/{claim_id}/{verb}/", json={"reason": "Kullanılmış"})

    assert response.status_code == 502
    assert response.text == "Bad Gateway"
    assert sandbox.claim(claim_id)["status"] == status


def test_rate_limit_next_sends_retry_after(sandbox):
    sandbox.faults.rate_limit_next(1, retry_after=3)

    limited = get(sandbox, "/i2/claims/")
    then = get(sandbox, "/i2/claims/")

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.json()["code"] == "throttled"
    assert then.status_code == 200


def test_rate_limit_next_can_be_a_503(sandbox):
    sandbox.faults.rate_limit_next(retry_after=1, status=503)

    response = get(sandbox, "/i2/claims/")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Maintenance</body></html>", "text/html"),
        (b'{"count": 300, "next": null, "results": [{"id": "', "application/json"),
        (b'{"count": 1, "next": null, "previous": null, "results": [42]}', "application/json"),
    ],
)
def test_respond_next_sends_the_canned_body(sandbox, body, content_type):
    sandbox.faults.respond_next(body=body, content_type=content_type)

    response = get(sandbox, "/i2/claims/")

    assert response.status_code == 200
    assert response.content == body
    assert response.headers["Content-Type"] == content_type
    assert get(sandbox, "/i2/claims/").json()["count"] == 300


def test_respond_next_with_a_large_body(sandbox):
    body = b"[" + b"1," * (5 * 2**20) + b"1]"
    sandbox.faults.respond_next(body=body)

    response = get(sandbox, "/i2/claims/")

    assert len(response.content) == len(body) > 10 * 2**20


def test_respond_next_can_drip_the_body(sandbox):
    body = json.dumps({"count": 0, "next": None, "previous": None, "results": []}).encode()
    sandbox.faults.respond_next(body=body, drip_bytes_per_second=2000, path_contains="reasons")

    response = get(sandbox, "/i2/claim-reasons/")

    assert response.content == body


def test_a_dripping_body_is_not_bounded_by_a_read_timeout(sandbox):
    # Every read gets a few bytes well within the timeout, so the client's read timeout
    # never fires however long the whole body takes: only a total deadline stops it.
    body = b"x" * 300
    sandbox.faults.respond_next(body=body, drip_bytes_per_second=1000)

    assert get(sandbox, "/i2/claims/", timeout=0.2).content == body


def test_delay_next_forces_a_read_timeout(sandbox):
    sandbox.faults.delay_next(1, seconds=1.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        get(sandbox, "/i2/claims/", timeout=0.2)
    assert get(sandbox, "/i2/claims/").status_code == 200


def test_a_delayed_request_is_then_handled_normally(sandbox):
    claim_id = waiting_id(sandbox)
    sandbox.faults.delay_next(seconds=0.05, path_contains="/approve/")

    assert post(sandbox, f"/i2/claims/{claim_id}/approve/").status_code == 204
    assert sandbox.claim(claim_id)["status"] == "approved"


def test_a_decision_delayed_past_the_client_timeout_still_lands(sandbox):
    claim_id = waiting_id(sandbox)
    sandbox.faults.delay_next(seconds=0.5, path_contains="/approve/")

    with pytest.raises(requests.exceptions.ReadTimeout):
        post(sandbox, f"/i2/claims/{claim_id}/approve/", timeout=0.1)

    assert wait_for(lambda: sandbox.claim(claim_id)["status"] == "approved")


def test_latency_applies_to_every_request_until_cleared(sandbox):
    sandbox.faults.latency = 1.0

    for _ in range(2):
        with pytest.raises(requests.exceptions.ReadTimeout):
            get(sandbox, "/i2/claims/", timeout=0.2)
    sandbox.faults.latency = 0

    assert get(sandbox, "/i2/claims/").status_code == 200


def test_faults_are_used_in_order(sandbox):
    sandbox.faults.fail_next(status=500)
    sandbox.faults.rate_limit_next()
    sandbox.faults.respond_next(status=418, body=b"teapot", content_type="text/plain")

    statuses = [get(sandbox, "/i2/claims/").status_code for _ in range(4)]

    assert statuses == [500, 429, 418, 200]


def test_clear_drops_every_fault(sandbox):
    sandbox.faults.fail_next(3)
    sandbox.faults.delay_next(3, seconds=5)
    sandbox.faults.latency = 5

    sandbox.faults.clear()

    assert get(sandbox, "/i2/claims/", timeout=2).status_code == 200


# ------------------------------------------------------------------ request log


def test_every_request_is_recorded(sandbox):
    claim_id = waiting_id(sandbox)
    get(sandbox, "/i2/claims/", status="waiting", limit=5)
    post(sandbox, f"/i2/claims/{claim_id}/reject/", json={"reason": "Eksik parça"})
    get(sandbox, "/no/such/path/", headers={})

    listing, reject, unknown = sandbox.requests

    assert isinstance(listing, RecordedRequest)
    assert (listing.method, listing.path) == ("GET", "/api/i2/claims/")
    assert listing.query == {"status": "waiting", "limit": "5"}
    assert listing.headers["authorization"] == KEY  # header names ignore case
    assert listing.headers["Authorization"] == KEY
    assert listing.at.tzinfo is not None
    assert (reject.method, reject.path) == ("POST", f"/api/i2/claims/{claim_id}/reject/")
    assert json.loads(reject.body) == {"reason": "Eksik parça"}
    assert reject.json() == {"reason": "Eksik parça"}
    assert unknown.path == "/api/no/such/path/"
    assert "Authorization" not in unknown.headers


def test_failed_requests_are_recorded_too(sandbox):
    sandbox.faults.fail_next(status=500)

    get(sandbox, "/i2/claims/")

    assert len(sandbox.requests) == 1


def test_the_recorded_key_is_hidden_from_reprs(sandbox):
    get(sandbox, "/i2/claims/")

    assert KEY not in repr(sandbox.requests[0])


# ------------------------------------------------------------ lifecycle, command


def test_a_sandbox_starts_on_a_free_port_and_stops():
    with Sandbox(api_key="k", claims=3, seed=1) as other:
        url = other.url
        assert requests.get(f"{url}/i2/claims/", headers={"Authorization": "k"}, timeout=5).ok

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{url}/i2/claims/", headers={"Authorization": "k"}, timeout=5)
    with pytest.raises(RuntimeError):
        Sandbox(api_key="k", claims=0).url  # noqa: B018


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])  # noqa: S104
def test_the_command_refuses_a_non_loopback_host(host):
    with pytest.raises(CommandError, match="loopback"):
        call_command("sandbox", host=host, port=0)


def test_the_command_serves_until_terminated():
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SECRET_KEY": "test", "SANDBOX_API_KEY": "command-key"}
    child = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", "--port=0", "--claims=25", "--seed=3"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/api", line).group(0)
        response = requests.get(
            f"{url}/i2/claims/", headers={"Authorization": "command-key"}, timeout=5
        )
        assert response.json()["count"] == 25
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert child.returncode == 0, err
    assert "stopped" in out
    assert "command-key" not in line + out + err
