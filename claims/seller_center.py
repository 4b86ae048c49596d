"""The Seller Center Integration API client: the only code in ClaimDesk that speaks HTTP to it.

Every call has a connect and a read timeout, and every response body a total deadline and a
size limit. Reads are retried a bounded number of times on transient failures; approve and
reject are sent exactly once, whatever happens. Replies are checked and turned into typed
records, and failures into a small family of errors whose `.message` is safe to show a user.
The API key goes nowhere but the configured base URL: redirects are refused and the `next`
links of pages are never fetched.
"""

import email.utils
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import requests
import urllib3.exceptions
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.translation import gettext as _

from . import logs

logger = logging.getLogger(__name__)

CLAIMS_PATH = "/i2/claims/"
REASONS_PATH = "/i2/claim-reasons/"

CLAIM_FILTERS = frozenset(
    {
        "type",
        "status",
        "status__in",
        "created_at",
        "created_at__gte",
        "created_at__lte",
        "updated_at",
        "updated_at__gte",
        "updated_at__lte",
        "cancelled_by",
    }
)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Replies to a write that prove it was not applied; anything else after sending leaves the
# outcome unknown until the next sync reads the claim back.
NOT_APPLIED_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 422, 429})

UPSTREAM_TEXT_LIMIT = 300
FIELD_NAME_SHOWN = 80
MAX_UPSTREAM_MESSAGES = 10
READ_CHUNK_BYTES = 64 * 1024

_LANGUAGE_TAGS = {"en": "en-us", "tr": "tr-tr"}
# C0 and C1 controls plus the bidirectional overrides that can disguise untrusted text.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_REASON_IDS: dict[str, uuid.UUID] = {}
# The longest text each field may hold: the width of its column in ClaimDesk's tables. A
# longer value would stop the sync in PostgreSQL; refused here, the sync's error names it.
CLAIM_FIELD_LIMITS = {
    "package_item": 128,
    "product": 255,
    "return_code": 128,
    "return_tracking_number": 128,
    "type": 32,
    "status": 32,
}
REASON_TYPE_LIMIT = 32
# JSON escapes for what PostgreSQL cannot store in text or jsonb: NUL and lone surrogates
# (a valid pair is decoded to one character). Rare, so only a body holding one is walked.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_HEADER_SAFE = re.compile(r"[\x20-\x7e]*")
_REQUEST_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


# Errors -------------------------------------------------------------------------------------


