"""The leads' reports: each one aggregate query in PostgreSQL, a table and a chart of it.

Days are whole days in the current time zone. "Decided" means decided in ClaimDesk: the
decisions the Seller Center accepted, on the day they were made; decisions made elsewhere
show in the claims' status but ClaimDesk does not know when they happened.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import charts
from .models import Claim, ClaimStatus, ClaimType, Decision

Sent = Decision.State.SENT
AWAITING = [Decision.State.REQUESTED, Decision.State.UNCONFIRMED]
# Backlog ages, in days: under the first, between each pair, over the last.
AGE_LIMITS = [1, 3, 7, 14, 30]


class Percentile(Aggregate):
    """percentile_cont: the value below which `fraction` of the rows fall, interpolated."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date

    @property
    def days(self):
        count = (self.end - self.start).days + 1
        return [self.start + datetime.timedelta(days=n) for n in range(count)]

    def bounds(self):
        """From midnight starting the first day to midnight ending the last, local time."""
        first = datetime.datetime.combine(self.start, datetime.time.min)
        after = datetime.datetime.combine(self.end + datetime.timedelta(days=1), first.time())
        return timezone.make_aware(first), timezone.make_aware(after)


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    columns: list
    rows: list
    chart: charts.Chart
    note: str = ""


def _type_names(types):
    """The documented types always, then any other the API sent, as sent."""
    known = [t.value for t in ClaimType]
    ordered = known + sorted(set(types) - set(known))
    labels = dict(ClaimType.choices)
    return ordered, [str(labels.get(t, t)) for t in ordered]


def _per_day_by_type(key, title, description, period, counted):
    """`counted`: rows of (day, type, n) from one GROUP BY, made into a table and a chart."""
    counts = {(day, kind): n for day, kind, n in counted}
    types, names = _type_names({kind for _day, kind in counts})
    days = period.days
    rows = []
    for day in days:
        per_type = [counts.get((day, kind), 0) for kind in types]
        rows.append([day.isoformat(), *per_type, sum(per_type)])
    series = [(name, [row[1 + i] for row in rows]) for i, name in enumerate(names)]
    labels = [day.strftime("%m-%d") for day in days]
    chart = charts.stacked_columns(key, title, description, labels, series)
    return Report(key, title, [_("Day"), *names, _("Total")], rows, chart)


def opened_per_day(period):
    start, after = period.bounds()
    counted = (
        Claim.objects.filter(created_at__gte=start, created_at__lt=after)
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "type")
        .annotate(n=Count("id"))
        .order_by()
    )
    title = _("Claims opened per day")
    description = _("Claims the customers opened each day, by type.")
    return _per_day_by_type("opened", title, description, period, counted)


def _decided_in(period):
    start, after = period.bounds()
    return Decision.objects.filter(requested_at__gte=start, requested_at__lt=after)


def decided_per_day(period):
    counted = (
        _decided_in(period)
        .filter(state=Sent)
        .annotate(day=TruncDate("requested_at"))
        .values_list("day", "claim__type")
        .annotate(n=Count("id"))
        .order_by()
    )
    title = _("Claims decided per day")
    description = _("Decisions made in ClaimDesk that the Seller Center accepted, by type.")
    return _per_day_by_type("decided", title, description, period, counted)


OUTCOMES = [
    ("approved", gettext_lazy("Approved"), Q(action=Decision.Action.APPROVE, state=Sent)),
    ("rejected", gettext_lazy("Rejected"), Q(action=Decision.Action.REJECT, state=Sent)),
    ("failed", gettext_lazy("Failed or not applied"), Q(state=Decision.State.FAILED)),
    ("awaiting", gettext_lazy("Awaiting confirmation"), Q(state__in=AWAITING)),
]


def outcomes(period):
    counted = _decided_in(period).aggregate(
        **{key: Count("id", filter=condition) for key, _label, condition in OUTCOMES}
    )
    names = [str(label) for _key, label, _condition in OUTCOMES]
    values = [counted[key] for key, _label, _condition in OUTCOMES]
    title = _("Outcomes of decisions")
    chart = charts.horizontal_bars(
        "outcomes",
        title,
        _("How the decisions made in the period ended."),
        names,
        [(_("Decisions"), values)],
    )
    rows = [[name, value] for name, value in zip(names, values, strict=True)]
    return Report("outcomes", title, [_("Outcome"), _("Decisions")], rows, chart)


