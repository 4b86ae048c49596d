"""Sync benchmark: a full sync of N sandbox claims into an empty cache, an unchanged re-sync,
and the fetch-only rate (same pages fetched and parsed, nothing stored) as the ceiling.

    .venv/bin/python bench/sync.py [--claims 100000] [--page-size 1000]

Runs against its own database (claimdesk_bench) and a sandbox in a separate process on a free
port. Each phase runs in its own process, so the peak memory printed is that phase's alone.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "claimdesk_bench"
API_KEY = "bench-key"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return run_phase(args.phase)
    return orchestrate(args)


def orchestrate(args):
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "bench-only",
        "DATABASE_URL": database_url(),
        "SELLER_CENTER_URL": f"http://127.0.0.1:{port}/api",
        "SELLER_CENTER_API_KEY": API_KEY,
        "SANDBOX_API_KEY": API_KEY,
        "SELLER_CENTER_PAGE_SIZE": str(args.page_size),
        "LOG_LEVEL": "WARNING",
    }
    prepare_database(env)
    sandbox = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", f"--port={port}", f"--claims={args.claims}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        print(f"{args.claims} sandbox claims, page size {args.page_size}, 2-core machine")
        results = [measure(phase, env) for phase in ("fetch", "full", "resync")]
    finally:
        sandbox.terminate()
        sandbox.wait()
    print_table(results)


def measure(phase, env):
    child = subprocess.Popen(
        # -P: this folder stays off sys.path, where bench/queue.py would shadow the stdlib.
        [sys.executable, "-P", __file__, "--phase", phase],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"phase {phase} failed")
    result = json.loads(out)
    result["peak_mib"] = usage.ru_maxrss / 1024
    return result


def print_table(results):
    labels = {
        "fetch": "fetch only (ceiling)",
        "full": "full sync, empty cache",
        "resync": "unchanged re-sync",
    }
    print(f"{'phase':<24}{'claims':>9}{'seconds':>9}{'claims/s':>10}{'peak MiB':>10}")
    for r in results:
        rate = r["claims"] / r["seconds"]
        print(
            f"{labels[r['phase']]:<24}{r['claims']:>9}{r['seconds']:>9.2f}"
            f"{rate:>10.0f}{r['peak_mib']:>10.1f}"
        )
    fetch, full = results[0], results[1]
    ratio = (full["claims"] / full["seconds"]) / (fetch["claims"] / fetch["seconds"])
    print(f"full sync runs at {ratio:.0%} of the fetch-only rate")


def run_phase(phase):
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "claimdesk.settings")
    django.setup()
    from claims.seller_center import client_for
    from claims.sync import sync_everything

    started = time.perf_counter()
    if phase == "fetch":
        claims = sum(len(page.items) for page in client_for().claim_pages())
    else:
        _, summary = sync_everything(full=True)
        claims = summary.fetched
        expected_writes = summary.created if phase == "full" else summary.unchanged
        assert expected_writes == claims, summary
    seconds = time.perf_counter() - started
    print(json.dumps({"phase": phase, "claims": claims, "seconds": seconds}))


def database_url():
    return f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"


def prepare_database(env):
    subprocess.run(
        [
            "psql",
            "-qh",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            f"DROP DATABASE IF EXISTS {BENCH_DB}",
        ],
        check=True,
    )
    subprocess.run(
        ["psql", "-qh", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {BENCH_DB}"],
        check=True,
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit("the sandbox did not start")


if __name__ == "__main__":
    main()
