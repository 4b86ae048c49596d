"""The reports page for leads and admins, and each report's table as CSV."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import csv_export, reports
from .report_forms import PeriodForm
from .roles import Action, require


@login_required
@require_GET
def index(request):
    require(request.user, Action.VIEW_REPORTS)
    form = PeriodForm(request.GET)
    period = form.period()
    context = {"form": form, "period": period, "reports": reports.build_all(period)}
    return render(request, "reports/index.html", context)


@login_required
@require_GET
def export(request, table):
    require(request.user, Action.VIEW_REPORTS)
    if table not in reports.REPORT_KEYS:
        raise Http404
    period = PeriodForm(request.GET).period()
    report = reports.build(table, period)
    filename = f"claimdesk-{table}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return csv_export.streaming_csv(filename, report.columns, report.rows)