def _age_buckets():
    edges = [0, *AGE_LIMITS]
    buckets = []
    for low, high in zip(edges, [*AGE_LIMITS, None], strict=True):
        if high is None:
            buckets.append((_("over %(days)s days") % {"days": low}, low, None))
        elif low == 0:
            buckets.append((_("under %(days)s day") % {"days": high}, low, high))
        else:
            buckets.append((_("%(low)s to %(high)s days") % {"low": low, "high": high}, low, high))
    return buckets


def backlog_by_age():
    """The claims waiting now, by how long they have waited; the period does not apply."""
    now = timezone.now()
    buckets = _age_buckets()
    conditions = {}
    for index, (_name, low, high) in enumerate(buckets):
        condition = Q(created_at__lte=now - datetime.timedelta(days=low))
        if high is not None:
            condition &= Q(created_at__gt=now - datetime.timedelta(days=high))
        conditions[f"b{index}"] = Count("id", filter=condition)
    waiting = Claim.objects.filter(status=ClaimStatus.WAITING, missing_upstream_at__isnull=True)
    counted = waiting.aggregate(**conditions)
    names = [name for name, _low, _high in buckets]
    values = [counted[f"b{index}"] for index in range(len(buckets))]
    title = _("Backlog by age")
    chart = charts.stacked_columns(
        "backlog",
        title,
        _("Claims waiting for a decision now, by how long they have waited."),
        names,
        [(_("Waiting claims"), values)],
    )
    rows = [[name, value] for name, value in zip(names, values, strict=True)]
    note = _("As of now, whatever the period.")
    return Report("backlog", title, [_("Waiting"), _("Claims")], rows, chart, note)


def _hours(duration):
    return None if duration is None else round(duration.total_seconds() / 3600, 1)


def time_to_decision(period):
    waited = ExpressionWrapper(F("requested_at") - F("claim__created_at"), DurationField())
    decided = _decided_in(period).filter(state=Sent)
    grouped = (
        decided.annotate(day=TruncDate("requested_at"))
        .values("day")
        .annotate(n=Count("id"), median=Percentile(waited, 0.5))
        .values_list("day", "n", "median")
        .order_by()
    )
    per_day = {day: (n, median) for day, n, median in grouped}
    overall = decided.aggregate(n=Count("id"), median=Percentile(waited, 0.5))
    rows = []
    for day in period.days:
        n, median = per_day.get(day, (0, None))
        rows.append([day.isoformat(), n, _hours(median)])
    rows.append([_("All days"), overall["n"], _hours(overall["median"])])
    title = _("Median time from a claim opening to its decision")
    chart = charts.stacked_columns(
        "time_to_decision",
        title,
        _("Hours from a claim opening to the decision that went through, median per day."),
        [day.strftime("%m-%d") for day in period.days],
        [(_("Median hours"), [row[2] for row in rows[:-1]])],
    )
    columns = [_("Day"), _("Decisions"), _("Median hours")]
    return Report("time_to_decision", title, columns, rows, chart)


def decisions_per_person(period):
    counted = (
        _decided_in(period)
        .values_list("actor__username", "actor__first_name", "actor__last_name")
        .annotate(
            **{key: Count("id", filter=condition) for key, _label, condition in OUTCOMES},
            total=Count("id"),
        )
        .order_by("-total", "actor__username")
    )
    people, rows = [], []
    for username, first, last, *counts in counted:
        name = f"{first} {last}".strip() or username
        people.append(name)
        rows.append([name, *counts])
    labels = [str(label) for _key, label, _condition in OUTCOMES]
    series = [(label, [row[1 + i] for row in rows]) for i, label in enumerate(labels)]
    title = _("Decisions per person")
    chart = charts.horizontal_bars(
        "per_person", title, _("Decisions each person made, by outcome."), people, series
    )
    return Report("per_person", title, [_("Person"), *labels, _("Total")], rows, chart)


PERIOD_REPORTS = {
    "opened": opened_per_day,
    "decided": decided_per_day,
    "outcomes": outcomes,
    "time_to_decision": time_to_decision,
    "per_person": decisions_per_person,
}
REPORT_KEYS = [*PERIOD_REPORTS, "backlog"]


def build(key, period):
    if key == "backlog":
        return backlog_by_age()
    return PERIOD_REPORTS[key](period)


def build_all(period):
    order = ["opened", "decided", "outcomes", "backlog", "time_to_decision", "per_person"]
    return [build(key, period) for key in order]
