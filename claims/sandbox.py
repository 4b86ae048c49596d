"""A stand-in Seller Center Integration API, served over real HTTP on a loopback address.

It implements the claims part of the contract in the shared API notes: `GET /i2/claims/`,
`POST /i2/claims/{id}/approve/`, `POST /i2/claims/{id}/reject/` and `GET /i2/claim-reasons/`,
with the documented pagination, filters, errors and authentication. The demo (`manage.py
sandbox`), the test-suite and the benchmarks all talk to it.

Data are generated deterministically from a seed: the same seed gives the same ids, texts and
statuses; dates are offsets from the moment the sandbox was created, so claims always look a
few days to eight weeks old.

Reads are fast: every claim's JSON is serialised once (again only when the claim changes) and
the filtered, ordered list of claims is cached per filter set until the data change.

Faults (errors, throttling, canned bodies, delays, latency) can be injected for the next
requests, and every request received is recorded, so tests can check what a client sent.

Only the standard library is used.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import re
import threading
import uuid
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from json.encoder import encode_basestring as _encode_string
from socket import AF_INET6, SHUT_RDWR
from socketserver import TCPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

logger = logging.getLogger(__name__)

__all__ = [
    "Faults",
    "RecordedRequest",
    "Sandbox",
    "format_timestamp",
    "generate_claims",
    "generate_reasons",
]

API_PREFIX = "/api"
CLAIMS_PATH = "/api/i2/claims/"
REASONS_PATH = "/api/i2/claim-reasons/"
DECISION_PATH = re.compile(r"^/api/i2/claims/([^/]+)/(approve|reject)/$")
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

DEFAULT_LIMIT = 10
MAX_REQUEST_BODY = 10 * 2**20
_CACHE_ENTRIES = 64
_LOG_ENTRIES = 100_000
_SEND_APART_BYTES = 1 << 20

_EPOCH = datetime(1970, 1, 1)  # naive UTC: isoformat() then gives no offset
_MINUTE = 60 * 10**6
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

# Statuses of the contract, plus the one the live marketplace uses for a claim the customer
# withdrew. It is deliberately not a documented value: clients must keep unknown ones.
WAITING = "waiting"
OPEN = "open"
APPROVED = "approved"
REJECTED = "rejected"
COMPLETED = "completed"
CANCELLED_UPSTREAM = "cancelled"

CUSTOMER = 1
SELLER = 2


# --------------------------------------------------------------------------- time helpers


def _to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value.astimezone(UTC).replace(tzinfo=None) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


def _now_micros() -> int:
    """The current time in microseconds, truncated to whole milliseconds like the API."""
    return _to_micros(datetime.now(UTC)) // 1000 * 1000


def format_timestamp(micros: int) -> str:
    """`2025-05-22T11:36:17.718Z`: ISO 8601 in UTC with milliseconds, as the API sends."""
    return (_EPOCH + timedelta(microseconds=micros)).isoformat(timespec="milliseconds") + "Z"


def _parse_timestamp(text: str) -> int | None:
    """A filter or field value: ISO 8601, with or without fraction, `Z` or an offset."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return _to_micros(value)


def _coerce_timestamp(value) -> int:
    if isinstance(value, datetime):
        return _to_micros(value)
    if isinstance(value, str):
        micros = _parse_timestamp(value)
        if micros is not None:
            return micros
    raise ValueError(f"not a date-time: {value!r}")


# ---------------------------------------------------------------------------- generation

# (type, English subject, Turkish translation)
_REASONS = [
    ("refund", "Damaged product", "Hasarlı ürün"),
    ("refund", "Wrong size", "Yanlış beden"),
    ("refund", "Changed my mind within the return period", "İade süresi içinde vazgeçtim"),
    ("refund", "Product does not match the description", "Ürün açıklamayla uyuşmuyor"),
    ("refund", "Wrong product delivered", "Yanlış ürün gönderildi"),
    ("refund", "Defective product", "Ürün kusurlu çıktı"),
    ("refund", "Missing parts or accessories", "Eksik parça veya aksesuar"),
    ("refund", "Colour differs from the picture", "Renk görseldekinden farklı"),
    ("cancel", "Shipping was delayed", "Kargo gecikti"),
    ("cancel", "Order placed by mistake", "Sipariş yanlışlıkla verildi"),
    ("cancel", "Found a better price elsewhere", "Başka yerde daha uygun fiyat buldum"),
    ("cancel", "I want to change the delivery address", "Teslimat adresini değiştirmek istiyorum"),
]

_DETAILS_TR = [
    "Ürün kargodan hasarlı çıktı, kutusu ezilmişti.",
    "Bedeni küçük geldi, bir beden büyüğünü sipariş edeceğim.",
    "Rengi fotoğraftakinden çok farklı, daha açık bir ton geldi.",
    "Kumaşı çok ince, açıklamada kalın yazıyordu.",
    "Sipariş ettiğim ürün yerine başka bir ürün geldi.",
    "Fermuarı ilk gün bozuldu.",
    "Kargo bir haftadır yola çıkmadı, siparişimi iptal edin lütfen.",
    "Yanlışlıkla iki adet sipariş verdim, birini iptal etmek istiyorum.",
    "Ürünü hiç kullanmadım, etiketi üzerinde duruyor.",
    "Dikişleri sökük geldi. Fotoğrafları ekledim.",
    "Iğdır'daki adrese teslimat çok uzun sürüyor.",
    "Şişme mont değil, açıklamada öyle yazıyordu.",
    "İç çamaşırı değil ama paketi açılmış geldi.",
    "Ayakkabının tabanı ayrılmış, giyemiyorum.",
    "Teşekkürler, iadeyi en kısa sürede onaylarsanız sevinirim.",
]

