"""Whether this ClaimDesk can work: what `/healthz` answers and `/metrics` measures.

The checks read only PostgreSQL, the one thing every app server and worker shares, so any
app server gives the same answer about the workers, however many machines run them.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Case, Count, F, Max, Min, When
from django.db.models.functions import Greatest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from .models import Decision, SyncState

WEB = "web"  # the scope a load balancer asks for: can this process serve pages?

# Once this process has seen every migration applied, it does not load them all again on each
# probe: only `migrate` applies them, and a deploy runs it before starting new code.
_migrated = False


@dataclass
class Check:
    name: str
    ok: bool
    facts: dict = field(default_factory=dict)

    def as_json(self):
        return {"ok": self.ok, **self.facts}


@dataclass
class Report:
    checks: list

    @property
    def healthy(self):
        return all(check.ok for check in self.checks)

    def as_json(self):
        return {
            "status": "ok" if self.healthy else "failing",
            "checks": {check.name: check.as_json() for check in self.checks},
        }


def report(scope=None):
    """The checks for `scope`: WEB for this process alone, None for everything."""
    database = check_database()
    if not database.ok:
        return Report([database])
    checks = [database, check_migrations()]
    if scope != WEB:
        checks += [check_sync(), check_sync_worker(), check_task_queue()]
    return Report(checks)


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return Check("database", False)
    return Check("database", True)


def check_migrations():
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return Check("migrations", False, {"pending": len(pending)})
        _migrated = True
    return Check("migrations", True, {"pending": 0})


def check_sync():
    """The claims sync: failing when no run has succeeded for HEALTHZ_SYNC_MAX_AGE.

    The outcome is the last run's: a run syncs reasons first and stops if they fail, leaving
    the claims' own state as it was.
    """
    states = {state.name: state for state in SyncState.objects.all()}
    state = states.get("claims")
    outcome = state.outcome if state else SyncState.Outcome.NEVER
    if any(s.outcome == SyncState.Outcome.FAILED for s in states.values()):
        outcome = SyncState.Outcome.FAILED
    age = seconds_since(state.last_success_at if state else None)
    ok = age is not None and age <= settings.HEALTHZ_SYNC_MAX_AGE
    return Check("sync", ok, {"outcome": outcome, "last_success_seconds": age})


def check_sync_worker():
    """Some sync worker wrote its heartbeat lately, whether or not its runs succeed."""
    age = seconds_since(SyncState.objects.aggregate(at=Max("heartbeat_at"))["at"])
    ok = age is not None and age <= settings.HEALTHZ_SYNC_MAX_AGE
    return Check("sync_worker", ok, {"heartbeat_seconds": age})


def check_task_queue():
    """The task worker keeps up: no task has been ready to run for HEALTHZ_TASK_MAX_WAIT.

    `db_worker` writes no heartbeat of its own; a ready task left waiting is what a dead or
    stuck worker looks like from the database.
    """
    ready = task_queue_facts()
    age = ready["oldest_ready_seconds"]
    ok = age is None or age <= settings.HEALTHZ_TASK_MAX_WAIT
    return Check("tasks", ok, ready)


def task_queue_facts():
    ready_since = Case(
        When(run_after=get_date_max(), then=F("enqueued_at")),
        default=Greatest("run_after", "enqueued_at"),
    )
    facts = DBTaskResult.objects.ready().aggregate(ready=Count("id"), oldest=Min(ready_since))
    return {"ready": facts["ready"], "oldest_ready_seconds": seconds_since(facts["oldest"])}


def decision_counts():
    """{state: number of decisions}, every state present."""
    counts = dict.fromkeys(Decision.State.values, 0)
    rows = Decision.objects.values_list("state").annotate(n=Count("id")).order_by()
    counts.update(dict(rows))
    return counts


def task_counts():
    rows = DBTaskResult.objects.values_list("status").annotate(n=Count("id")).order_by()
    return dict(rows)


def sync_states():
    return list(SyncState.objects.order_by("name"))


def seconds_since(moment):
    if moment is None:
        return None
    return max(round((timezone.now() - moment).total_seconds()), 0)
