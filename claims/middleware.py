import logging
import time
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import resolve_url
from django.utils import timezone, translation
from django_htmx.http import HttpResponseClientRedirect

from . import logs, preferences

logger = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Gives each request an id: the proxy's X-Request-ID when sensible, else a new one.

    The id is `request.request_id`, goes back in the response's X-Request-ID, and is on every
    log line written while the request is handled, ending with one line for the request.
    First in MIDDLEWARE, so even a redirect to HTTPS carries it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = logs.accepted_request_id(request.headers.get("X-Request-ID"))
        started = time.monotonic()
        with logs.request_id_bound(request.request_id):
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            _log_request(request, response, time.monotonic() - started)
        return response


def _log_request(request, response, seconds):
    # The path only: a query string can hold a customer's words typed into search.
    level = logging.INFO
    if request.path in logs.PROBE_PATHS:
        # Probes come every few seconds: only a failing one is worth a line.
        level = logging.WARNING if response.status_code >= 500 else logging.DEBUG
    user = getattr(request, "user", None)
    path = logs.loggable_path(request)
    logger.log(
        level,
        "%s %s %s %.0f ms",
        request.method,
        path,
        response.status_code,
        seconds * 1000,
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user_id": user.pk if user is not None and user.is_authenticated else None,
        },
    )


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session has expired reloads the whole page at the login screen.

    Without this the login redirect would be followed by htmx and the login form swapped into
    whatever pane made the request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        login_url = resolve_url(settings.LOGIN_URL)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response.get("Location", "").startswith(login_url)
        ):
            current = request.htmx.current_url_abs_path or "/"
            return HttpResponseClientRedirect(f"{login_url}?{urlencode({'next': current})}")
        return response


class MemberPreferencesMiddleware:
    """A signed-in member works in their own language and time zone.

    After AuthenticationMiddleware. LocaleMiddleware has already picked the browser's language
    (the language cookie, else Accept-Language); a member's own choice replaces it, and sets
    `request.LANGUAGE_CODE`, which the Seller Center client speaks. The time zone applies to
    everything shown and to the days that date filters and reports mean.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)

        language = preferences.supported_language(user.language)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        with timezone.override(preferences.zone(user.time_zone)):
            return self.get_response(request)
