from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from . import decisions, queries
from .audit import Origin
from .forms import QueueFilterForm, RejectForm
from .models import Claim
from .roles import Action, require

QUEUE_TEMPLATE = "claims/queue.html"


def _render(request, partial, context, status=200):
    """The named partial for htmx requests, the whole page otherwise."""
    template = f"{QUEUE_TEMPLATE}#{partial}" if request.htmx else QUEUE_TEMPLATE
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _queue_context(request):
    form = QueueFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else QueueFilterForm.defaults()
    return {
        "filter_form": form,
        "filters": filters,
        "page": queries.queue_page(filters),
        "tabs": queries.status_tabs(filters),
        "freshness": queries.sync_freshness(),
    }


def _get_claim_for_user(request, claim_id, action=Action.VIEW_CLAIMS):
    require(request.user, action)
    return get_object_or_404(Claim, pk=claim_id)


@login_required
@require_GET
def queue(request):
    require(request.user, Action.VIEW_CLAIMS)
    context = _queue_context(request)
    partial = "results" if request.htmx.target == "queue-results" else "page"
    return _render(request, partial, context)


@login_required
@require_GET
def claim_detail(request, claim_id):
    claim = _get_claim_for_user(request, claim_id)
    return _render_detail(request, claim)


def _render_detail(request, claim, *, result=None, reject_form=None, status=200):
    context = {
        "claim": claim,
        "decisions": claim.decisions.select_related("actor")[:20],
        "snapshots": claim.snapshots.all()[:20],
        "reject_form": reject_form or RejectForm(),
        "result": result,
    }
    if not request.htmx:
        context.update(_queue_context(request))
    return _render(request, "detail", context, status=status)


@login_required
@require_POST
def approve(request, claim_id):
    claim = _get_claim_for_user(request, claim_id, Action.DECIDE)
    result = decisions.approve(claim.pk, request.user, origin=Origin.of(request))
    return _after_decision(request, claim, result)


@login_required
@require_POST
def reject(request, claim_id):
    claim = _get_claim_for_user(request, claim_id, Action.DECIDE)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, claim, reject_form=form, status=422)

    result = decisions.reject(
        claim.pk,
        request.user,
        form.cleaned_data["reason"],
        form.cleaned_data["images"],
        origin=Origin.of(request),
    )
    return _after_decision(request, claim, result, form=None if result.ok else form)


def _after_decision(request, claim, result, form=None):
    claim.refresh_from_db()
    if not request.htmx:
        getattr(messages, result.level)(request, result.message)
        return redirect("claims:detail", claim_id=claim.pk)
    return _render_detail(request, claim, result=result, reject_form=form)
