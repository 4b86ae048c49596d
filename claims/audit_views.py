"""The audit page and its CSV export: leads and admins see every event, others their own."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from . import audit_queries, csv_export
from .audit_forms import AREAS, AuditFilterForm
from .roles import Action, require

EVENTS_TEMPLATE = "audit/events.html"


def _filter_form(request):
    return AuditFilterForm(request.GET, sees_everyone=audit_queries.sees_everyone(request.user))


@login_required
@require_GET
def events(request):
    require(request.user, Action.VIEW_OWN_AUDIT)
    form = _filter_form(request)
    filters = form.filters()
    context = {
        "filter_form": form,
        "filters": filters,
        "page": audit_queries.page(request.user, filters),
        "sees_everyone": form.sees_everyone,
        "areas": AREAS,
    }
    wants_results = request.htmx and request.htmx.target == "audit-results"
    name = f"{EVENTS_TEMPLATE}#results" if wants_results else EVENTS_TEMPLATE
    response = render(request, name, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@login_required
@require_GET
def export(request):
    require(request.user, Action.VIEW_OWN_AUDIT)
    filters = _filter_form(request).filters()
    rows = audit_queries.export_rows(request.user, filters)
    filename = f"claimdesk-audit-{timezone.localtime():%Y%m%d-%H%M}.csv"
    return csv_export.streaming_csv(filename, audit_queries.export_header(), rows)
