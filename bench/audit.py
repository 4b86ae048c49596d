"""Audit benchmark: server time and SQL queries for the audit page over a million events,
unfiltered, deep and filtered, then a filtered and a whole CSV export and `verify_audit`.

    .venv/bin/python bench/audit.py [--events 1000000] [--requests 50] [--skip-full-export]
                                    [--keep]

Runs against its own database (claimdesk_bench_audit), dropped and filled at the start
(`--keep` measures a database an earlier run filled):
claims as the sandbox makes them through the sync's own upsert, then events written with COPY,
each hashed into the chain as `audit.record` would, over a year, by forty agents and a lead.
Requests go through Django's test client in this process, with the whole middleware stack, a
signed-in session and template rendering, so "server time" is everything but the network.
"""

import argparse
import io
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchsetup import recreate_database, setup_django

BENCH_DB = "claimdesk_bench_audit"
CLAIMS = 20_000
AGENTS = 40
COPY_BATCH = 50_000
MEDIAN_TARGET_MS = 100
SQL_TARGET_MS = 25


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per case")
    parser.add_argument("--skip-full-export", action="store_true")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's database")
    args = parser.parse_args()

    prepare_database(keep=args.keep)
    setup_django()
    if args.keep:
        people, claims = existing_people(), existing_claims()
    else:
        started = time.perf_counter()
        people = make_people()
        claims = fill_claims()
        fill_events(args.events, people, claims)
        seconds = time.perf_counter() - started
        print(f"{args.events} events stored in {seconds:.0f} s; 2-core machine")
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    results = measure_all(cases(people, claims), args.requests, people)
    print_table(results)
    measure_export("CSV export, one agent's failed decisions", people, {"outcome": "failed"})
    measure_export("CSV export, one agent, all of it", people, {})
    if not args.skip_full_export:
        measure_export("CSV export, every event", None, {})
    measure_verify()
    print_verdict(results)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


# ------------------------------------------------------------------ set-up


def prepare_database(keep=False):
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
    if keep:
        return
    recreate_database(BENCH_DB)


def make_people():
    from django.contrib.auth import get_user_model

    from claims import roles

    User = get_user_model()
    people = {"lead": User.objects.create(username="bench-lead")}
    roles.set_role(people["lead"], "lead")
    people["agents"] = []
    for number in range(AGENTS):
        agent = User.objects.create(username=f"bench-agent-{number}", first_name=f"Agent {number}")
        roles.set_role(agent, "agent")
        people["agents"].append(agent)
    return people


def existing_people():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    agents = User.objects.filter(username__startswith="bench-agent-").order_by("id")
    return {"lead": User.objects.get(username="bench-lead"), "agents": list(agents)}


def existing_claims():
    from claims.models import Claim

    return list(Claim.objects.order_by("created_at", "id").values_list("id", "return_code"))


def fill_claims():
    from claims.models import Claim
    from claims.sandbox import generate_claims, generate_reasons
    from claims.seller_center import parse_claim, parse_reason
    from claims.sync import store_claims, store_reasons

    reasons = generate_reasons(seed=11)
    store_reasons([parse_reason(reason) for reason in reasons])
    payloads = generate_claims(CLAIMS, seed=11, reasons=reasons, now=datetime.now(UTC))
    for start in range(0, CLAIMS, 2000):
        store_claims([parse_claim(payload) for payload in payloads[start : start + 2000]])
    return list(Claim.objects.values_list("id", "return_code"))


def fill_events(count, people, claims):
    """COPY `count` events, oldest first, hashed in order exactly as audit.record hashes."""
    from django.db import connection

    from claims import audit

    columns = ["hash", *audit.CHAINED_FIELDS]
    json_columns = {"images", "details"}
    rng = random.Random(11)
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / count
    previous = audit.GENESIS
    sql = f"COPY claims_auditevent ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        for first in range(0, count, COPY_BATCH):
            with cursor.cursor.copy(sql) as copy:
                for number in range(first, min(first + COPY_BATCH, count)):
                    values = an_event(rng, start + number * step, people, claims)
                    previous = audit.chain_hash(previous, values)
                    row = [previous] + [
                        json.dumps(values[c]) if c in json_columns else values[c]
                        for c in audit.CHAINED_FIELDS
                    ]
                    copy.write_row(row)
            print(f"\r  {min(first + COPY_BATCH, count)} events", end="", flush=True)
        print()
        cursor.execute("VACUUM ANALYZE")


DECISION_EVENTS = [
    ("decision.requested", "waiting", "waiting", None),
    ("decision.sent", "waiting", "approved", 204),
    ("decision.sent", "waiting", "rejected", 204),
    ("decision.failed", "waiting", "waiting", 400),
    ("decision.unconfirmed", "waiting", "waiting", 503),
    ("decision.confirmed", "waiting", "approved", None),
]


