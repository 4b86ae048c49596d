"""Load benchmark: agents signed in to gunicorn drive the queue, its filters and search, the
detail pane and decisions for a fixed time, over a cache of N claims.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--claims 100000]

Everything runs on 127.0.0.1: a sandbox Seller Center with N claims in a separate process, its
own database (claimdesk_load, filled by `sync_claims --full` when it does not hold N claims
yet), and gunicorn configured as `make serve` runs it. Each user is one thread with its own
keep-alive connection and session, signed in as its own agent, making the next request as
soon as the last one answered. Every user decides only claims dealt to it, so no two users
race for one claim. An answer counts as an error unless it is the status the dashboard
expects (and, for a decision, says the decision went through).
"""

import argparse
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
LOAD_DB = "claimdesk_load"
API_KEY = "load-bench-key"
PASSWORD = "load-bench-password-1"  # noqa: S105 - the bench's own throwaway agents
# How often each kind of request comes, per hundred: mostly reading, as agents do.
MIX = {"queue": 15, "filter": 25, "search": 15, "detail": 30, "freshness": 5, "decide": 10}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return print(json.dumps(PHASES[args.phase](args)))
    return orchestrate(args)


# Orchestration ------------------------------------------------------------------------------


def orchestrate(args):
    sandbox_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "load-bench-only-" + "x" * 40,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{LOAD_DB}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SELLER_CENTER_URL": f"http://127.0.0.1:{sandbox_port}/api",
        "SELLER_CENTER_API_KEY": API_KEY,
        "SANDBOX_API_KEY": API_KEY,
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
    }
    children = []
    try:
        children.append(start(env, "manage.py", "sandbox", f"--port={sandbox_port}",
                              f"--claims={args.claims}"))  # fmt: skip
        wait_for_port(sandbox_port, seconds=300)
        fill_database(env, args.claims)
        world = phase(env, "setup", f"--users={args.users}")
        run(env, "manage.py", "collectstatic", "--noinput", "--verbosity=0")
        children.append(start(env, "-m", "gunicorn", f"--bind=127.0.0.1:{web_port}"))
        wait_for_port(web_port)
        conditions = describe_conditions(args, world)
        results, elapsed = drive(web_port, world, args.users, args.seconds)
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=60)
    return report(conditions, results, elapsed)


def fill_database(env, claims):
    """The load database as the sandbox has it; filled again only when its size differs."""
    if phase(env, "count") == claims:
        run(env, "manage.py", "migrate", "--noinput", "--verbosity=0")
        return
    print(f"Filling {LOAD_DB} with {claims} claims (sync_claims --full) ...", flush=True)
    phase(env, "recreate")
    run(env, "manage.py", "migrate", "--noinput", "--verbosity=0")
    run(env, "manage.py", "sync_claims", "--full")


def phase(env, name, *options):
    # -P: bench/ is not put on the path, so nothing in it can stand in for a standard module.
    return json.loads(run(env, "-P", __file__, f"--phase={name}", *options))


def count_phase(args):
    import psycopg

    try:
        with psycopg.connect(os.environ["DATABASE_URL"]) as db:
            return db.execute("SELECT count(*) FROM claims_claim").fetchone()[0]
    except psycopg.Error:  # no such database yet, or not migrated
        return None


def recreate_phase(args):
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
        pg.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(LOAD_DB)))
        pg.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(LOAD_DB)))
    return LOAD_DB


def setup_phase(args):
    """In Django: one agent per user, and the claims the users will look at and decide."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "claimdesk.settings")
    django.setup()
    from django.contrib.auth import get_user_model

    from claims import roles
    from claims.models import Claim, ClaimReason, Decision

    users = args.users
    usernames = [f"load-agent-{n:02}" for n in range(1, users + 1)]
    for username in usernames:
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(PASSWORD)
        user.save()
        roles.set_role(user, roles.Role.AGENT)
    claims = Claim.objects.order_by("?").values_list("id", "return_code")[:20_000]
    decidable = (
        Claim.objects.filter(status="waiting", missing_upstream_at__isnull=True)
        .exclude(decisions__state__in=Decision.LIVE_STATES)
        .order_by("?")
        .values_list("id", flat=True)[: users * 200]
    )
    return {
        "usernames": usernames,
        "claims": [str(claim_id) for claim_id, _ in claims],
        "codes": [code[:6] for _, code in claims if code],
        "reasons": [str(pk) for pk in ClaimReason.objects.values_list("id", flat=True)],
        "decidable": [str(pk) for pk in decidable],
        "cached": Claim.objects.count(),
    }


def describe_conditions(args, world):
    load = os.getloadavg()
    return (
        f"{args.users} users for {args.seconds:g} s against gunicorn on 127.0.0.1 "
        f"({os.environ.get('WEB_CONCURRENCY', os.cpu_count() * 2)} workers x "
        f"{os.environ.get('GUNICORN_THREADS', 4)} threads), {world['cached']} cached claims, "
        f"{os.cpu_count()} cores, load average {load[0]:.2f} at the start; client, server, "
        "PostgreSQL and sandbox on the same machine"
    )


def start(env, *command):
    return subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )


def run(env, *command):
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


# The users ----------------------------------------------------------------------------------


class Browser:
    """One agent's keep-alive connection and cookies, speaking to the dashboard as htmx does."""

    # gunicorn closes a keep-alive connection idle for `keepalive` (5) seconds; a browser
    # opens a new one rather than send into one that is closing.
    IDLE_SECONDS = 4

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.last_used = time.monotonic()

    def request(self, method, path, body=None, htmx_target=None):
        if time.monotonic() - self.last_used > self.IDLE_SECONDS:
            self.connection.close()
        try:
            return self._request(method, path, body, htmx_target)
        finally:
            self.last_used = time.monotonic()

    def _request(self, method, path, body, htmx_target):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx_target:
            headers |= {"HX-Request": "true", "HX-Target": htmx_target}
        if method == "POST":
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": self.cookies.get("csrftoken", ""),
            }
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # reconnects on the next request
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, content.decode()

    def sign_in(self, username):
        """True once signed in, as the 302 away from the sign-in page shows."""
        status, page = self.request("GET", "/login/")
        token = CSRF_INPUT.search(page)
        if status != 200 or not token:
            return False
        form = urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
        )
        status, _ = self.request("POST", "/login/", body=form)
        return status == 302