class SellerCenterError(Exception):
    """Base of every failure talking to the Seller Center.

    `message` is safe to show a user: it never holds the API key, a header or a whole
    upstream body. `status` is the HTTP status of the reply, or None when there was none.
    """

    def __init__(self, message, *, status=None, latency_ms=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.latency_ms = latency_ms


class InvalidRequest(SellerCenterError):
    """The Seller Center refused the request (400 and the like); `messages` says why."""

    def __init__(self, message, *, messages=(), **kwargs):
        super().__init__(message, **kwargs)
        self.messages = list(messages)


class Unauthorized(SellerCenterError):
    """The API key was missing, wrong or not allowed (401, 403)."""


class NotFound(SellerCenterError):
    """No such claim, or not this seller's (404)."""


class Unavailable(SellerCenterError):
    """No usable answer: a timeout, a connection failure, a 5xx, or 429 after the retries.

    `outcome_unknown` is True when a write may have been applied anyway (the request was sent
    but no clear answer came back), False when it certainly was not.
    """

    def __init__(self, message, *, outcome_unknown=False, **kwargs):
        super().__init__(message, **kwargs)
        self.outcome_unknown = outcome_unknown


class BadResponse(Unavailable):
    """A reply ClaimDesk cannot use: not JSON, truncated, the wrong shape, too large, a
    redirect."""


class PaginationLimitExceeded(SellerCenterError):
    """The API kept announcing more pages than the configured cap allows."""


# Records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    id: uuid.UUID
    package_item: str
    product: str
    reason_id: uuid.UUID | None
    reason_subject: str
    reason_translations: dict[str, str]
    detail: str
    return_code: str
    return_tracking_number: str
    return_tracking_url: str
    type: str
    status: str
    created_at: datetime
    updated_at: datetime
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReasonRecord:
    id: uuid.UUID
    subject: str
    translations: dict[str, str]
    type: str
    created_at: datetime
    updated_at: datetime | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    count: int
    items: list
    has_more: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a write that the Seller Center accepted."""

    status: int
    latency_ms: int


class _FieldError(ValueError):
    def __init__(self, name, problem):
        # A name can hold a key the API chose (a translation's): shown and logged, it must
        # not forge a log line or flood a message.
        name = clean_upstream_text(name)[:FIELD_NAME_SHOWN]
        super().__init__(name, problem)
        self.name = name
        self.problem = problem


def _text(value, name):
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise _FieldError(name, "is not a string")


def _required_text(value, name):
    if type(value) is str:
        return value
    if value is None:
        raise _FieldError(name, "is missing")
    raise _FieldError(name, "is not a string")


def _limited(text, name, limit):
    if len(text) > limit:
        raise _FieldError(name, f"is longer than {limit} characters")
    return text


def _column_text(data, name):
    return _limited(_text(data.get(name), name), name, CLAIM_FIELD_LIMITS[name])


def _uuid(value, name):
    if value is None:
        raise _FieldError(name, "is missing")
    if type(value) is not str:
        raise _FieldError(name, "is not a string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _FieldError(name, "is not a UUID") from None


def _reason_uuid(value):
    # A handful of reasons recur across every page of claims: parse each id once.
    parsed = _REASON_IDS.get(value)
    if parsed is None:
        parsed = _uuid(value, "reason.id")
        if len(_REASON_IDS) >= 4096:
            _REASON_IDS.clear()
        _REASON_IDS[value] = parsed
    return parsed


def _datetime(value, name):
    if type(value) is not str:
        raise _FieldError(name, "is missing" if value is None else "is not a string")
    # fromisoformat alone would also take dates, week dates, the basic format and naive
    # times; the separators at fixed positions plus a time zone rule those out cheaply.
    try:
        if value[4:17:3] != "--T::":
            raise ValueError
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _FieldError(name, "is not an ISO 8601 date-time") from None
    tzinfo = parsed.tzinfo
    if tzinfo is UTC:
        return parsed
    if tzinfo is None:
        raise _FieldError(name, "has no time zone")
    return parsed.astimezone(UTC)


def _translations(value, name):
    if value is None:
        return {}
    if type(value) is not dict:
        raise _FieldError(name, "is not an object")
    translations = {}
    for key, text in value.items():
        if type(text) is not str:
            if text is None:
                continue
            raise _FieldError(f"{name}.{key}", "is not a string")
        translations[key.lower()] = text
    return translations


def _claim(data):
    if type(data) is not dict:
        raise _FieldError("claim", "is not an object")
    get = data.get
    reason = get("reason")
    if reason is None:
        reason_id, reason_subject, reason_translations = None, "", {}
    elif type(reason) is dict:
        reason_id = reason.get("id")
        reason_id = None if reason_id is None else _reason_uuid(reason_id)
        reason_subject = _text(reason.get("subject"), "reason.subject")
        reason_translations = _translations(reason.get("translations"), "reason.translations")
    else:
        raise _FieldError("reason", "is not an object")
    created = get("created_at")
    created_at = _datetime(created, "created_at")
    updated = get("updated_at")
    updated_at = created_at if updated == created else _datetime(updated, "updated_at")
    limits = CLAIM_FIELD_LIMITS
    return ClaimRecord(
        id=_uuid(get("id"), "id"),
        package_item=_column_text(data, "package_item"),
        product=_column_text(data, "product"),
        reason_id=reason_id,
        reason_subject=reason_subject,
        reason_translations=reason_translations,
        detail=_text(get("detail"), "detail"),
        return_code=_column_text(data, "return_code"),
        return_tracking_number=_column_text(data, "return_tracking_number"),
        return_tracking_url=_text(get("return_tracking_url"), "return_tracking_url"),
        type=_limited(_required_text(get("type"), "type"), "type", limits["type"]),
        status=_limited(_required_text(get("status"), "status"), "status", limits["status"]),
        created_at=created_at,
        updated_at=updated_at,
        raw=data,
    )


def _reason(data):
    if type(data) is not dict:
        raise _FieldError("reason", "is not an object")
    get = data.get
    updated_at = get("updated_at")
    return ReasonRecord(
        id=_uuid(get("id"), "id"),
        subject=_text(get("subject"), "subject"),
        translations=_translations(get("translations"), "translations"),
        type=_limited(_text(get("type"), "type"), "type", REASON_TYPE_LIMIT),
        created_at=_datetime(get("created_at"), "created_at"),
        updated_at=None if updated_at is None else _datetime(updated_at, "updated_at"),
        raw=data,
    )


def _unreadable_record(kind, name, problem):
    return BadResponse(
        _("The Seller Center sent a %(kind)s ClaimDesk cannot read: %(field)s %(problem)s.")
        % {"kind": kind, "field": name, "problem": problem}
    )


def parse_claim(data) -> ClaimRecord:
    """One claim object from the API as a ClaimRecord; BadResponse naming the field if not."""
    try:
        return _claim(data)
    except _FieldError as error:
        raise _unreadable_record("claim", error.name, error.problem) from None


def parse_reason(data) -> ReasonRecord:
    """One claim reason object from the API as a ReasonRecord; BadResponse if not."""
    try:
        return _reason(data)
    except _FieldError as error:
        raise _unreadable_record("claim reason", error.name, error.problem) from None


# Helpers ------------------------------------------------------------------------------------


def accept_language(language_code):
    """The Accept-Language value for a Django language code: "tr" -> "tr-tr"."""
    if not language_code:
        return ""
    tag = language_code.strip().lower().replace("_", "-")
    return _LANGUAGE_TAGS.get(tag, tag)


def format_datetime(value):
    """An aware datetime as the API writes them: UTC, milliseconds, a trailing Z."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("Seller Center filters need timezone-aware datetimes.")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def clean_upstream_text(text, secret=""):
    """Untrusted text from the API made safe to show and log: no controls, bounded length."""
    text = _CONTROL_CHARACTERS.sub(" ", str(text)).strip()
    if secret:
        text = text.replace(secret, "[redacted]")
    if len(text) > UPSTREAM_TEXT_LIMIT:
        text = text[: UPSTREAM_TEXT_LIMIT - 1].rstrip() + "…"
    return text


def _query_value(name, value):
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        raise ValueError(f"The {name} filter needs a datetime, not a date.")
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def claim_filters(filters):
    """The query parameters for CLM001 filters; None values are left out."""
    unknown = set(filters) - CLAIM_FILTERS
    if unknown:
        raise TypeError(f"Unknown Seller Center claim filters: {', '.join(sorted(unknown))}")
    return {
        name: _query_value(name, value) for name, value in filters.items() if value is not None
    }


def _retry_after_seconds(value):
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def _nothing_sent(error):
    """Whether a requests exception happened before any byte of the request left."""
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(error, requests.exceptions.ProxyError):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)


