"""Random input thrown at every form and filter: whatever arrives, no answer is a server error.

Hypothesis makes the query strings and form bodies: the fields each view knows, mixed with
names it does not, holding text, numbers, dates near the ends of the calendar, NUL, markup,
URLs of every scheme and values far too long. Each view is asked through Django's test client
as a member allowed to use it, and a streamed answer (CSV) is read to its end.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.audit_forms import AuditFilterForm
from claims.bulk_forms import BulkDecisionForm
from claims.forms import QueueFilterForm
from claims.models import Claim
from claims.reports import REPORT_KEYS
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

TRICKY = [
    "",
    " ",
    "0",
    "-1",
    "1e9",
    "NaN",
    "all",
    "waiting",
    "refund",
    "approve",
    "reject",
    "selected",
    "matching",
    "agent",
    "admin",
    "9999-12-31",
    "0001-01-01",
    "2025-02-30",
    "2025-05-22",
    "\x00",
    "'",
    '"',
    "%",
    "../",
    "<script>alert(1)</script>",
    '<div hx-get="/logout/" hx-trigger="load">',
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://127.0.0.1/e.png",
    "https://127.0.0.1/" + "e" * 1990,
    "x" * 5000,
    str(uuid.UUID(int=0)),
    "99999999999999999999999",
    "ops@example.com",
    "status=waiting&type=refund",
    "İı",
]
VALUES = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=40),
    st.integers(-(10**25), 10**25).map(str),
    st.dates().map(str),
)
HTMX_TARGETS = st.sampled_from([None, "queue", "queue-results", "detail-pane", "audit-results"])
RANDOM = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fields_of(form_class):
    return sorted(form_class.base_fields)


def pairs(names):
    """A form body or query string: known and unknown names, some repeated, any values."""
    keys = st.one_of(st.sampled_from(names), st.text(min_size=1, max_size=12))
    return st.lists(st.tuples(keys, VALUES), max_size=10)


@dataclass(frozen=True)
class Target:
    name: str
    method: str
    url: object  # the World -> the URL
    fields: list
    about_a_claim: bool = False


@dataclass(frozen=True)
class World:
    claim: Claim | None
    colleague: object


TARGETS = [
    Target("queue", "get", lambda w: reverse("claims:queue"), fields_of(QueueFilterForm)),
    Target(
        "detail",
        "get",
        lambda w: reverse("claims:detail", args=[w.claim.pk]),
        fields_of(QueueFilterForm),
        about_a_claim=True,
    ),
    Target(
        "audit",
        "get",
        lambda w: reverse("audit:events"),
        [*fields_of(AuditFilterForm), "person"],
    ),
    Target("audit export", "get", lambda w: reverse("audit:export"), fields_of(AuditFilterForm)),
    Target("reports", "get", lambda w: reverse("reports:index"), ["start", "end"]),
    Target(
        "report export",
        "get",
        lambda w: reverse("reports:export", args=[REPORT_KEYS[0]]),
        ["start", "end"],
    ),
    Target(
        "approve",
        "post",
        lambda w: reverse("claims:approve", args=[w.claim.pk]),
        fields_of(QueueFilterForm),
        about_a_claim=True,
    ),
    Target(
        "reject",
        "post",
        lambda w: reverse("claims:reject", args=[w.claim.pk]),
        ["reason", "images", *fields_of(QueueFilterForm)],
        about_a_claim=True,
    ),
    Target("saved reasons", "post", lambda w: reverse("claims:canned_reasons"), ["text"]),
    Target("bulk", "post", lambda w: reverse("claims:bulk_start"), fields_of(BulkDecisionForm)),
    Target(
        "team add",
        "post",
        lambda w: reverse("team:add"),
        ["email", "first_name", "last_name", "role"],
    ),
    Target("team role", "post", lambda w: reverse("team:role", args=[w.colleague.pk]), ["role"]),
]


def world_for(target, request, member):
    """What the target's URL names; a sync only for the views about one claim."""
    claim = None
    if target.about_a_claim:
        request.getfixturevalue("sandbox")
        sync_everything()
        claim = Claim.objects.filter(status="waiting").order_by("created_at", "id").first()
    return World(claim=claim, colleague=member("agent", username="colleague@example.com"))


@pytest.fixture
def admin_client(member):
    client = Client(raise_request_exception=False)
    client.force_login(member("admin"))
    return client


def ask(client, method, url, body, target):
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target} if target else {}
    encoded = urlencode(body)
    if method == "get":
        response = client.get(f"{url}?{encoded}", **headers)
    else:
        form = "application/x-www-form-urlencoded"
        response = client.post(url, encoded, content_type=form, **headers)
    if response.streaming:
        b"".join(response.streaming_content)
    return response


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_random_input_to_a_view_never_makes_a_server_error(request, member, admin_client, target):
    url = target.url(world_for(target, request, member))

    @RANDOM
    @given(body=pairs(target.fields), htmx_target=HTMX_TARGETS)
    def no_server_error(body, htmx_target):
        response = ask(admin_client, target.method, url, body, htmx_target)
        assert response.status_code < 500, (target.name, body, htmx_target)

    no_server_error()


def test_random_sign_ins_never_make_a_server_error(member, settings):
    # A quick hasher: each sign-in checks a password, even for a username nobody has.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    member("agent", username="ops@example.com")
    client = Client(raise_request_exception=False)

    @RANDOM
    @given(body=pairs(["username", "password", "next"]))
    def no_server_error(body):
        response = ask(client, "post", reverse("login"), body, None)
        assert response.status_code < 500, body

    no_server_error()
