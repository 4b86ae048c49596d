"""Every URL pattern of the project, asked by every role with every method, against one table.

A URL pattern without a row in EXPECTED fails the test: a new view gets its row in the same
change. The Django admin checks its own pages; only its index is asked here, to show that
roles.py decides who gets in.
"""

import re
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from claims import refresh
from claims.models import BulkRun, CannedReason, Claim
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "viewer", "agent", "lead", "admin")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Besides status codes, the table speaks of two redirects by where they go.
SIGN_IN = "sign-in"  # 302 to ClaimDesk's sign-in page
ADMIN_SIGN_IN = "admin sign-in"  # 302 to the Django admin's sign-in page

# Answers for (anonymous, viewer, agent, lead, admin).
S = SIGN_IN
SIGNED_IN_ONLY_405 = (S, 405, 405, 405, 405)
EVERYONE_405 = (405, 405, 405, 405, 405)

# One row per URL pattern, by name ("namespace:name"), or by route for a pattern without a
# name. Each row maps a method to the answers; "*" covers every method the row leaves out.
# Requests carry no form data and no htmx headers; URL arguments come from SAMPLES.
EXPECTED = {
    # Sign-in: signed-in members are sent on to the queue.
    "login": {"GET": (200, 302, 302, 302, 302), "POST": (200, 302, 302, 302, 302),
              "PUT": (200, 302, 302, 302, 302), "*": (405, 302, 302, 302, 302)},
    "logout": {"POST": (S, S, S, S, S), "*": EVERYONE_405},
    "admin:index": {"*": (ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, 200)},
    # Probes: open to all, reading only; the metrics answer only when METRICS_ENABLED.
    "healthz": {"GET": (200, 200, 200, 200, 200), "*": EVERYONE_405},
    "metrics": {"GET": (404, 404, 404, 404, 404), "*": EVERYONE_405},
    # The queue and a claim: everyone signed in sees them; deciders decide.
    "claims:queue": {"GET": (S, 200, 200, 200, 200), "*": SIGNED_IN_ONLY_405},
    "claims:detail": {"GET": (S, 200, 200, 200, 200), "*": SIGNED_IN_ONLY_405},
    "claims:approve": {"POST": (S, 403, 302, 302, 302), "*": SIGNED_IN_ONLY_405},
    "claims:reject": {"POST": (S, 403, 422, 422, 422), "*": SIGNED_IN_ONLY_405},
    "claims:freshness": {"GET": (S, 200, 200, 200, 200), "*": SIGNED_IN_ONLY_405},
    "claims:refresh": {"POST": (S, 403, 302, 302, 302), "*": SIGNED_IN_ONLY_405},
    # Saved rejection reasons: leads and admins keep the list.
    "claims:canned_reasons": {"GET": (S, 403, 403, 200, 200), "POST": (S, 403, 403, 422, 422),
                              "*": SIGNED_IN_ONLY_405},
    "claims:delete_reason": {"POST": (S, 403, 403, 302, 302), "*": SIGNED_IN_ONLY_405},
    # Bulk decisions: leads and admins.
    "claims:bulk_runs": {"GET": (S, 403, 403, 200, 200), "*": SIGNED_IN_ONLY_405},
    "claims:bulk_start": {"POST": (S, 403, 403, 422, 422), "*": SIGNED_IN_ONLY_405},
    "claims:bulk_run": {"GET": (S, 403, 403, 200, 200), "*": SIGNED_IN_ONLY_405},
    # The team: leads and admins.
    "team:members": {"GET": (S, 403, 403, 200, 200), "*": SIGNED_IN_ONLY_405},
    "team:add": {"GET": (S, 403, 403, 200, 200), "POST": (S, 403, 403, 422, 422),
                 "*": SIGNED_IN_ONLY_405},
    "team:role": {"POST": (S, 403, 403, 302, 302), "*": SIGNED_IN_ONLY_405},
    "team:deactivate": {"POST": (S, 403, 403, 302, 302), "*": SIGNED_IN_ONLY_405},
    "team:reactivate": {"POST": (S, 403, 403, 302, 302), "*": SIGNED_IN_ONLY_405},
    # The audit: everyone signed in sees it (leads and admins everything, others their own).
    "audit:events": {"GET": (S, 200, 200, 200, 200), "*": SIGNED_IN_ONLY_405},
    "audit:export": {"GET": (S, 200, 200, 200, 200), "*": SIGNED_IN_ONLY_405},
    # Reports: leads and admins.
    "reports:index": {"GET": (S, 403, 403, 200, 200), "*": SIGNED_IN_ONLY_405},
    "reports:export": {"GET": (S, 403, 403, 200, 200), "*": SIGNED_IN_ONLY_405},
    # Each member's own preferences: language and time zone.
    "preferences:edit": {"GET": (S, 200, 200, 200, 200), "POST": (S, 422, 422, 422, 422),
                         "*": SIGNED_IN_ONLY_405},
    "preferences:language": {"POST": (S, 302, 302, 302, 302), "*": SIGNED_IN_ONLY_405},
    # A new member's set-password link is open to all: its token is the check.
    "team:set_password": {"GET": (200, 200, 200, 200, 200), "POST": (200, 200, 200, 200, 200),
                          "*": EVERYONE_405},
}  # fmt: skip