def _upstream_messages(data, secret, prefix="", depth=0):
    """Messages from the three documented 400 shapes: detail, non_field_errors, per field."""
    if isinstance(data, str):
        text = clean_upstream_text(data, secret)
        if not text:
            return []
        return [f"{prefix}: {text}" if prefix else text]
    if depth > 3:
        return []
    messages = []
    if isinstance(data, list):
        for item in data:
            messages += _upstream_messages(item, secret, prefix, depth + 1)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key == "code" and not prefix:
                continue
            name = clean_upstream_text(key, secret)[:FIELD_NAME_SHOWN]
            if not prefix and name in ("detail", "non_field_errors"):
                name = ""
            elif prefix:
                name = f"{prefix}.{name}"
            messages += _upstream_messages(value, secret, name, depth + 1)
    return messages[:MAX_UPSTREAM_MESSAGES]


class _KeyAuth(requests.auth.AuthBase):
    # An auth object rather than a plain header, so that credentials from a .netrc file can
    # never replace the key.
    def __init__(self, value):
        self._value = value

    def __call__(self, request):
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self):
        return "<_KeyAuth>"


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str
    retry_after: str
    latency_ms: int


# The client ---------------------------------------------------------------------------------


class SellerCenterClient:
    """One seller's connection to the Seller Center. Every argument defaults from settings."""

    def __init__(
        self,
        *,
        base_url=None,
        api_key=None,
        auth_scheme=None,
        connect_timeout=None,
        read_timeout=None,
        read_retries=None,
        backoff=None,
        max_retry_after=None,
        page_size=None,
        max_pages=None,
        max_body_bytes=None,
        language=None,
        request_id=None,
        session=None,
    ):
        self.base_url = _setting(base_url, "SELLER_CENTER_URL").rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ImproperlyConfigured("SELLER_CENTER_URL must be an http(s) URL.")
        self.connect_timeout = float(_setting(connect_timeout, "SELLER_CENTER_CONNECT_TIMEOUT"))
        self.read_timeout = float(_setting(read_timeout, "SELLER_CENTER_TIMEOUT"))
        self.read_retries = max(int(_setting(read_retries, "SELLER_CENTER_READ_RETRIES")), 0)
        self.backoff = max(float(_setting(backoff, "SELLER_CENTER_BACKOFF")), 0.0)
        self.max_retry_after = float(_setting(max_retry_after, "SELLER_CENTER_MAX_RETRY_AFTER"))
        self.page_size = int(_setting(page_size, "SELLER_CENTER_PAGE_SIZE"))
        self.max_pages = int(_setting(max_pages, "SELLER_CENTER_MAX_PAGES"))
        self.max_body_bytes = int(_setting(max_body_bytes, "SELLER_CENTER_MAX_BODY_BYTES"))
        if self.page_size < 1 or self.max_pages < 1 or self.max_body_bytes < 1:
            raise ImproperlyConfigured(
                "SELLER_CENTER_PAGE_SIZE, _MAX_PAGES and _MAX_BODY_BYTES must be positive."
            )

        self._api_key = _setting(api_key, "SELLER_CENTER_API_KEY").strip()
        scheme = _setting(auth_scheme, "SELLER_CENTER_AUTH_SCHEME").strip()
        credentials = f"{scheme} {self._api_key}" if scheme else self._api_key
        if not _HEADER_SAFE.fullmatch(credentials):
            raise ImproperlyConfigured(
                "SELLER_CENTER_API_KEY and SELLER_CENTER_AUTH_SCHEME may hold only printable "
                "ASCII characters."
            )
        self._auth = _KeyAuth(credentials)

        if language is None:
            language = accept_language(settings.LANGUAGE_CODE)
        self.language = language
        self.request_id = _REQUEST_ID_UNSAFE.sub("", str(request_id))[:64] if request_id else ""
        self._headers = {"Accept": "application/json", "User-Agent": "ClaimDesk"}
        if self.language:
            self._headers["Accept-Language"] = self.language
        if self.request_id:
            self._headers["X-Request-ID"] = self.request_id

        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()

    def close(self):
        if self._owns_session:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # Public calls ---------------------------------------------------------------------------

    def claim_pages(self, **filters) -> Iterator[Page]:
        """CLM001, page by page. Filters as documented; datetimes are sent in UTC."""
        return self._pages(CLAIMS_PATH, claim_filters(filters), _claim, "claim")

    def reason_pages(self) -> Iterator[Page]:
        """CLM004, page by page."""
        return self._pages(REASONS_PATH, {}, _reason, "claim reason")

    def approve(self, claim_id) -> Outcome:
        """CLM002, sent exactly once."""
        return self._write(f"{CLAIMS_PATH}{_claim_uuid(claim_id)}/approve/", None)

    def reject(self, claim_id, reason, images: Iterable[str] = ()) -> Outcome:
        """CLM003, sent exactly once. Limits on reason and images are the forms' business."""
        payload = {"reason": reason, "images": list(images)}
        return self._write(f"{CLAIMS_PATH}{_claim_uuid(claim_id)}/reject/", payload)

    # Pagination -----------------------------------------------------------------------------

    def _pages(self, path, filters, parse, kind):
        limit = self.page_size
        for number in range(1, self.max_pages + 1):
            data = self._read(path, {**filters, "page": number, "limit": limit})
            count, more, results = _page_parts(data, path, number)
            items = _parse_results(results, parse, kind, number)
            # `next` may name another host: it only says whether there is more.
            has_more = more and bool(results) and number * limit < count
            yield Page(number=number, count=count, items=items, has_more=has_more)
            if not has_more:
                return
        logger.warning(
            "Seller Center %s still had more after %s pages of %s", path, self.max_pages, limit
        )
        raise PaginationLimitExceeded(
            _("The Seller Center announced more than %(pages)s pages; ClaimDesk stopped there.")
            % {"pages": self.max_pages}
        )

    # Requests -------------------------------------------------------------------------------

    def _read(self, path, params):
        attempts = self.read_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                reply = self._send("GET", path, params)
            except BadResponse as error:
                self._warn("GET", path, error, attempt)
                raise
            except Unavailable as error:
                if attempt == attempts:
                    self._warn("GET", path, error, attempt)
                    raise
                self._wait("GET", path, type(error).__name__, attempt, attempts, None)
                continue
            if reply.status in RETRYABLE_STATUSES and attempt < attempts:
                retry_after = _retry_after_seconds(reply.retry_after)
                self._wait("GET", path, reply.status, attempt, attempts, retry_after)
                continue
            return self._json(self._checked("GET", path, reply, attempt), "GET", path)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _write(self, path, payload):
        # Never retried: a write that timed out may have been applied, and only a sync can
        # tell. The caller records it as unconfirmed instead.
        try:
            reply = self._send("POST", path, None, payload)
        except SellerCenterError as error:
            self._warn("POST", path, error, 1)
            raise
        reply = self._checked("POST", path, reply, 1)
        return Outcome(status=reply.status, latency_ms=reply.latency_ms)

    def _send(self, method, path, params=None, payload=None):
        started = time.monotonic()
        writing = method != "GET"
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=payload,
                headers=self._headers,
                auth=self._auth,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as error:
            raise _transport_error(error, writing, _elapsed_ms(started)) from None

        try:
            body = self._body(response, started, writing)
        except Unavailable as error:
            if not (writing and 200 <= response.status_code < 300):
                error.status = response.status_code
                error.outcome_unknown = (
                    writing and response.status_code not in NOT_APPLIED_STATUSES
                )
                raise
            # The status line already says the write was applied; its body is irrelevant.
            body = b""
        finally:
            response.close()
        return _Reply(
            status=response.status_code,
            body=body,
            content_type=response.headers.get("Content-Type", ""),
            retry_after=response.headers.get("Retry-After", ""),
            latency_ms=_elapsed_ms(started),
        )

    def _body(self, response, started, writing):
        # iter_content() blocks until a whole chunk has arrived, so a body dripping a few
        # bytes a second could hold a sync for hours. read1() returns whatever one socket read
        # delivers, so the deadline is checked at least once per read timeout.
        deadline = started + 2 * self.read_timeout
        limit = self.max_body_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks = []
        size = 0
        try:
            while True:
                chunk = response.raw.read1(READ_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise Unavailable(
                        _("The Seller Center took too long to send its reply."),
                        outcome_unknown=writing,
                    )
        except urllib3.exceptions.DecodeError:
            raise BadResponse(
                _("The Seller Center sent a reply that could not be decoded.")
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise Unavailable(
                _("The Seller Center broke off its reply (%(error)s).")
                % {"error": type(error).__name__},
                outcome_unknown=writing,
            ) from None
        return b"".join(chunks)

    def _checked(self, method, path, reply, attempt):
        """The reply itself if it is a success, else the matching error."""
        status = reply.status
        if 200 <= status < 300:
            return reply
        error = self._status_error(method, reply)
        self._warn(method, path, error, attempt)
        raise error

    def _status_error(self, method, reply):
        status = reply.status
        common = {"status": status, "latency_ms": reply.latency_ms}
        writing = method != "GET"
        if status in (401, 403):
            return Unauthorized(
                _("The Seller Center refused ClaimDesk's API key (HTTP %(status)s).")
                % {"status": status},
                **common,
            )
        if status == 404:
            return NotFound(_("The Seller Center does not know this claim (HTTP 404)."), **common)
        if status == 429:
            return Unavailable(
                _("The Seller Center asked ClaimDesk to slow down (HTTP 429). Try again shortly."),
                **common,
            )
        if 400 <= status < 500:
            messages = _upstream_messages(_loads_or_none(reply.body), self._api_key)
            if messages:
                message = clean_upstream_text("; ".join(messages))
            else:
                message = _("The Seller Center refused the request (HTTP %(status)s).") % {
                    "status": status
                }
            return InvalidRequest(message, messages=messages, **common)
        if 500 <= status < 600:
            return Unavailable(
                _("The Seller Center is unavailable (HTTP %(status)s).") % {"status": status},
                outcome_unknown=writing,
                **common,
            )
        if 300 <= status < 400:
            problem = _("a redirect, which ClaimDesk does not follow")
        else:
            problem = _("an unexpected HTTP status")
        return BadResponse(
            _("The Seller Center answered with %(problem)s (HTTP %(status)s).")
            % {"problem": problem, "status": status},
            outcome_unknown=writing,
            **common,
        )

    def _json(self, reply, method, path):
        content_type = reply.content_type.lower()
        if content_type and "json" not in content_type:
            error = BadResponse(
                _("The Seller Center sent %(type)s instead of JSON.")
                % {"type": "HTML" if "html" in content_type else _("a non-JSON reply")},
                status=reply.status,
                latency_ms=reply.latency_ms,
            )
        else:
            try:
                return _loads(reply.body)
            except (ValueError, RecursionError):
                error = BadResponse(
                    _("The Seller Center sent incomplete or invalid JSON."),
                    status=reply.status,
                    latency_ms=reply.latency_ms,
                )
        self._warn(method, path, error, None)
        raise error

    def _wait(self, method, path, problem, attempt, attempts, retry_after):
        if retry_after is None:
            delay = self.backoff * 2 ** (attempt - 1)
            delay += random.uniform(0, delay / 10)  # noqa: S311 - jitter, not a secret
        else:
            delay = min(retry_after, self.max_retry_after)
        logger.warning(
            "Seller Center %s %s failed with %s (attempt %s of %s); retrying in %.2f s",
            method,
            path,
            problem,
            attempt,
            attempts,
            delay,
        )
        _sleep(delay)

    def _warn(self, method, path, error, attempt):
        logger.warning(
            "Seller Center %s %s: %s (status %s, attempt %s)",
            method,
            path,
            type(error).__name__,
            error.status,
            attempt,
        )


# Kept as a module attribute so tests can observe the waits without sleeping.
_sleep = time.sleep


def _setting(value, name):
    return getattr(settings, name) if value is None else value


def _elapsed_ms(started):
    return round((time.monotonic() - started) * 1000)


def _claim_uuid(claim_id):
    # A UUID in the path cannot smuggle "../" or a query into the URL.
    return claim_id if isinstance(claim_id, uuid.UUID) else uuid.UUID(str(claim_id))


def _too_large(limit):
    return BadResponse(
        _("The Seller Center sent a reply larger than %(limit)s bytes.") % {"limit": limit}
    )


def _transport_error(error, writing, latency_ms):
    if isinstance(error, requests.exceptions.Timeout):
        message = _("The Seller Center did not answer in time.")
    elif isinstance(error, requests.exceptions.ConnectionError):
        message = _("The Seller Center could not be reached.")
    else:
        message = _("The request to the Seller Center failed (%(error)s).") % {
            "error": type(error).__name__
        }
    return Unavailable(
        message, outcome_unknown=writing and not _nothing_sent(error), latency_ms=latency_ms
    )


def _finite(text):
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("JSON has no infinite numbers")
    return number


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _loads(body):
    """Strict JSON, as PostgreSQL's jsonb can store it: no NaN or Infinity, no NUL, no lone
    surrogate (those two become U+FFFD). Nesting too deep raises RecursionError."""
    data = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    if _UNSTORABLE_ESCAPE.search(body):
        data = _storable(data)
    return data


def _storable(value):
    if type(value) is str:
        return _UNSTORABLE.sub("\ufffd", value)
    if type(value) is list:
        return [_storable(item) for item in value]
    if type(value) is dict:
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _loads_or_none(body):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _page_parts(data, path, number):
    if type(data) is not dict:
        problem = _("not an object")
    else:
        count, more, results = data.get("count"), data.get("next"), data.get("results")
        if type(count) is not int or count < 0:
            problem = _("no valid count")
        elif type(results) is not list:
            problem = _("no list of results")
        elif more is not None and type(more) is not str:
            problem = _("a next link that is not a string")
        else:
            return count, more is not None, results
    logger.warning("Seller Center GET %s page %s: %s", path, number, problem)
    raise BadResponse(
        _("The Seller Center sent a page ClaimDesk cannot read (%(problem)s).")
        % {"problem": problem}
    )


def _parse_results(results, parse, kind, page_number):
    try:
        return [parse(item) for item in results]
    except _FieldError:
        pass
    # Only on failure: find which record it was, for the message.
    for index, item in enumerate(results, start=1):
        try:
            parse(item)
        except _FieldError as error:
            logger.warning(
                "Seller Center page %s: %s %s has field %s that %s",
                page_number,
                kind,
                index,
                error.name,
                error.problem,
            )
            raise BadResponse(
                _(
                    "The Seller Center sent a %(kind)s ClaimDesk cannot read (page %(page)s, "
                    "item %(index)s): %(field)s %(problem)s."
                )
                % {
                    "kind": kind,
                    "page": page_number,
                    "index": index,
                    "field": error.name,
                    "problem": error.problem,
                }
            ) from None
    raise AssertionError("unreachable: a record failed once and then parsed")


def client_for(request=None, **overrides) -> SellerCenterClient:
    """A client from settings, speaking the request's language and carrying its request id.

    Without a request, the language is the one active (a member's, for their decisions and
    refreshes and their bulk runs in the background) and the id that of the work under way:
    a sync run or a background task.
    """
    options = {}
    request_id = logs.current_request_id()
    language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language()
    if language:
        options["language"] = accept_language(language)
    if request is not None:
        request_id = getattr(request, "request_id", None) or request_id
    if request_id:
        options["request_id"] = request_id
    options.update(overrides)
    return SellerCenterClient(**options)
