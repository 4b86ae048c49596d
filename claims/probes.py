"""The health check and the metrics: for load balancers and monitoring, not for people.

Neither needs a sign-in and neither shows a claim, a person or an error text; both answer
over plain HTTP too (settings.SECURE_REDIRECT_EXEMPT), as probes from inside the network do.
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import health, metrics


@never_cache
@require_safe
def healthz(request):
    scope = health.WEB if request.GET.get("scope") == health.WEB else None
    report = health.report(scope)
    return JsonResponse(report.as_json(), status=200 if report.healthy else 503)


@never_cache
@require_safe
def prometheus_metrics(request):
    if not settings.METRICS_ENABLED:
        raise Http404
    if settings.METRICS_TOKEN and not _bearer_matches(request, settings.METRICS_TOKEN):
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


def _bearer_matches(request, token):
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
