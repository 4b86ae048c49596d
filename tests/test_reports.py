import csv
import datetime
import io
import re
from collections import Counter

import pytest
from django.urls import reverse
from django.utils import timezone

from claims import charts, reports
from claims.models import Claim, Decision
from claims.reports import Period
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def synced(sandbox):
    sync_everything()
    return sandbox


@pytest.fixture
def lead_client(client, member):
    client.force_login(member("lead"))
    return client


def local_day(moment):
    return timezone.localtime(moment).date()


def decide(claim, actor, hours, action="approve", state="sent"):
    """A decision made `hours` after the claim opened, as decisions.py would have stored it."""
    at = claim.created_at + hours * HOUR
    return Decision.objects.create(
        claim=claim, action=action, actor=actor, state=state, requested_at=at, resolved_at=at
    )


def table(report):
    return [report.columns, *report.rows]


def csv_of(response):
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_claims_opened_per_day_are_counted_by_type_on_their_local_day(synced):
    period = Period(*sorted(local_day(c.created_at) for c in Claim.objects.all())[::299])

    report = reports.opened_per_day(period)

    counts = Counter((local_day(c.created_at), c.type) for c in Claim.objects.all())
    expected = [[d.isoformat(), counts[(d, "cancel")], counts[(d, "refund")]] for d in period.days]
    assert report.columns == ["Day", "Cancellation", "Refund", "Total"]
    assert [row[:3] for row in report.rows] == expected
    assert sum(row[3] for row in report.rows) == 300


def test_a_claim_opened_late_in_the_evening_counts_on_that_local_day(synced, settings):
    settings.TIME_ZONE = "Europe/Istanbul"
    claim = Claim.objects.filter(type="refund").first()
    evening = datetime.datetime(2026, 3, 10, 23, 30, tzinfo=datetime.UTC) - 3 * HOUR
    synced.update_claim(claim.pk, created_at=evening)
    sync_everything()

    report = reports.opened_per_day(Period(datetime.date(2026, 3, 10), datetime.date(2026, 3, 11)))

    assert [row[0] for row in report.rows if row[3]] == ["2026-03-10"]
    assert report.rows[0][2] >= 1


def test_decisions_make_the_decided_outcomes_median_and_per_person_tables(synced, member):
    ayla = member("agent", first_name="Ayla", last_name="Kaya")
    can = member("agent", username="can")
    claims = list(Claim.objects.order_by("created_at", "id")[:6])
    decide(claims[0], ayla, 2)
    decide(claims[1], ayla, 4, action="reject")
    decide(claims[2], can, 9)
    decide(claims[3], can, 1, state="failed")
    decide(claims[4], can, 1, state="unconfirmed")
    days = sorted(local_day(d.requested_at) for d in Decision.objects.all())
    period = Period(days[0], days[-1])

    decided = reports.decided_per_day(period)
    outcomes = reports.outcomes(period)
    timing = reports.time_to_decision(period)
    people = reports.decisions_per_person(period)

    assert sum(row[-1] for row in decided.rows) == 3
    assert outcomes.rows == [
        ["Approved", 2],
        ["Rejected", 1],
        ["Failed or not applied", 1],
        ["Awaiting confirmation", 1],
    ]
    assert timing.rows[-1] == ["All days", 3, 4.0]
    assert table(people) == [
        ["Person", "Approved", "Rejected", "Failed or not applied", "Awaiting confirmation",
         "Total"],
        ["can", 1, 0, 1, 1, 3],
        ["Ayla Kaya", 1, 1, 0, 0, 2],
    ]  # fmt: skip


def test_the_median_is_interpolated_between_the_two_middle_decisions(synced, member):
    agent = member("agent")
    claims = list(Claim.objects.order_by("created_at", "id")[:4])
    for claim, hours in zip(claims, [1, 2, 6, 30], strict=True):
        decide(claim, agent, hours)
    days = sorted(local_day(d.requested_at) for d in Decision.objects.all())

    timing = reports.time_to_decision(Period(days[0], days[-1]))

    assert timing.rows[-1] == ["All days", 4, 4.0]