# A value for each URL argument name the project uses, made from the `world` fixture.
SAMPLES = {
    "claim_id": lambda world: world.claim.pk,
    "member_id": lambda world: world.colleague.pk,
    "reason_id": lambda world: world.reason.pk,
    "run_id": lambda world: world.bulk_run.pk,
    "table": lambda world: "opened",
    "uidb64": lambda world: "MA",
    "token": lambda world: "not-a-token",
}


@dataclass(frozen=True)
class Pattern:
    key: str
    route: str
    name: str | None
    arguments: tuple[str, ...]


@dataclass(frozen=True)
class World:
    members: dict
    claim: Claim
    colleague: object
    reason: CannedReason
    bulk_run: BulkRun


def project_patterns(resolver=None, route="", namespace=""):
    """Every URL pattern, but the Django admin's own pages beyond its index and static files."""
    for entry in (resolver or get_resolver()).url_patterns:
        here = route + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace]))
            yield from project_patterns(entry, here, inner)
            continue
        name = ":".join([namespace, entry.name]) if namespace and entry.name else entry.name
        if _skipped(namespace, name, here):
            continue
        arguments = tuple(entry.pattern.regex.groupindex)
        yield Pattern(name or here, here, name, arguments)


def _skipped(namespace, name, route):
    is_admin_internal = namespace.split(":")[0] == "admin" and name != "admin:index"
    return is_admin_internal or route.startswith(settings.STATIC_URL.lstrip("/"))


def rows_missing(patterns):
    return [pattern for pattern in patterns if pattern.key not in EXPECTED]


def missing_rows_message(missing):
    return "\n".join(
        f"URL pattern {p.key!r} (route {p.route!r}) has no row in EXPECTED in "
        "tests/test_access.py: add one with the answer each role gets for each method."
        for p in missing
    )


def expected_answer(pattern, method, role):
    row = EXPECTED[pattern.key]
    return row.get(method, row.get("*"))[ROLES.index(role)]


def url_of(pattern, world):
    kwargs = {argument: SAMPLES[argument](world) for argument in pattern.arguments}
    if pattern.name:
        return reverse(pattern.name, kwargs=kwargs)
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), pattern.route)


def answer_to(method, url, user):
    """The answer, as the table writes it; everything the request changed is rolled back."""
    client = Client(raise_request_exception=False)
    with transaction.atomic():
        if user is not None:
            client.force_login(user)
        response = client.generic(method, url)
        transaction.set_rollback(True)
    # A refresh syncs in a thread of its own, with its own connection; let it finish first.
    refresh.wait(timeout=30)
    if response.status_code == 302:
        where = response["Location"].split("?")[0]
        if where == reverse("login"):
            return SIGN_IN
        if where == reverse("admin:login"):
            return ADMIN_SIGN_IN
    return response.status_code


@pytest.fixture
def world(member, sandbox):
    sync_everything()
    members = {role: member(role) for role in ROLES[1:]}
    members["anonymous"] = None
    return World(
        members=members,
        claim=Claim.objects.filter(status="waiting").order_by("created_at", "id").first(),
        colleague=member("agent", username="colleague"),
        reason=CannedReason.objects.create(text="Item was used."),
        bulk_run=BulkRun.objects.create(
            actor=members["lead"], action="approve", created_at=timezone.now()
        ),
    )


# Transactional, so what a refresh's thread commits is cleared away after the test.
@pytest.mark.django_db(transaction=True)
def test_every_url_pattern_answers_every_role_and_method_as_the_table_says(world):
    patterns = list(project_patterns())

    assert not rows_missing(patterns), missing_rows_message(rows_missing(patterns))
    stale = set(EXPECTED) - {p.key for p in patterns}
    assert not stale, f"EXPECTED has rows for URL patterns that no longer exist: {stale}"
    unknown = {a for p in patterns for a in p.arguments} - set(SAMPLES)
    assert not unknown, f"URL arguments with no value in SAMPLES: {unknown}"

    wrong = []
    for pattern in patterns:
        url = url_of(pattern, world)
        for method in METHODS:
            for role in ROLES:
                expected = expected_answer(pattern, method, role)
                got = answer_to(method, url, world.members[role])
                if got != expected:
                    wrong.append(
                        f"{pattern.key} {method} as {role}: expected {expected}, got {got}"
                    )
    assert not wrong, f"{len(wrong)} answers differ from EXPECTED:\n" + "\n".join(wrong)


def test_a_url_pattern_without_a_row_is_named_in_the_failure(monkeypatch):
    # Other views may be waiting for their rows; only the one taken out here counts.
    already = {pattern.key for pattern in rows_missing(project_patterns())}
    monkeypatch.delitem(EXPECTED, "team:add")

    missing = [p for p in rows_missing(project_patterns()) if p.key not in already]

    assert [p.key for p in missing] == ["team:add"]
    assert missing_rows_message(missing) == (
        "URL pattern 'team:add' (route 'team/add/') has no row in EXPECTED in "
        "tests/test_access.py: add one with the answer each role gets for each method."
    )