_DETAILS_EN = [
    "The item arrived damaged, the box was crushed.",
    "Too small, I need one size up.",
    "The colour is very different from the photos.",
    "I received a different product from the one I ordered.",
    "The zip broke on the first day.",
    "Ordered twice by mistake, please cancel one of them.",
    "Delivery is taking far too long.",
    "Never worn, tags still attached.",
    "The sole came off after two days.",
    "Please process the refund to my original card.",
]

_DETAIL_MARKUP = 'Ürün <b>kırık</b> geldi & kutusu "ezik" <script>alert(1)</script>'

# (code, sizes); an empty tuple means one size.
_PRODUCTS = [
    ("TSHRT", ("XS", "S", "M", "L", "XL")),
    ("HOODY", ("S", "M", "L", "XL", "XXL")),
    ("JEAN", ("28", "30", "32", "34", "36")),
    ("DRESS", ("34", "36", "38", "40", "42")),
    ("JCKT", ("S", "M", "L", "XL")),
    ("SNKR", ("38", "39", "40", "41", "42", "43", "44")),
    ("BOOT", ("37", "38", "39", "40", "41")),
    ("SHRT", ("S", "M", "L", "XL")),
    ("SCARF", ()),
    ("BAG", ()),
    ("CAP", ()),
    ("SOCK", ("36-40", "41-45")),
]
_COLOURS = ("RD", "BL", "BK", "WH", "GR", "NV", "BG", "YL", "PK")

_CARRIERS = (
    "https://tracking.example.com/track?number={}",
    "https://kargo.example.net/takip/{}",
    "https://cargo.example.org/shipments/{}?lang=tr",
)


def generate_reasons(seed: int = 7) -> list[dict]:
    """The catalogue of claim reasons for a seed (CLM004 objects), oldest first."""
    rng = random.Random(f"reasons:{seed}")
    start = _to_micros(datetime(2024, 3, 1, 9, 0, tzinfo=UTC))
    reasons = []
    for index, (kind, subject, turkish) in enumerate(_REASONS):
        created = start + index * 3 * _DAY + rng.randrange(0, 8 * _HOUR) // 1000 * 1000
        updated = created
        if rng.random() < 0.4:
            updated = created + rng.randrange(_DAY, 90 * _DAY) // 1000 * 1000
        reasons.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "subject": subject,
                "translations": {"en-us": subject, "tr-tr": turkish},
                "type": kind,
                "created_at": format_timestamp(created),
                "updated_at": format_timestamp(updated),
            }
        )
    return reasons


def _embedded_reason(reason: dict) -> dict:
    return {
        "id": reason["id"],
        "subject": reason["subject"],
        "translations": reason["translations"],
    }


