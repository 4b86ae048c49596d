"""Queue benchmark: server time and SQL queries per request for the queue and the detail pane
over a cache of N claims, next to the Django admin's changelist of the same model and filter.

    .venv/bin/python bench/queue.py [--claims 100000] [--requests 200]

Runs against its own database (claimdesk_bench_queue), dropped and filled at the start: claims
generated as the sandbox makes them, stored by the sync's own upsert, a tenth of them changed
once more so claims have history. Requests go through Django's test client in this process,
with the whole middleware stack, a signed-in session and template rendering, so "server time"
is everything but the network.
"""

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

from benchsetup import recreate_database, setup_django

BENCH_DB = "claimdesk_bench_queue"
BATCH = 2000
P95_TARGET_MS = 30
ADMIN_RATIO_TARGET = 3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    args = parser.parse_args()

    prepare_database()
    setup_django()
    started = time.perf_counter()
    fill_cache(args.claims)
    print(f"{args.claims} claims cached in {time.perf_counter() - started:.1f} s; 2-core machine")
    load_before = os.getloadavg()[0]
    results = measure_all(args.requests)
    print_table(results)
    # Other work on the machine stretches every figure; the load says how much there was.
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print_verdict(results)


# ------------------------------------------------------------------ set-up


def prepare_database():
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
            "SECRET_KEY": "bench-only",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    recreate_database(BENCH_DB)


def fill_cache(count):
    from django.db import connection
    from django.utils import timezone

    from claims.models import SyncState
    from claims.sandbox import generate_claims, generate_reasons
    from claims.seller_center import parse_claim, parse_reason
    from claims.sync import store_claims, store_reasons

    reasons = generate_reasons(seed=7)
    store_reasons([parse_reason(reason) for reason in reasons])
    payloads = generate_claims(count, seed=7, reasons=reasons, now=datetime.now(UTC))
    for start in range(0, count, BATCH):
        store_claims([parse_claim(payload) for payload in payloads[start : start + BATCH]])
    # A tenth change once more, so the detail pane has history to show.
    changed = [
        {**payload, "status": "completed", "updated_at": payload["updated_at"]}
        for payload in payloads[::10]
    ]
    for start in range(0, len(changed), BATCH):
        store_claims([parse_claim(payload) for payload in changed[start : start + BATCH]])
    now = timezone.now()
    for name in ("reasons", "claims"):
        SyncState.objects.update_or_create(
            name=name, defaults={"outcome": "ok", "last_success_at": now, "finished_at": now}
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# ------------------------------------------------------------------ cases


def cases():
    """(label, URL, user, extra headers) for each kind of request measured."""
    from claims.models import Claim

    htmx = {"HTTP_HX_REQUEST": "true"}
    fragment = "hoody-bl"
    details = [
        f"/claims/{pk}/"
        for pk in Claim.objects.filter(status="waiting").values_list("pk", flat=True)[:50]
    ]
    filtered = "status=waiting&type=refund"
    results = {**htmx, "HTTP_HX_TARGET": "queue-results"}
    return [
        ("queue, first page (25)", ["/"], "agent", {}),
        ("queue, first page, counts not cached", ["/"], "agent", {"uncached": True}),
        ("queue, 100 per page", ["/?per_page=100"], "agent", {}),
        ("queue, rows partial (poll)", ["/"], "agent", results),
        (f"queue, {filtered} (htmx)", [f"/?{filtered}"], "agent", results),
        (
            f"queue, {filtered}, q={fragment} (htmx)",
            [f"/?{filtered}&q={fragment}"],
            "agent",
            results,
        ),
        (f"queue, {filtered}, 100 per page", [f"/?{filtered}&per_page=100"], "agent", {}),
        ("detail pane (htmx)", details, "agent", htmx),
        (
            f"admin changelist, {filtered}, 100 per page",
            [f"/admin/claims/claim/?{filtered}"],
            "admin",
            {},
        ),
    ]


def client_for(role):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from claims import roles

    User = get_user_model()
    user, _ = User.objects.get_or_create(username=f"bench-{role}")
    if role == "admin":
        user.is_staff = user.is_superuser = True
        user.save()
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


class Case:
    """One kind of request: its URLs (taken in turn), a signed-in client and its headers."""

    def __init__(self, label, urls, role, headers):
        self.label, self.urls, self.headers = label, urls, dict(headers)
        # Forgetting the cached status counts is what a change to the claims does.
        uncached = self.headers.pop("uncached", False)
        self.before = (lambda: forget_counts(urls[0])) if uncached else (lambda: None)
        self.client = client_for(role)
        self.timings = []

    def request(self, index):
        self.before()
        started = time.perf_counter()
        response = self.client.get(self.urls[index % len(self.urls)], **self.headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{self.label}: HTTP {response.status_code}")
        return elapsed

    def queries(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            self.request(0)
        return len(captured)


def forget_counts(url):
    from django.http import QueryDict

    from claims import queries
    from claims.forms import QueueFilterForm

    query = url.partition("?")[2]
    queries.forget_counts(QueueFilterForm(QueryDict(query)).filters())


def measure_all(requests):
    """Every case in turn, round after round, so a burst of load elsewhere on the machine
    falls on all of them alike and their ratios stay fair."""
    measured = [Case(*case) for case in cases()]
    for index in range(10):
        for case in measured:
            case.request(index)
    for index in range(requests):
        for case in measured:
            case.timings.append(case.request(index))
    return [
        {
            "label": case.label,
            "median": statistics.median(case.timings),
            "p95": statistics.quantiles(case.timings, n=20)[-1],
            "queries": case.queries(),
        }
        for case in measured
    ]


# ------------------------------------------------------------------ report


def print_table(results):
    print(f"{'request':<52}{'median ms':>10}{'p95 ms':>9}{'queries':>9}")
    for r in results:
        print(f"{r['label']:<52}{r['median']:>10.1f}{r['p95']:>9.1f}{r['queries']:>9}")


def print_verdict(results):
    by_label = {r["label"]: r for r in results}
    # The aim covers what a person waits for at the default page size, in steady state.
    ours = [
        r for r in results if "100 per page" not in r["label"] and "not cached" not in r["label"]
    ]
    ours = [r for r in ours if not r["label"].startswith("admin")]
    admin = next(r for r in results if r["label"].startswith("admin"))
    same_filter = by_label["queue, status=waiting&type=refund, 100 per page"]
    worst = max(ours, key=lambda r: r["p95"])
    ratio = admin["median"] / same_filter["median"]
    per_page = (
        by_label["queue, first page (25)"]["queries"],
        by_label["queue, 100 per page"]["queries"],
    )
    print(
        f"slowest p95: {worst['p95']:.1f} ms ({worst['label']}); "
        f"target under {P95_TARGET_MS} ms: {'met' if worst['p95'] < P95_TARGET_MS else 'MISSED'}"
    )
    print(
        f"admin changelist vs queue, same filter, 100 rows each: {ratio:.1f}x slower; "
        f"target {ADMIN_RATIO_TARGET}x: {'met' if ratio >= ADMIN_RATIO_TARGET else 'MISSED'}"
    )
    print(
        f"queries at 25 and 100 per page: {per_page[0]} and {per_page[1]}; "
        f"{'constant' if per_page[0] == per_page[1] else 'GROWS'}"
    )


if __name__ == "__main__":
    main()