def an_event(rng, at, people, claims):
    agent = rng.choice(people["agents"])
    values = {
        "at": at,
        "actor_id": agent.pk,
        "actor_role": "agent",
        "claim_id": None,
        "decision_id": None,
        "subject_user_id": None,
        "status_before": "",
        "status_after": "",
        "reason": "",
        "images": [],
        "upstream_status": None,
        "upstream_message": "",
        "latency_ms": None,
        "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "client_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        "details": {},
    }
    kind = rng.random()
    if kind < 0.75:
        action, before, after, status = rng.choice(DECISION_EVENTS)
        claim_id, _code = rng.choice(claims)
        values.update(
            action=action,
            claim_id=str(claim_id),
            status_before=before,
            status_after=after,
            upstream_status=status,
            latency_ms=rng.randrange(40, 900) if status else None,
            reason="The seal is broken." if after == "rejected" else "",
            upstream_message="Claim is not waiting." if status == 400 else "",
        )
    elif kind < 0.95:
        values.update(action=rng.choice(["auth.login", "auth.logout"]), subject_user_id=agent.pk)
    else:
        values.update(
            action="team.role_changed",
            actor_id=people["lead"].pk,
            actor_role="lead",
            subject_user_id=agent.pk,
            details={"role": "agent", "role_before": "viewer"},
        )
    return values


# ------------------------------------------------------------------ cases


def cases(people, claims):
    """(label, URL, role) for each kind of request measured."""
    from django.db.models import Max, Min

    from claims.models import AuditEvent

    ids = AuditEvent.objects.aggregate(first=Min("id"), last=Max("id"))
    middle = (ids["first"] + ids["last"]) // 2
    agent = people["agents"][7]
    code = next(code for _id, code in claims if code)
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "audit-results"}
    return [
        ("first page, everything (lead)", "/audit/", "lead", {}),
        ("a page deep in the middle", f"/audit/?before={middle}", "lead", {}),
        ("one person (htmx)", f"/audit/?person={agent.pk}", "lead", htmx),
        ("one person, failed (htmx)", f"/audit/?person={agent.pk}&outcome=failed", "lead", htmx),
        ("decisions in the last week", f"/audit/?action=decision&date_from={week_ago}", "lead",
         {}),
        ("one claim by return code", f"/audit/?claim={code}", "lead", {}),
        ("sign-in failures (none)", "/audit/?action=auth.login_failed", "lead", {}),
        ("an agent's own audit", "/audit/", agent, {}),
        ("claim detail pane with its trail", f"/claims/{claims[0][0]}/", agent,
         {"HTTP_HX_REQUEST": "true"}),
    ]  # fmt: skip


def client_for(who, people):
    from django.test import Client

    client = Client()
    client.force_login(people["lead"] if who == "lead" else who)
    return client


class Case:
    def __init__(self, label, url, who, headers, people):
        self.label, self.url, self.headers = label, url, headers
        self.client = client_for(who, people)
        self.timings = []

    def request(self):
        """Server time and the time its SQL took, both in ms, and how many queries it made."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = self.client.get(self.url, **self.headers)
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{self.label}: HTTP {response.status_code}")
        sql = sum(float(query["time"]) for query in captured.captured_queries) * 1000
        return elapsed, sql, len(captured)


def measure_all(cases, requests, people):
    """Every case in turn, round after round, so load elsewhere falls on all of them alike."""
    measured = [Case(*case, people) for case in cases]
    for _round in range(3):
        for case in measured:
            case.request()
    for _round in range(requests):
        for case in measured:
            case.timings.append(case.request())
    return [
        {
            "label": case.label,
            "median": statistics.median(t[0] for t in case.timings),
            "p95": statistics.quantiles([t[0] for t in case.timings], n=20)[-1],
            "sql": statistics.median(t[1] for t in case.timings),
            "queries": case.timings[-1][2],
        }
        for case in measured
    ]


def print_table(results):
    print(f"{'request':<36}{'median ms':>10}{'p95 ms':>9}{'SQL ms':>8}{'queries':>9}")
    for r in results:
        print(
            f"{r['label']:<36}{r['median']:>10.1f}{r['p95']:>9.1f}{r['sql']:>8.1f}"
            f"{r['queries']:>9}"
        )


def print_verdict(results):
    """What grows with the table is the SQL; the rest is rendering fifty rows, whatever the
    table holds, and on a shared machine its p95 follows the load more than the code."""
    slowest = max(results, key=lambda r: r["median"])
    slowest_sql = max(results, key=lambda r: r["sql"])
    worst_p95 = max(results, key=lambda r: r["p95"])
    met = slowest["median"] < MEDIAN_TARGET_MS and slowest_sql["sql"] < SQL_TARGET_MS
    print(
        f"slowest median {slowest['median']:.1f} ms ({slowest['label']}), target "
        f"{MEDIAN_TARGET_MS}; most SQL {slowest_sql['sql']:.1f} ms ({slowest_sql['label']}), "
        f"target {SQL_TARGET_MS}: {'met' if met else 'MISSED'}; slowest p95 "
        f"{worst_p95['p95']:.1f} ms ({worst_p95['label']})"
    )


def resident_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_export(label, people, filters):
    """Rows, time, and how far the process grew while a whole export was read."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-lead"))
    query = dict(filters)
    if people is not None:
        query["person"] = people["agents"][7].pk
    before = grown = resident_mib()
    started = time.perf_counter()
    response = client.get("/audit/export.csv", query)
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        grown = max(grown, resident_mib())
    seconds = time.perf_counter() - started
    rows = lines - 1
    print(
        f"{label}: {rows} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s); "
        f"the process grew by {grown - before:.1f} MiB"
    )


def measure_verify():
    from django.core.management import call_command

    from claims.models import AuditEvent

    count = AuditEvent.objects.count()
    started = time.perf_counter()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    seconds = time.perf_counter() - started
    print(f"verify_audit: {count} events in {seconds:.1f} s ({count / seconds:,.0f} events/s)")
    print(f"  {out.getvalue().strip()}")


if __name__ == "__main__":
    main()
