from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import audit_queries, bulk, decisions, queries, refresh
from .audit import Origin
from .bulk_forms import BulkDecisionForm
from .forms import CannedReasonForm, QueueFilterForm, RejectForm
from .models import BulkRun, CannedReason, Claim
from .roles import Action, can, require

QUEUE_TEMPLATE = "claims/queue.html"
REASONS_TEMPLATE = "claims/canned_reasons.html"
BULK_RUN_TEMPLATE = "claims/bulk_run.html"
BULK_START_TEMPLATE = "claims/bulk_start.html"
BULK_RUNS_TEMPLATE = "claims/bulk_runs.html"


def _is_partial_request(request):
    # htmx restoring a page missing from its history cache needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(request, partial, context, status=200, template=QUEUE_TEMPLATE):
    """The named partial for htmx requests, the whole page otherwise."""
    name = f"{template}#{partial}" if _is_partial_request(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target", "HX-History-Restore-Request"])
    return response


def _queue_context(request):
    form = QueueFilterForm(request.GET)
    filters = form.filters()
    tabs = queries.status_tabs(filters)
    return {
        "filter_form": form,
        "filters": filters,
        "tabs": tabs,
        "page": queries.queue_page(filters, tabs),
        # Read only if the template shows them: the rows partial that polls and filters
        # ask for needs neither, so it costs two queries less.
        "reasons": queries.reason_choices(),
        "freshness": SimpleLazyObject(queries.sync_freshness),
        "poll_seconds": settings.QUEUE_POLL_SECONDS,
    }


def _get_claim_for_user(request, claim_id, action=Action.VIEW_CLAIMS):
    require(request.user, action)
    return get_object_or_404(Claim, pk=claim_id)


@login_required
@require_GET
def queue(request):
    require(request.user, Action.VIEW_CLAIMS)
    context = _queue_context(request)
    partial = {"queue-results": "results", "queue": "queue"}.get(request.htmx.target, "page")
    return _render(request, partial, context)


@login_required
@require_GET
def freshness(request):
    require(request.user, Action.VIEW_CLAIMS)
    # Opened as a plain URL it is the queue page, so the partial has the context it expects.
    if not _is_partial_request(request):
        return _render(request, "freshness", _queue_context(request))
    return _render(request, "freshness", {"freshness": queries.sync_freshness()})


@login_required
@require_POST
def start_refresh(request):
    require(request.user, Action.REFRESH)
    started = refresh.start()
    context = {"freshness": queries.sync_freshness(), "refresh_started": started}
    if not _is_partial_request(request):
        messages.info(request, _("A sync with the Seller Center has started."))
        return redirect("claims:queue")
    return _render(request, "freshness", context, status=202)


@login_required
@require_GET
def claim_detail(request, claim_id):
    claim = _get_claim_for_user(request, claim_id)
    return _render_detail(request, claim)


def _detail_context(request, claim, *, result=None, reject_form=None, decided=None):
    freshness = queries.sync_freshness()
    context = {
        "claim": claim,
        "decisions": claim.decisions.select_related("actor")[:20],
        "history": queries.claim_history(claim),
        "trail": audit_queries.claim_trail(request.user, claim),
        "claim_synced_at": queries.claim_synced_at(claim, freshness),
        "freshness": freshness,
        "reject_form": reject_form or RejectForm(),
        "result": result,
        "decided": decided,
    }
    if can(request.user, Action.DECIDE) and claim.is_decidable:
        context["canned_reasons"], context["used_reasons"] = queries.rejection_suggestions()
    return context


def _render_detail(request, claim, *, status=200, **extra):
    context = _detail_context(request, claim, **extra)
    if not _is_partial_request(request):
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
    """Decide-and-next: after a decision that went through, the next waiting claim opens."""
    claim.refresh_from_db()
    following = None
    if result.ok:
        following = queries.next_waiting_claim(QueueFilterForm(request.GET).filters(), claim)
    shown = following or claim
    query = request.GET.urlencode()
    url = reverse("claims:detail", args=[shown.pk]) + (f"?{query}" if query else "")
    if not _is_partial_request(request):
        getattr(messages, result.level)(request, result.message)
        return redirect(url)

    response = _render_detail(
        request, shown, result=result, reject_form=form, decided=_as_row(claim, result)
    )
    response["HX-Push-Url"] = url
    return response


def _as_row(claim, result):
    """The decided claim as its queue row shows it, for the in-place row update."""
    claim.pending_decision = bool(result.decision and result.decision.state == "unconfirmed")
    return claim


@login_required
@require_http_methods(["GET", "POST"])
def canned_reasons(request):
    require(request.user, Action.MANAGE_TEAM)
    form = CannedReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        CannedReason.objects.create(text=form.cleaned_data["text"], created_by=request.user)
        messages.success(request, _("Reason saved."))
        return redirect("claims:canned_reasons")

    context = {"form": form, "canned": CannedReason.objects.all()}
    status = 422 if form.is_bound else 200
    return _render(request, "reasons", context, status=status, template=REASONS_TEMPLATE)


@login_required
@require_POST
def delete_canned_reason(request, reason_id):
    require(request.user, Action.MANAGE_TEAM)
    deleted, _count = CannedReason.objects.filter(pk=reason_id).delete()
    if deleted:
        messages.success(request, _("Reason removed."))
    return redirect("claims:canned_reasons")


@login_required
@require_POST
def bulk_start(request):
    require(request.user, Action.BULK_DECIDE)
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        return render(request, BULK_START_TEMPLATE, {"form": form}, status=422)

    data = form.cleaned_data
    try:
        run = bulk.start(
            request.user,
            data["action"],
            data["reason"],
            data["images"],
            form.chosen_claims(),
            form.selection(),
            origin=Origin.of(request),
        )
    except bulk.NothingToDecide:
        form.add_error(None, _("None of these claims is waiting for a decision."))
    except bulk.TooManyClaims:
        form.add_error(
            None,
            _("A bulk decision takes at most %(limit)s claims; narrow the filters.")
            % {"limit": bulk.MAX_CLAIMS_PER_RUN},
        )
    else:
        return redirect("claims:bulk_run", run_id=run.pk)
    return render(request, BULK_START_TEMPLATE, {"form": form}, status=422)


@login_required
@require_GET
def bulk_run(request, run_id):
    require(request.user, Action.BULK_DECIDE)
    run = get_object_or_404(BulkRun.objects.select_related("actor"), pk=run_id)
    counts = bulk.progress(run)
    context = {
        "run": run,
        "counts": counts,
        "done": run.total - counts["pending"],
        "report": bulk.report(run) if run.is_done else None,
    }
    return _render(request, "progress", context, template=BULK_RUN_TEMPLATE)


@login_required
@require_GET
def bulk_runs(request):
    require(request.user, Action.BULK_DECIDE)
    runs = BulkRun.objects.select_related("actor")[:50]
    return render(request, BULK_RUNS_TEMPLATE, {"runs": runs})
