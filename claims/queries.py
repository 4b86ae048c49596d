"""Read-only queries behind the queue and the detail pane. They read PostgreSQL only."""

from django.core.paginator import Paginator
from django.db.models import Count

from .forms import SORTS
from .models import Claim, ClaimStatus, SyncState
from . import search

TAB_ORDER = [s.value for s in ClaimStatus]


def filtered_claims(filters):
    """Claims matching every filter except the status tab."""
    claims = Claim.objects.all()
    if filters.get("type"):
        claims = claims.filter(type=filters["type"])
    if filters.get("q"):
        claims = search.matching(claims, filters["q"])
    return claims


def queue_page(filters):
    claims = filtered_claims(filters)
    if filters["status"] != "all":
        claims = claims.filter(status=filters["status"])
    claims = claims.order_by(*SORTS[filters["sort"]]).defer("raw", "search_codes", "search_words")
    paginator = Paginator(claims, filters["per_page"])
    return paginator.get_page(filters.get("page") or 1)


def status_tabs(filters):
    """[(status, count)] for the tabs: the documented statuses first, then any new ones."""
    counts = dict(
        filtered_claims(filters).order_by().values_list("status").annotate(n=Count("id"))
    )
    extra = sorted(set(counts) - set(TAB_ORDER))
    tabs = [(status, counts.get(status, 0)) for status in TAB_ORDER + extra]
    return [*tabs, ("all", sum(counts.values()))]


def sync_freshness():
    return SyncState.objects.filter(name="claims").first()