class User:
    def __init__(self, port, username, world, own_claims, seed):
        self.browser = Browser(port)
        self.username = username
        self.world = world
        self.own_claims = own_claims
        self.random = random.Random(seed)
        self.kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]

    def next_request(self):
        kind = self.random.choice(self.kinds)
        if kind == "decide" and not self.own_claims:
            kind = "detail"
        return kind, getattr(self, f"_{kind}")()

    def _queue(self):
        return "GET", "/", None, None, 200, None

    def _filter(self):
        query = {
            "type": self.random.choice(["", "refund", "cancellation"]),
            "reason": self.random.choice(["", *self.world["reasons"]]),
            "sort": self.random.choice(["oldest", "newest", "updated"]),
            "status": self.random.choice(["waiting", "approved", "rejected"]),
        }
        path = "/?" + urlencode({k: v for k, v in query.items() if v})
        return "GET", path, None, "queue-results", 200, None

    def _search(self):
        path = "/?" + urlencode({"q": self.random.choice(self.world["codes"])})
        return "GET", path, None, "queue-results", 200, None

    def _detail(self):
        claim_id = self.random.choice(self.world["claims"])
        return "GET", f"/claims/{claim_id}/", None, "detail-pane", 200, None

    def _freshness(self):
        return "GET", "/sync/", None, "freshness", 200, None

    def _decide(self):
        claim_id = self.own_claims.pop()
        if self.random.random() < 0.5:
            return "POST", f"/claims/{claim_id}/approve/", "", "detail-pane", 200, "approved."
        form = urlencode({"reason": "The item shows signs of use.", "images": ""})
        return "POST", f"/claims/{claim_id}/reject/", form, "detail-pane", 200, "rejected."


def drive(port, world, users, seconds):
    deals = [world["decidable"][n::users] for n in range(users)]
    crowd = [
        User(port, name, world, deals[n], seed=n) for n, name in enumerate(world["usernames"])
    ]
    sign_in_everyone(crowd)
    results = defaultdict(list)  # kind -> [(seconds, error or None)]
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds
    threads = [
        threading.Thread(target=_loop, args=(user, deadline, results, lock)) for user in crowd
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def sign_in_everyone(crowd):
    failed = []

    def sign_in(user):
        if not user.browser.sign_in(user.username):
            failed.append(user.username)

    threads = [threading.Thread(target=sign_in, args=(user,)) for user in crowd]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit(f"{len(failed)} agents could not sign in, {failed[0]} first")


def _loop(user, deadline, results, lock):
    while time.perf_counter() < deadline:
        kind, (method, path, body, target, expected, says) = user.next_request()
        clock = time.perf_counter()
        try:
            status, content = user.browser.request(method, path, body, target)
            error = None
            if status != expected:
                error = f"{method} {path.split('?')[0]}: {status}"
            elif says and says not in content:
                error = f"{method} {path}: the decision did not go through"
        except (OSError, http.client.HTTPException) as failure:
            error = f"{method} {path.split('?')[0]}: {type(failure).__name__}"
        with lock:
            results[kind].append((time.perf_counter() - clock, error))


PHASES = {"count": count_phase, "recreate": recreate_phase, "setup": setup_phase}


# Report -------------------------------------------------------------------------------------


def report(conditions, results, elapsed):
    print(conditions)
    print(f"{'request':<10} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    everything = []
    for kind in MIX:
        samples = results.get(kind, [])
        everything += samples
        print(_row(kind, samples))
    print(_row("all", everything))
    errors = [error for _, error in everything if error]
    print(f"{len(everything) / elapsed:.1f} requests per second over {elapsed:.1f} s; "
          f"{len(errors)} errors")  # fmt: skip
    for error, count in sorted(_counts(errors).items(), key=lambda item: -item[1])[:10]:
        print(f"  {count} x {error}")
    return 1 if errors else 0


def _row(kind, samples):
    if not samples:
        return f"{kind:<10} {0:>7}"
    times = sorted(seconds * 1000 for seconds, _ in samples)
    p50, p95, p99 = (_percentile(times, share) for share in (0.50, 0.95, 0.99))
    errors = sum(1 for _, error in samples if error)
    return f"{kind:<10} {len(times):>7} {p50:>8.0f} {p95:>8.0f} {p99:>8.0f} {errors:>7}"


def _percentile(ordered, share):
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(share * 100) - 1]


def _counts(items):
    counts = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