def test_the_backlog_counts_waiting_claims_by_how_long_they_have_waited(synced):
    now = timezone.now()

    report = reports.backlog_by_age()

    ages = [
        (now - c.created_at).total_seconds() / 86400
        for c in Claim.objects.filter(status="waiting", missing_upstream_at__isnull=True)
    ]
    edges = [0, 1, 3, 7, 14, 30, float("inf")]
    expected = [
        sum(1 for age in ages if low <= age < high)
        for low, high in zip(edges[:-1], edges[1:], strict=True)
    ]
    assert [row[1] for row in report.rows] == expected
    assert [row[0] for row in report.rows] == [
        "under 1 day",
        "1 to 3 days",
        "3 to 7 days",
        "7 to 14 days",
        "14 to 30 days",
        "over 30 days",
    ]


def test_the_reports_page_shows_each_chart_as_an_image_with_its_table_beside_it(
    lead_client, synced, django_assert_max_num_queries
):
    with django_assert_max_num_queries(14):
        response = lead_client.get(
            reverse("reports:index"), {"start": "2026-03-01", "end": "2026-03-31"}
        )

    body = response.content.decode()
    keys = ["opened", "decided", "outcomes", "backlog", "time_to_decision", "per_person"]
    for key in keys:
        section = body.split(f'id="report-{key}"')[1].split("</section>")[0]
        assert re.search(rf'<svg [^>]*role="img" aria-labelledby="chart-{key}-title', section)
        assert f'<title id="chart-{key}-title">' in section
        assert "<table" in section
        assert f'href="/reports/{key}.csv?start=2026-03-01&amp;end=2026-03-31"' in section
    assert "style=" not in body  # the Content-Security-Policy allows no inline style


def test_a_period_that_is_not_understood_is_explained_and_the_last_30_days_shown(
    lead_client,
):
    response = lead_client.get(
        reverse("reports:index"), {"start": "2026-03-10", "end": "2026-03-01"}
    )

    body = response.content.decode()
    assert "Until: The end date is before the start date." in body
    period = response.context["period"]
    assert (period.end, (period.end - period.start).days) == (timezone.localdate(), 29)


def test_a_period_of_more_than_a_year_is_refused(lead_client):
    response = lead_client.get(
        reverse("reports:index"), {"start": "2024-01-01", "end": "2025-12-31"}
    )

    assert "Until: Choose at most 366 days at once." in response.content.decode()


def test_each_tables_csv_holds_exactly_the_table_and_defuses_formulas(lead_client, synced, member):
    sly = member("agent", first_name="=HYPERLINK(1)")
    claim = Claim.objects.order_by("created_at", "id").first()
    decide(claim, sly, 3)
    day = local_day(claim.created_at + 3 * HOUR)
    query = {"start": day.isoformat(), "end": day.isoformat()}

    rows = csv_of(lead_client.get(reverse("reports:export", args=["per_person"]), query))
    opened = csv_of(lead_client.get(reverse("reports:export", args=["opened"]), query))

    assert rows == [
        ["Person", "Approved", "Rejected", "Failed or not applied", "Awaiting confirmation",
         "Total"],
        ["'=HYPERLINK(1)", "1", "0", "0", "0", "1"],
    ]  # fmt: skip
    expected = reports.opened_per_day(Period(day, day))
    assert opened == [expected.columns, [str(cell) for cell in expected.rows[0]]]


def test_an_unknown_report_is_not_found(lead_client):
    response = lead_client.get(reverse("reports:export", args=["salaries"]))

    assert response.status_code == 404


# Chart geometry ---------------------------------------------------------------------------


def test_the_value_axis_ends_at_a_round_number_at_or_above_the_largest_value():
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 240, 251, 1000)] == [
        5, 5, 5, 10, 20, 500, 500, 1000,
    ]  # fmt: skip


def test_stacked_columns_are_as_tall_as_their_values():
    chart = charts.stacked_columns("c", "t", "d", ["a", "b"], [("x", [10, 0]), ("y", [10, 5])])

    plot = charts.COLUMN_HEIGHT - charts.MARGIN_TOP - charts.MARGIN_BOTTOM
    assert [(bar.series, bar.height) for bar in chart.bars] == [
        (0, plot / 2),
        (1, plot / 2),
        (1, plot / 4),
    ]
    assert chart.bars[1].y == charts.MARGIN_TOP
    assert [bar.tip for bar in chart.bars] == ["a · x: 10", "a · y: 10", "b · y: 5"]