class _ClaimFactory:
    """Draws claims from one random stream; the draws never depend on the clock."""

    def __init__(self, rng: random.Random, reasons: list[dict]):
        self.rng = rng
        self.random = rng.random
        self.refund_reasons = [_embedded_reason(r) for r in reasons if r["type"] == "refund"]
        self.cancel_reasons = [_embedded_reason(r) for r in reasons if r["type"] == "cancel"]
        self.all_reasons = self.refund_reasons + self.cancel_reasons

    def pick(self, items):
        return items[int(self.random() * len(items))]

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high): cheaper than randrange, plenty for test data."""
        return low + int(self.random() * (high - low))

    def detail(self) -> str | None:
        roll = self.random()
        if roll < 0.10:
            return None
        if roll < 0.13:
            return ""
        if roll < 0.14:
            return _DETAIL_MARKUP
        pool = _DETAILS_TR if self.random() < 0.7 else _DETAILS_EN
        if roll < 0.17:
            # A long complaint, several paragraphs.
            parts = [self.pick(pool) for _ in range(self.between(12, 31))]
            return "\n\n".join(" ".join(parts[i : i + 4]) for i in range(0, len(parts), 4))
        parts = [self.pick(pool) for _ in range(self.between(1, 4))]
        return ("\n" if self.random() < 0.3 else " ").join(parts)

    def product(self) -> str:
        code, sizes = self.pick(_PRODUCTS)
        sku = f"AKN-{code}-{self.pick(_COLOURS)}"
        return f"{sku}-{self.pick(sizes)}" if sizes else sku

    def claim(self, status: str, created: int, updated: int) -> dict:
        """One claim payload with this status and these dates (microseconds)."""
        rng, random_ = self.rng, self.random
        claim_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        is_refund = random_() < 0.7
        package_item = f"{self.between(10**15, 10**16)}-{self.between(1, 5)}"
        product = self.product()
        reasons = (self.refund_reasons if is_refund else self.cancel_reasons) or self.all_reasons
        reason = None if random_() < 0.03 else self.pick(reasons)
        payload = {
            "id": claim_id,
            "package_item": package_item,
            "product": product,
            "reason": reason,
            "detail": self.detail(),
        }
        if is_refund:
            payload["return_code"] = f"R-{self.between(10**6, 10**7)}"
            if status == OPEN and random_() < 0.5:
                payload["return_tracking_number"] = None
                payload["return_tracking_url"] = None
            else:
                number = str(self.between(10**9, 10**12))
                payload["return_tracking_number"] = number
                payload["return_tracking_url"] = self.pick(_CARRIERS).format(number)
            payload["type"] = "refund"
            cancelled_by = None
        else:
            # A cancellation has no return shipment: the fields are null or absent.
            if random_() < 0.5:
                payload["return_code"] = None
                payload["return_tracking_number"] = None
                payload["return_tracking_url"] = None
            payload["type"] = "cancel"
            cancelled_by = CUSTOMER if random_() < 0.85 else SELLER
        payload["status"] = status
        payload["cancelled_by"] = cancelled_by
        payload["created_at"] = format_timestamp(created)
        payload["updated_at"] = format_timestamp(updated)
        return payload


_STATUS_WEIGHTS = [
    (0.60, WAITING),
    (0.70, OPEN),
    (0.80, APPROVED),
    (0.88, REJECTED),
    (1.00, COMPLETED),
]

# Time from creation to the last change, per status: (low, high) in microseconds.
_STATUS_STEPS = {
    OPEN: (0, 10 * _MINUTE),
    WAITING: (_MINUTE, 2 * _HOUR),
    APPROVED: (_HOUR, 5 * _DAY),
    REJECTED: (_HOUR, 5 * _DAY),
    COMPLETED: (3 * _DAY, 14 * _DAY),
}


def _generate(count: int, seed: int, reasons: list[dict], now: int, serialise=False):
    """Yield (payload, created, updated, JSON or None) for `count` claims.

    Times are in microseconds.
    """
    rng = random.Random(f"claims:{seed}")
    factory = _ClaimFactory(rng, reasons)
    dumps = _FlatSerialiser(factory.all_reasons) if serialise else None
    random_, between, expovariate = rng.random, factory.between, rng.expovariate
    horizon = 56 * _DAY
    waiting_mean = 1 / (3 * _DAY)
    for _ in range(count):
        roll = random_()
        status = next(s for limit, s in _STATUS_WEIGHTS if roll < limit)
        if status in (WAITING, OPEN):
            # Undecided claims are mostly recent, with a tail of old ones.
            age = min(int(expovariate(waiting_mean)), horizon)
        else:
            age = between(_HOUR, horizon)
        created = (now - age) // 1000 * 1000
        step = between(*_STATUS_STEPS[status]) // 1000 * 1000
        updated = min(created + step, now)
        payload = factory.claim(status, created, updated)
        yield payload, created, updated, (dumps(payload) if dumps else None)


def generate_claims(count: int, seed: int, reasons: list[dict], now: datetime) -> list[dict]:
    """`count` claim payloads for a seed, dated up to eight weeks before `now`.

    The same seed gives the same ids, texts and statuses whatever `now` is.
    """
    return [payload for payload, *_ in _generate(count, seed, reasons, _to_micros(now))]


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(payload) -> bytes:
    return _ENCODER.encode(payload).encode()


class _FlatSerialiser:
    """Serialises generated claims several times faster than the json module.

    A generated claim is flat (strings, integers, nulls) apart from its reason, which is
    one of a few shared objects serialised once. Anything else falls back to `_dumps`; the
    output is byte for byte what `_dumps` gives.
    """

    def __init__(self, shared: list[dict]):
        # Keyed by identity; the objects are kept so that an id cannot be reused.
        self._shared = {id(item): (item, _ENCODER.encode(item)) for item in shared}
        self._keys: dict[str, str] = {}

    def __call__(self, payload: dict) -> bytes:
        parts = []
        keys, shared = self._keys, self._shared
        for key, value in payload.items():
            prefix = keys.get(key)
            if prefix is None:
                if type(key) is not str:
                    return _dumps(payload)
                prefix = keys[key] = _encode_string(key) + ":"
            kind = type(value)
            if kind is str:
                parts.append(prefix + _encode_string(value))
            elif value is None:
                parts.append(prefix + "null")
            elif kind is int:
                parts.append(prefix + str(value))
            else:
                entry = shared.get(id(value))
                if entry is None or entry[0] is not value:
                    return _dumps(payload)
                parts.append(prefix + entry[1])
        return ("{" + ",".join(parts) + "}").encode()


# -------------------------------------------------------------------------------- faults


@dataclass
class _Rule:
    kind: str  # "fail", "respond" or "delay"
    remaining: int
    path_contains: str | None = None
    status: int = 500
    body: bytes = b""
    content_type: str = "text/html"
    headers: tuple = ()
    after_apply: bool = False
    drip: float | None = None
    seconds: float = 0.0

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path


def _as_bytes(body) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


class Faults:
    """Faults for the next requests. Each rule serves its `n` matching requests, then goes.

    Rules are consumed in the order they were added; one request uses at most one rule.
    `latency` is different: it stays until changed or cleared and adds to every request.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._latency = 0.0

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, float(seconds))

    def _add(self, rule: _Rule) -> None:
        if rule.remaining < 1:
            return
        with self._lock:
            self._rules.append(rule)

    def fail_next(
        self,
        n=1,
        status=500,
        body=b"",
        content_type="text/html",
        path_contains=None,
        after_apply=False,
    ):
        """Answer the next `n` requests with `status` and the raw `body`.

        With `after_apply`, the request is first handled normally (an approve or reject
        changes the claim) and the error replaces the real answer, like a gateway that
        times out after the upstream applied the decision.
        """
        self._add(
            _Rule(
                "fail",
                n,
                path_contains,
                status=status,
                body=_as_bytes(body),
                content_type=content_type,
                after_apply=after_apply,
            )
        )

    def rate_limit_next(self, n=1, retry_after=1, *, status=429, path_contains=None):
        """Answer the next `n` requests with 429 (or `status`, e.g. 503) and Retry-After."""
        seconds = f"{retry_after:g}" if isinstance(retry_after, int | float) else retry_after
        body = _dumps(
            {
                "detail": f"Request was throttled. Expected available in {seconds} seconds.",
                "code": "throttled",
            }
        )
        self._add(
            _Rule(
                "fail",
                n,
                path_contains,
                status=status,
                body=body,
                content_type="application/json",
                headers=(("Retry-After", str(seconds)),),
            )
        )

    def respond_next(
        self,
        n=1,
        *,
        status=200,
        body,
        content_type="application/json",
        drip_bytes_per_second=None,
        path_contains=None,
        headers=(),
    ):
        """Answer the next `n` requests with this raw response, maybe dripping it slowly.

        `headers` are extra (name, value) pairs, such as a redirect's Location.
        """
        self._add(
            _Rule(
                "respond",
                n,
                path_contains,
                status=status,
                body=_as_bytes(body),
                content_type=content_type,
                headers=tuple(headers),
                drip=drip_bytes_per_second,
            )
        )

    def delay_next(self, n=1, seconds=1.0, path_contains=None):
        """Sleep `seconds` before handling each of the next `n` requests normally."""
        self._add(_Rule("delay", n, path_contains, seconds=float(seconds)))

    def clear(self):
        with self._lock:
            self._rules.clear()
            self._latency = 0.0

    @property
    def pending(self) -> int:
        """How many requests the rules still apply to."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def _take(self, path: str) -> _Rule | None:
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self._rules[index]
                    return rule
        return None


# ------------------------------------------------------------------------ request record


class _Headers(dict):
    """A plain dict of the request headers whose lookups ignore case."""

    def _key(self, name):
        if dict.__contains__(self, name):
            return name
        lowered = name.lower() if isinstance(name, str) else name
        for key in self:
            if key.lower() == lowered:
                return key
        return name

    def __getitem__(self, name):
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name):
        return dict.__contains__(self, self._key(name))

    def get(self, name, default=None):
        key = self._key(name)
        return dict.get(self, key, default)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        headers = {
            key: ("<redacted>" if key.lower() == "authorization" else value)
            for key, value in self.headers.items()
        }
        return (
            f"RecordedRequest({self.method} {self.path} query={self.query!r} "
            f"headers={headers!r} body={self.body[:200]!r})"
        )


# -------------------------------------------------------------------------------- store


class _Claim:
    __slots__ = ("id", "payload", "blob", "created", "updated")

    def __init__(self, payload: dict, created: int, updated: int, blob: bytes | None = None):
        self.id = payload["id"]
        self.payload = payload
        self.created = created
        self.updated = updated
        self.blob = blob if blob is not None else _dumps(payload)

    @property
    def key(self):
        return (self.created, self.id)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple = ()


_TURKISH = {
    "Authentication credentials were not provided.": "Kimlik bilgileri sağlanmadı.",
    "Invalid token.": "Geçersiz token.",
    "Not found.": "Bulunamadı.",
    "Invalid page.": "Geçersiz sayfa.",
    "This field is required.": "Bu alan zorunludur.",
    "Enter a valid date/time.": "Geçerli bir tarih/saat girin.",
    "A valid integer is required.": "Geçerli bir tam sayı gereklidir.",
    "Ensure this value is greater than or equal to 1.": (
        "Bu değerin 1 veya daha büyük olduğundan emin olun."
    ),
    "Enter a number.": "Bir sayı girin.",
    "Not a valid string.": "Geçerli bir metin değil.",
    "Expected a list of items.": "Öğe listesi bekleniyordu.",
    "Enter a valid URL.": "Geçerli bir URL girin.",
    "Invalid data. Expected a dictionary.": "Geçersiz veri. Sözlük bekleniyordu.",
    "Only a claim waiting for approval can be approved or rejected.": (
        "Yalnızca onay bekleyen bir talep onaylanabilir veya reddedilebilir."
    ),
    "JSON parse error.": "JSON ayrıştırma hatası.",
    "Unsupported media type in request.": "İstekte desteklenmeyen medya türü.",
    'Method "{}" not allowed.': '"{}" metoduna izin verilmiyor.',
}


class _Request:
    def __init__(self, method, path, pairs, headers, body, origin):
        self.method = method
        self.path = path
        self.pairs = pairs
        self.query = dict(pairs)
        self.headers = headers
        self.body = body
        self.origin = origin
        language = (headers.get("Accept-Language") or "").strip().lower()
        self.turkish = language.startswith("tr")

    def text(self, message: str) -> str:
        return _TURKISH.get(message, message) if self.turkish else message

    def error(self, status: int, payload: dict, headers=()) -> _Response:
        def translate(value):
            if isinstance(value, list):
                return [self.text(item) for item in value]
            return self.text(value) if isinstance(value, str) else value

        body = {
            key: (value if key == "code" else translate(value)) for key, value in payload.items()
        }
        return _Response(status, _dumps(body), headers=headers)

    def page_url(self, page: int) -> str:
        pairs = [(k, v) for k, v in self.pairs if k != "page"]
        if page > 1:
            pairs.append(("page", str(page)))
        query = urlencode(pairs)
        return f"{self.origin}{self.path}" + (f"?{query}" if query else "")


_DATE_FILTERS = {
    "created_at": ("created", "eq"),
    "created_at__gte": ("created", "gte"),
    "created_at__lte": ("created", "lte"),
    "updated_at": ("updated", "eq"),
    "updated_at__gte": ("updated", "gte"),
    "updated_at__lte": ("updated", "lte"),
}


class Sandbox:
    """The stand-in Seller Center. Start it, point the client at `url`, stop it at the end."""

    def __init__(
        self,
        *,
        api_key: str,
        claims: int = 3000,
        seed: int = 7,
        live: bool = False,
        tick_seconds: float = 5.0,
    ):
        if not api_key:
            raise ValueError("the sandbox needs an api key")
        self.api_key = api_key
        self.seed = seed
        self.claim_count = claims
        self.live = live
        self.tick_seconds = tick_seconds
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []

        self._lock = threading.RLock()
        self._log_lock = threading.Lock()
        self._lifecycle = threading.RLock()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None
        self._url = None
        self._origin = None

        # Dates are offsets from this moment, fixed for the sandbox's life so reset() gives
        # back exactly the same data.
        self._anchor = _now_micros()
        self._reason_payloads = generate_reasons(seed)
        self._reason_blobs = [_dumps(r) for r in self._reason_payloads]
        # Claim records are never changed in place (a change makes a new record), so the
        # generated ones can be shared by every reset.
        pristine = [
            _Claim(payload, created, updated, blob)
            for payload, created, updated, blob in _generate(
                claims, seed, self._reason_payloads, self._anchor, serialise=True
            )
        ]
        pristine.sort(key=lambda claim: (claim.created, claim.id))
        self._pristine = pristine
        self._pristine_by_id = {claim.id: claim for claim in pristine}
        self._version = 0
        self._restore()

    # ------------------------------------------------------------------ lifecycle

    def start(self, host="127.0.0.1", port=0) -> Sandbox:
        """Serve in a background thread. Port 0 picks a free port; see `url`."""
        with self._lifecycle:
            if self._httpd is not None:
                raise RuntimeError("the sandbox is already serving")
            self._stopping.clear()
            httpd = _Server((host, port), _Handler, family=AF_INET6 if ":" in host else None)
            httpd.sandbox = self
            bound_port = httpd.server_address[1]
            netloc = f"[{host}]" if ":" in host else host
            self._origin = f"http://{netloc}:{bound_port}"
            self._url = self._origin + API_PREFIX
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"seller-center-sandbox:{bound_port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving. Safe to call more than once."""
        self._stopping.set()
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None:
                return
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
            if thread is not None:
                thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Block until stopped (or interrupted); with `live`, tick every `tick_seconds`."""
        if self._httpd is None:
            self.start()
        try:
            while True:
                wait = self.tick_seconds if self.live else 3600
                if self._stopping.wait(wait):
                    break
                if self.live:
                    self.tick()
        finally:
            self.stop()

    def __enter__(self):
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:54321/api`."""
        if self._url is None:
            raise RuntimeError("the sandbox is not serving; call start() first")
        return self._url

    # -------------------------------------------------------------------- data API

    def _restore(self) -> None:
        with self._lock:
            self._order = list(self._pristine)
            self._by_id = dict(self._pristine_by_id)
            self._live_rng = random.Random(f"live:{self.seed}")
            self._factory = _ClaimFactory(self._live_rng, self._reason_payloads)
            self._serialise = _FlatSerialiser(self._factory.all_reasons)
            self._version += 1
            self._cache = {}
            self._cache_version = self._version

    def reset(self) -> None:
        """Back to the freshly generated data; faults and the request log cleared."""
        self.faults.clear()
        self._restore()
        with self._log_lock:
            self.requests.clear()

    def claim(self, claim_id) -> dict:
        """A copy of the claim's current payload. KeyError if there is none."""
        with self._lock:
            return json.loads(self._by_id[str(claim_id)].blob)

    def find_claims(self, **fields) -> list[dict]:
        """Copies of the claims whose payload fields equal the given values, in list order."""
        with self._lock:
            return [
                json.loads(claim.blob)
                for claim in self._order
                if all(claim.payload.get(k) == v for k, v in fields.items())
            ]

    def reasons(self) -> list[dict]:
        """Copies of the claim reasons (CLM004 objects)."""
        return json.loads(b"[" + b",".join(self._reason_blobs) + b"]")

    def _touch(self, claim: _Claim, now: int) -> int:
        return max(now, claim.updated + 1000)

    def update_claim(self, claim_id, **fields) -> dict:
        """Change fields of a claim; `updated_at` becomes now unless given. New payload back.

        Dates may be given as datetimes or ISO strings. A field that is not in the payload
        yet is added, which is how a test sends a field the contract does not know.
        """
        if "id" in fields:
            raise ValueError("a claim's id cannot change")
        with self._lock:
            claim = self._by_id[str(claim_id)]
            payload = dict(claim.payload)
            created, updated = claim.created, claim.updated
            if "created_at" in fields:
                created = _coerce_timestamp(fields.pop("created_at"))
                payload["created_at"] = format_timestamp(created)
            if "updated_at" in fields:
                updated = _coerce_timestamp(fields.pop("updated_at"))
            else:
                updated = self._touch(claim, _now_micros())
            payload.update(fields)
            payload["updated_at"] = format_timestamp(updated)
            self._replace(claim, _Claim(payload, created, updated))
            return json.loads(self._by_id[claim.id].blob)

    def remove_claim(self, claim_id) -> None:
        """Make a claim disappear upstream."""
        with self._lock:
            claim = self._by_id.pop(str(claim_id))
            self._order.remove(claim)
            self._version += 1

    def _replace(self, old: _Claim, new: _Claim) -> None:
        self._by_id[new.id] = new
        if old.created == new.created:
            index = self._index_of(old)
            self._order[index] = new
        else:
            self._order.remove(old)
            self._insert(new)
        self._version += 1

    def _index_of(self, claim: _Claim) -> int:
        index = bisect_left(self._order, claim.key, key=lambda c: c.key)
        if index < len(self._order) and self._order[index] is claim:
            return index
        return self._order.index(claim)

    def _insert(self, claim: _Claim) -> None:
        if not self._order or self._order[-1].key <= claim.key:
            self._order.append(claim)
        else:
            insort(self._order, claim, key=lambda c: c.key)

    def add_claims(self, n) -> list[dict]:
        """`n` claims created now, mostly waiting (some still open). Their payloads back."""
        added = []
        with self._lock:
            now = _now_micros()
            for _ in range(n):
                status = WAITING if self._live_rng.random() < 0.85 else OPEN
                while True:
                    payload = self._factory.claim(status, now, now)
                    if payload["id"] not in self._by_id:
                        break
                claim = _Claim(payload, now, now, self._serialise(payload))
                self._by_id[claim.id] = claim
                self._insert(claim)
                added.append(json.loads(claim.blob))
            if n:
                self._version += 1
        return added

    def _set_status(self, claim: _Claim, status: str, now: int) -> None:
        payload = dict(claim.payload, status=status)
        updated = self._touch(claim, now)
        payload["updated_at"] = format_timestamp(updated)
        self._replace(claim, _Claim(payload, claim.created, updated))

    def tick(self) -> None:
        """One step of the live marketplace.

        A few claims arrive; some open ones start waiting, some approved ones complete and,
        now and then, a customer withdraws a waiting claim (status `cancelled`, a value the
        contract does not list).
        """
        with self._lock:
            rng = self._live_rng
            self.add_claims(self._factory.between(1, 4))
            now = _now_micros()
            by_status = {OPEN: [], APPROVED: [], WAITING: []}
            for claim in self._order:
                bucket = by_status.get(claim.payload.get("status"))
                if bucket is not None:
                    bucket.append(claim)
            moves = [
                (OPEN, WAITING, self._factory.between(0, 3)),
                (APPROVED, COMPLETED, self._factory.between(0, 3)),
            ]
            if rng.random() < 0.15:
                moves.append((WAITING, CANCELLED_UPSTREAM, 1))
            for source, target, count in moves:
                candidates = by_status[source]
                for claim in rng.sample(candidates, min(count, len(candidates))):
                    self._set_status(self._by_id[claim.id], target, now)

    # ------------------------------------------------------------------ request log

    def _record(self, request: RecordedRequest) -> None:
        with self._log_lock:
            self.requests.append(request)
            if len(self.requests) > _LOG_ENTRIES:
                # A long-running demo must not grow without bound: drop the oldest tenth.
                del self.requests[: _LOG_ENTRIES // 10]

    # --------------------------------------------------------------------- handling

    def _handle(self, method, path, pairs, headers, body) -> _Response:
        request = _Request(method, path, pairs, headers, body, self._origin or "")
        if path == CLAIMS_PATH:
            allowed, handler = ("GET", "HEAD"), self._list_claims
            claim_id = None
        elif path == REASONS_PATH:
            allowed, handler = ("GET", "HEAD"), self._list_reasons
            claim_id = None
        else:
            match = DECISION_PATH.match(path)
            if match is None:
                return request.error(404, {"detail": "Not found."})
            claim_id, action = match.groups()
            allowed = ("POST",)
            handler = self._approve if action == "approve" else self._reject

        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if method not in allowed:
            detail = request.text('Method "{}" not allowed.').format(method)
            return request.error(
                405,
                {"detail": detail, "code": "method_not_allowed"},
                headers=(("Allow", ", ".join(allowed)),),
            )
        if claim_id is not None:
            return handler(request, claim_id)
        return handler(request)

    def _authenticate(self, request: _Request) -> _Response | None:
        value = (request.headers.get("Authorization") or "").strip()
        challenge = (("WWW-Authenticate", "Token"),)
        if not value:
            return request.error(
                401,
                {
                    "detail": "Authentication credentials were not provided.",
                    "code": "not_authenticated",
                },
                headers=challenge,
            )
        scheme, _, rest = value.partition(" ")
        candidate = rest.strip() if scheme.lower() == "token" and rest.strip() else value
        if hmac.compare_digest(candidate.encode(), self.api_key.encode()):
            return None
        return request.error(
            401, {"detail": "Invalid token.", "code": "authentication_failed"}, headers=challenge
        )

    def _pagination(self, request: _Request):
        errors = {}
        numbers = {}
        for name, default in (("page", 1), ("limit", DEFAULT_LIMIT)):
            raw = request.query.get(name, "").strip()
            if not raw:
                numbers[name] = default
                continue
            try:
                number = int(raw)
            except ValueError:
                errors[name] = ["A valid integer is required."]
                continue
            if number < 1:
                errors[name] = ["Ensure this value is greater than or equal to 1."]
                continue
            numbers[name] = number
        return numbers.get("page"), numbers.get("limit"), errors

    def _page_response(self, request, page, limit, count, blobs) -> _Response:
        last_page = max(1, -(-count // limit))
        if page > last_page:
            return request.error(404, {"detail": "Invalid page."})
        next_url = request.page_url(page + 1) if page < last_page else None
        previous_url = request.page_url(page - 1) if page > 1 else None
        body = b"".join(
            (
                b'{"count":',
                str(count).encode(),
                b',"next":',
                _dumps(next_url),
                b',"previous":',
                _dumps(previous_url),
                b',"results":[',
                b",".join(blobs),
                b"]}",
            )
        )
        return _Response(200, body)

    def _claim_filters(self, request: _Request):
        """The filter set as a hashable key, or (None, errors)."""
        errors = {}
        key = []
        query = request.query
        for name in ("type", "status"):
            value = query.get(name, "")
            if value:
                key.append((name, value))
        statuses = tuple(
            sorted({s.strip() for s in query.get("status__in", "").split(",") if s.strip()})
        )
        if statuses:
            key.append(("status__in", statuses))
        for name in _DATE_FILTERS:
            raw = query.get(name, "")
            if not raw:
                continue
            micros = _parse_timestamp(raw)
            if micros is None:
                errors[name] = ["Enter a valid date/time."]
            else:
                key.append((name, micros))
        raw = query.get("cancelled_by", "").strip()
        if raw:
            try:
                key.append(("cancelled_by", int(raw)))
            except ValueError:
                errors["cancelled_by"] = ["Enter a number."]
        return tuple(key), errors

    def _select(self, key) -> list[_Claim]:
        """The claims matching a filter key, in order. Call with the lock held."""
        if self._cache_version != self._version:
            self._cache = {}
            self._cache_version = self._version
        selected = self._cache.get(key)
        if selected is not None:
            return selected
        selected = self._order
        for name, value in key:
            if name in ("type", "status"):
                selected = [c for c in selected if c.payload.get(name) == value]
            elif name == "status__in":
                wanted = set(value)
                selected = [c for c in selected if c.payload.get("status") in wanted]
            elif name == "cancelled_by":
                selected = [c for c in selected if c.payload.get("cancelled_by") == value]
            else:
                attribute, op = _DATE_FILTERS[name]
                if op == "eq":
                    selected = [c for c in selected if getattr(c, attribute) == value]
                elif op == "gte":
                    selected = [c for c in selected if getattr(c, attribute) >= value]
                else:
                    selected = [c for c in selected if getattr(c, attribute) <= value]
        if selected is self._order:
            selected = list(selected)
        if len(self._cache) >= _CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = selected
        return selected

    def _list_claims(self, request: _Request) -> _Response:
        page, limit, errors = self._pagination(request)
        key, filter_errors = self._claim_filters(request)
        errors.update(filter_errors)
        if errors:
            return request.error(400, {**errors, "code": "invalid"})
        with self._lock:
            selected = self._select(key)
            start = (page - 1) * limit
            blobs = [claim.blob for claim in selected[start : start + limit]]
            count = len(selected)
        return self._page_response(request, page, limit, count, blobs)

    def _list_reasons(self, request: _Request) -> _Response:
        page, limit, errors = self._pagination(request)
        if errors:
            return request.error(400, {**errors, "code": "invalid"})
        start = (page - 1) * limit
        blobs = self._reason_blobs[start : start + limit]
        return self._page_response(request, page, limit, len(self._reason_blobs), blobs)

    def _decidable(self, request: _Request, claim_id: str):
        """The claim, or an error response."""
        if not CANONICAL_UUID.match(claim_id.lower()):
            return None, request.error(404, {"detail": "Not found."})
        claim = self._by_id.get(claim_id.lower())
        if claim is None:
            return None, request.error(404, {"detail": "Not found."})
        return claim, None

    def _not_waiting(self, request: _Request) -> _Response:
        return request.error(
            400,
            {
                "non_field_errors": [
                    "Only a claim waiting for approval can be approved or rejected."
                ],
                "code": "invalid",
            },
        )

    def _approve(self, request: _Request, claim_id: str) -> _Response:
        with self._lock:
            claim, error = self._decidable(request, claim_id)
            if error is not None:
                return error
            if claim.payload.get("status") != WAITING:
                return self._not_waiting(request)
            self._set_status(claim, APPROVED, _now_micros())
        return _Response(204)

    def _reject(self, request: _Request, claim_id: str) -> _Response:
        with self._lock:
            claim, error = self._decidable(request, claim_id)
        if error is not None:
            return error

        data = {}
        if request.body.strip():
            content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type.lower() != "application/json" and not content_type.endswith("+json"):
                return request.error(
                    415,
                    {
                        "detail": "Unsupported media type in request.",
                        "code": "unsupported_media_type",
                    },
                )
            try:
                data = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                return request.error(400, {"detail": "JSON parse error.", "code": "parse_error"})
        if not isinstance(data, dict):
            return request.error(
                400,
                {"non_field_errors": ["Invalid data. Expected a dictionary."], "code": "invalid"},
            )

        reason = data.get("reason")
        if reason is None or (isinstance(reason, str) and not reason.strip()):
            return request.error(400, {"reason": ["This field is required."], "code": "required"})
        if not isinstance(reason, str):
            return request.error(400, {"reason": ["Not a valid string."], "code": "invalid"})
        images = data.get("images", [])
        if images is None:
            images = []
        if not isinstance(images, list):
            return request.error(
                400, {"images": ["Expected a list of items."], "code": "not_a_list"}
            )
        for image in images:
            parts = urlsplit(image) if isinstance(image, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                return request.error(400, {"images": ["Enter a valid URL."], "code": "invalid"})

        with self._lock:
            claim = self._by_id.get(claim.id)
            if claim is None:
                return request.error(404, {"detail": "Not found."})
            if claim.payload.get("status") != WAITING:
                return self._not_waiting(request)
            self._set_status(claim, REJECTED, _now_micros())
        return _Response(204)


# ---------------------------------------------------------------------------- HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, family=None):
        if family is not None:
            self.address_family = family
        super().__init__(address, handler)

    def server_activate(self):
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def close_connections(self):
        """Hang up on every client still connected (keep-alive connections included)."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(SHUT_RDWR)
            except OSError:
                pass

    def server_bind(self):
        # HTTPServer.server_bind() looks the host name up; a loopback server needs no DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        logger.debug("sandbox connection error from %s", client_address[0], exc_info=True)


class _BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SellerCenterSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        # Quiet: nothing per request on stderr.
        pass

    def do_GET(self):
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def setup(self):
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self):
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError as error:
                    raise _BadRequest(400, "bad chunk") from error
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BODY:
                    raise _BadRequest(413, "body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        raw = self.headers.get("Content-Length")
        if not raw:
            return b""
        try:
            length = int(raw)
        except ValueError as error:
            raise _BadRequest(400, "bad content length") from error
        if length < 0:
            raise _BadRequest(400, "bad content length")
        if length > MAX_REQUEST_BODY:
            raise _BadRequest(413, "body too large")
        return self.rfile.read(length)

    def _serve(self):
        sandbox = self.sandbox
        try:
            try:
                body = self._read_body()
            except _BadRequest as error:
                self.close_connection = True
                self._send(_Response(error.status, _dumps({"detail": str(error)})))
                return
            parts = urlsplit(self.path)
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            headers = _Headers(self.headers.items())
            sandbox._record(RecordedRequest(self.command, parts.path, dict(pairs), headers, body))
            latency = sandbox.faults.latency
            if latency and sandbox._stopping.wait(latency):
                return
            rule = sandbox.faults._take(parts.path)
            if rule is not None and rule.kind == "delay":
                if sandbox._stopping.wait(rule.seconds):
                    return
                rule = None
            if rule is not None:
                if rule.after_apply:
                    sandbox._handle(self.command, parts.path, pairs, headers, body)
                canned = _Response(rule.status, rule.body, rule.content_type, rule.headers)
                self._send(canned, drip=rule.drip if rule.kind == "respond" else None)
                return
            try:
                response = sandbox._handle(self.command, parts.path, pairs, headers, body)
            except Exception:
                logger.exception("sandbox failed on %s %s", self.command, parts.path)
                response = _Response(500, b"<h1>Server Error (500)</h1>", "text/html")
            logger.debug("sandbox %s %s -> %s", self.command, parts.path, response.status)
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The client went away (often on purpose, after its own timeout).
            self.close_connection = True

    def _send(self, response: _Response, drip=None):
        status = response.status
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
        ]
        has_body = status >= 200 and status not in (204, 304)
        body = response.body if has_body else b""
        if has_body:
            lines.append(f"Content-Type: {response.content_type}")
            lines.append(f"Content-Length: {len(body)}")
        for name, value in response.headers:
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            body = b""
        if not drip or not body:
            if len(body) > _SEND_APART_BYTES:
                # A canned body can be megabytes: sent after its head rather than copied.
                self.wfile.write(head)
                self.wfile.write(body)
            else:
                self.wfile.write(head + body)
            return
        self.wfile.write(head)
        chunk = max(1, int(drip * 0.05))
        pause = chunk / drip
        for start in range(0, len(body), chunk):
            if self.sandbox._stopping.wait(pause):
                self.close_connection = True
                return
            self.wfile.write(body[start : start + chunk])
