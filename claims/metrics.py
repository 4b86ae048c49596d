"""Prometheus metrics, read from PostgreSQL at each scrape.

Counting in each process would need prometheus-client's multiprocess mode and would still
differ from one app server to the next; the database holds the truth for all of them.
"""

from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from . import health

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ClaimDeskCollector:
    def collect(self):
        yield from _sync_metrics()
        yield from _task_metrics()
        yield _labelled(
            "claimdesk_decisions",
            "Decisions by state; failed and unconfirmed ones are the errors to watch.",
            "state",
            health.decision_counts(),
        )


def _sync_metrics():
    success = GaugeMetricFamily(
        "claimdesk_sync_last_success_age_seconds",
        "Seconds since the sync last stored a complete run (the cache's lag).",
        labels=["sync"],
    )
    failing = GaugeMetricFamily(
        "claimdesk_sync_failing", "1 when the last run of this sync failed.", labels=["sync"]
    )
    heartbeat = GaugeMetricFamily(
        "claimdesk_sync_heartbeat_age_seconds",
        "Seconds since a sync worker last wrote this sync's state.",
        labels=["sync"],
    )
    for state in health.sync_states():
        if state.last_success_at:
            success.add_metric([state.name], health.seconds_since(state.last_success_at))
        if state.heartbeat_at:
            heartbeat.add_metric([state.name], health.seconds_since(state.heartbeat_at))
        failing.add_metric([state.name], int(state.outcome == state.Outcome.FAILED))
    return [success, failing, heartbeat]


def _task_metrics():
    queue = health.task_queue_facts()
    oldest = GaugeMetricFamily(
        "claimdesk_task_oldest_ready_age_seconds",
        "Seconds the oldest runnable background task has waited for a worker (0: none).",
        value=queue["oldest_ready_seconds"] or 0,
    )
    counts = _labelled(
        "claimdesk_tasks",
        "Background tasks in the queue table by status; FAILED ones are errors.",
        "status",
        health.task_counts(),
    )
    return [oldest, counts]


def _labelled(name, documentation, label, counts):
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


_registry = CollectorRegistry(auto_describe=False)
_registry.register(ClaimDeskCollector())


def exposition():
    """The metrics in Prometheus's text format."""
    return generate_latest(_registry)
