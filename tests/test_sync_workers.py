"""Several sync workers against one PostgreSQL: the advisory lock lets one sync at a time."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from claims.models import Claim, SyncState

# The processes commit their own work, which this test then reads.
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
# How long the first sync to take the lock is kept inside it; far longer than the spread of
# two process start-ups, so the second one finds the lock taken.
HOLD_SECONDS = 6
SYNCED = re.compile(
    r"reasons: pages 1, fetched 12, created 12, updated 0, unchanged 0, \d+\.\d s\n"
    r"claims: pages 1, fetched 300, created 300, updated 0, unchanged 0, \d+\.\d s\n"
)
SKIPPED = "Another sync is running; this one was skipped.\n"


def start_sync(sandbox, *options, **settings):
    database = connection.settings_dict
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "test",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "SELLER_CENTER_URL": sandbox.url,
        "SELLER_CENTER_API_KEY": sandbox.api_key,
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "sync_claims", *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_sync_workers_started_at_once_sync_once_and_the_other_skips(sandbox):
    sandbox.faults.delay_next(1, seconds=HOLD_SECONDS, path_contains="claim-reasons")

    workers = [start_sync(sandbox), start_sync(sandbox)]
    outputs = [worker.communicate(timeout=120) for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    stdouts = sorted((stdout for stdout, _ in outputs), key=lambda out: out == SKIPPED)
    assert SYNCED.fullmatch(stdouts[0]), stdouts
    assert stdouts[1] == SKIPPED
    assert [r.path for r in sandbox.requests] == ["/api/i2/claim-reasons/", "/api/i2/claims/"]
    assert Claim.objects.count() == 300
    assert SyncState.objects.get(name="claims").outcome == "ok"


def test_a_sync_worker_writes_only_log_lines_and_stops_on_term(sandbox):
    worker = start_sync(sandbox, "--every=1", LOG_FORMAT="json")
    lines = []
    for line in worker.stderr:
        lines.append(json.loads(line))
        if lines[-1]["message"].startswith("sync finished: claims"):
            break
    worker.send_signal(signal.SIGTERM)
    stdout, stderr = worker.communicate(timeout=60)
    lines += [json.loads(line) for line in stderr.splitlines()]

    assert (worker.returncode, stdout) == (0, "")
    messages = [line["message"] for line in lines]
    assert messages[0] == "sync worker started: every 1 s"
    assert SYNCED.fullmatch(
        "".join(m.removeprefix("sync finished: ") + "\n" for m in messages[1:3])
    )
    assert messages[-1] == "sync worker stopped"
    run_ids = {line["request_id"] for line in lines[1:3]}
    assert len(run_ids) == 1 and "request_id" not in lines[0]
