"""Log lines that can be shipped: a request id on each, JSON when asked for, no secrets.

Every line logged while a request, a sync run or a background task is being handled carries
that piece of work's id, kept in a context variable so threads and helpers need not pass it
along. The id of a request is also sent to the Seller Center (see `seller_center.client_for`)
and stored with audit events, so one id follows an action across every system it touched.
"""

import contextvars
import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.utils.html import escape
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter

# Asked every few seconds by load balancers and scrapers.
PROBE_PATHS = frozenset({"/healthz", "/metrics"})
# What a proxy or a client may hand in as X-Request-ID; anything else is replaced.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REDACTED = "[redacted]"
# A value this short would match inside ordinary words, and is no real key anyway.
SHORTEST_REDACTED_SECRET = 8

_request_id = contextvars.ContextVar("claimdesk_request_id", default="")


def new_request_id():
    return uuid.uuid4().hex


def accepted_request_id(candidate):
    """The incoming id when it is a sensible token, otherwise a new one."""
    if candidate and VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id():
    return _request_id.get()


@contextmanager
def request_id_bound(request_id=None):
    """Log lines inside carry `request_id` (a new one if none is given)."""
    token = _request_id.set(request_id or new_request_id())
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


def bind_task_request_id(sender, task_result, **kwargs):
    """A background task's lines carry the task's own id (the row in the task queue)."""
    _request_id.set(str(task_result.id))


def unbind_task_request_id(sender, task_result, **kwargs):
    _request_id.set("")


def axes_client_description(username, ip_address, user_agent, path_info, request):
    """How django-axes names a client in its log lines: by request id, not by person."""
    return f"request {getattr(request, 'request_id', None) or current_request_id() or '-'}"


# Filters ------------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the current one, or "-" outside any work."""

    def filter(self, record):
        record.request_id = _request_id.get() or "-"
        return True


def loggable_path(request):
    """The request's path for a log line, with a one-time token in it (a set-password link's)
    replaced: whoever reads the logs could use it before the member does."""
    match = getattr(request, "resolver_match", None)
    token = match.kwargs.get("token") if match else None
    return request.path.replace(token, REDACTED) if token else request.path


def secret_values():
    """The values that must never reach a log line or an error e-mail."""
    values = [settings.SELLER_CENTER_API_KEY, settings.SECRET_KEY]
    return [value for value in values if value and len(value) >= SHORTEST_REDACTED_SECRET]


def redact(text, values=None):
    for value in secret_values() if values is None else values:
        text = text.replace(value, REDACTED)
    return text


class RedactSecretsFilter(logging.Filter):
    """Takes the API key (and the signing key) out of a record before any handler sees it.

    The message is checked as rendered, because a secret can hide inside an argument's repr;
    the traceback is rendered and checked too, and formatters print that text instead of
    rendering the exception again. A record without a secret is left exactly as it was.
    """

    def filter(self, record):
        values = secret_values()
        if not values:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A malformed call: the handler reports it when formatting, as it would anyway.
            return True
        if _holds(message, values):
            record.msg, record.args = redact(message, values), None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if _holds(text, values):
                record.exc_text = text
        if record.exc_text:
            record.exc_text = redact(record.exc_text, values)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, values)
        for name, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, name, redact(value, values))
        return True


def _holds(text, values):
    return any(value in text for value in values)


class SkipFailingProbes(logging.Filter):
    """Keeps a failing health check out of Django's server-error log (and error e-mails).

    The 503 is the check's answer, not a fault, and a balancer asks again every few seconds;
    ClaimDesk's own request line reports it as a warning. Errors inside a probe still count.
    """

    def filter(self, record):
        request = getattr(record, "request", None)
        probe = getattr(request, "path", None) in PROBE_PATHS
        return not (probe and getattr(record, "status_code", None) == 503)


# Formatting ---------------------------------------------------------------------------------

_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Django hands the request itself to its loggers; its repr carries the query string, which may
# hold a customer's words typed into search.
_NEVER_LOGGED = frozenset({"request", "request_id"})


def _extras(record):
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _RECORD_ATTRIBUTES and name not in _NEVER_LOGGED
    }


class PlainFormatter(logging.Formatter):
    """Readable lines, stamped in UTC like the JSON ones: every process, whatever its time zone
    (Django sets TIME_ZONE's in its own), writes comparable times."""

    converter = time.gmtime
    default_msec_format = "%s.%03dZ"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, then extras."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RedactingAdminEmailHandler(AdminEmailHandler):
    """Django's error e-mail, with the secrets taken out of the finished text.

    The e-mail's traceback shows each frame's local variables, and Django hides only those of
    functions marked @sensitive_variables; redacting the rendered e-mail catches every copy.
    """

    def emit(self, record):
        # Django skips building the report when nobody would get it, but only for its own
        # send_mail; this handler overrides that, so it says so itself.
        if settings.ADMINS:
            super().emit(record)

    def send_mail(self, subject, message, *args, html_message=None, **kwargs):
        values = secret_values()
        if html_message is not None:
            # The HTML part shows values escaped; a key with & or < in it is spelled so there.
            html_message = redact(html_message, values + [escape(v) for v in values])
        super().send_mail(
            redact(subject, values),
            redact(message, values),
            *args,
            html_message=html_message,
            **kwargs,
        )


class RequestProofExceptionReporter(ExceptionReporter):
    """Django's error report, made even when the request's own data cannot be read.

    A request with more parameters than Django reads raises again each time its GET or POST
    is touched, and the report touches both: it is then made without the request.
    """

    def get_traceback_data(self):
        try:
            return super().get_traceback_data()
        except SuspiciousOperation:
            self.request = None
            return super().get_traceback_data()
