import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from .. import search
from ..models import ClaimStatus, ClaimType

register = template.Library()

_STATUS_LABELS = dict(ClaimStatus.choices)
_TYPE_LABELS = dict(ClaimType.choices)

# Fields shown by name in the detail pane; anything else the API sends is listed as extra.
KNOWN_FIELDS = {
    "id",
    "package_item",
    "product",
    "reason",
    "detail",
    "return_code",
    "return_tracking_number",
    "return_tracking_url",
    "type",
    "status",
    "created_at",
    "updated_at",
}

_API_LANGUAGES = {"tr": "tr-tr", "en": "en-us"}

_FIELD_LABELS = {
    "package_item": _("Package item"),
    "product": _("Product"),
    "reason": _("Reason"),
    "detail": _("Customer's words"),
    "return_code": _("Return code"),
    "return_tracking_number": _("Tracking number"),
    "return_tracking_url": _("Tracking"),
    "type": _("Type"),
    "status": _("Status"),
    "created_at": _("Opened"),
}


@register.filter
def grouped(number):
    """A count or figure as the user's language writes it: 12,345.5 in English, 12.345,5 in
    Turkish. Only where people read numbers: grouping digits inside an attribute breaks it."""
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        return number
    return formats.number_format(number, force_grouping=True)


@register.filter
def status_label(status):
    """Documented statuses translated; new ones the API adds are shown as sent."""
    # str() now: a lazy label would be re-translated at every use in the template.
    return str(_STATUS_LABELS.get(status, status))


@register.filter
def type_label(claim_type):
    return str(_TYPE_LABELS.get(claim_type, claim_type))


def _translated(translations, subject):
    language = _API_LANGUAGES.get(translation.get_language() or "", "en-us")
    translations = translations if isinstance(translations, dict) else {}
    return translations.get(language) or subject or "—"


@register.filter
def reason_label(claim):
    """The claim's reason in the user's language, else the reason's subject."""
    return _translated(claim.reason_translations, claim.reason_subject)


@register.filter
def reason_text(reason):
    """A ClaimReason in the user's language, else its subject."""
    return _translated(reason.translations, reason.subject)


@register.filter
def in_reading_order(reasons):
    """Reasons in alphabetical order of the words shown, as a Turkish reader expects."""
    return sorted(reasons, key=lambda reason: search.sort_key(reason_text(reason)))


@register.filter
def is_active_tab(tab_status, chosen):
    """Whether a status tab is the view shown: one status, or "all" for no status filter."""
    if tab_status == "all":
        return not chosen
    return list(chosen) == [tab_status]


_MORE_FILTERS = ("created_from", "created_to", "updated_from", "updated_to", "waiting_days")


@register.filter
def more_filters_set(filters):
    """Whether a filter in the folded "dates and waiting time" group is in use."""
    return any(filters.get(name) is not None for name in _MORE_FILTERS)


@register.filter
def more_filter_fields(form):
    return [form[name] for name in _MORE_FILTERS]


@register.filter
def age_class(claim):
    if claim.status != ClaimStatus.WAITING:
        return "age-done"
    days = (timezone.now() - claim.created_at).days
    if days >= settings.WAITING_ALERT_DAYS:
        return "age-alert"
    if days >= settings.WAITING_WARN_DAYS:
        return "age-warn"
    return "age-fresh"


@dataclass(frozen=True)
class Age:
    text: str
    css: str


@register.filter
def waiting_age(claim):
    """How long the claim has waited, short ("3d 4h"), and its colour class.

    Computed here rather than with `timesince`: a queue page shows a hundred of these and
    the generic filter was a noticeable part of its render time.
    """
    labels = _row_labels(translation.get_language())
    return Age(_age_text(claim, labels), age_class(claim))


def _age_text(claim, labels):
    seconds = max(int((timezone.now() - claim.created_at).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    parts = {"days": days, "hours": rest // 3600, "minutes": rest % 3600 // 60}
    if days:
        return labels["days"] % parts
    return (labels["hours"] if parts["hours"] else labels["minutes"]) % parts


@lru_cache(maxsize=16)
def _row_labels(language):
    """The words a queue row uses, translated once per language instead of once per row."""
    return {
        "days": pgettext("waiting age", "%(days)sd %(hours)sh"),
        "hours": pgettext("waiting age", "%(hours)sh %(minutes)sm"),
        "minutes": pgettext("waiting age", "%(minutes)sm"),
        "no_code": gettext("(no code)"),
        "pending": gettext("awaiting confirmation"),
        "age-alert": gettext("(overdue)"),
        "age-warn": gettext("(getting old)"),
        "statuses": {value: str(label) for value, label in _STATUS_LABELS.items()},
        "types": {value: str(label) for value, label in _TYPE_LABELS.items()},
        "api_language": _API_LANGUAGES.get(language or "", "en-us"),
    }


@dataclass(frozen=True)
class QueueRow:
    id: str
    href: str
    code: str
    type: str
    reason: str
    product: str
    status: str
    status_css: str
    pending: str
    age: str
    age_css: str
    age_note: str


@register.filter
def queue_row(claim, query=""):
    """Everything a queue row shows, worked out in one call; `query` keeps the view's filters
    on the row's link.

    A page renders up to a hundred rows; one filter per row instead of a dozen tags and
    filters, with the words translated once, more than halves their render time.
    """
    labels = _row_labels(translation.get_language())
    age_css = age_class(claim)
    translations = claim.reason_translations if isinstance(claim.reason_translations, dict) else {}
    claim_id = str(claim.pk)
    return QueueRow(
        id=claim_id,
        href=f"{detail_url(claim_id)}{query}",
        code=claim.return_code or claim.package_item or labels["no_code"],
        type=labels["types"].get(claim.type, claim.type),
        reason=translations.get(labels["api_language"]) or claim.reason_subject or "—",
        product=claim.product or "—",
        status=labels["statuses"].get(claim.status, claim.status),
        status_css=_css_name(claim.status),
        pending=labels["pending"],
        age=_age_text(claim, labels),
        age_css=age_css,
        age_note=labels.get(age_css, ""),
    )


def _css_name(value):
    """A status as a class name; statuses the API adds are free text."""
    return "".join(c if c.isalnum() else "-" for c in value.lower())


@register.filter
def detail_url(claim_id):
    """The claim's detail URL, as {% url 'claims:detail' %} gives it, without a reverse()
    per row: reversing was a third of the queue rows' render time."""
    return f"{_detail_prefix(get_script_prefix())}{claim_id}/"


@lru_cache(maxsize=8)
def _detail_prefix(script_prefix):
    placeholder = uuid.UUID(int=0)
    return reverse("claims:detail", args=[placeholder]).removesuffix(f"{placeholder}/")


@register.filter
def field_label(name):
    """A payload field's name for people; fields the API added later keep their own name."""
    return _FIELD_LABELS.get(name, name)


@register.filter
def http_url(url):
    """The URL if it is a plain http(s) link, else "": nothing else becomes a link."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.hostname:
        return url
    return ""


@register.filter
def unknown_fields(claim):
    raw = claim.raw if isinstance(claim.raw, dict) else {}
    extra = [(key, _plain(value)) for key, value in raw.items() if key not in KNOWN_FIELDS]
    return sorted(extra, key=lambda item: item[0])


def _plain(value):
    """A value the API sent, as text a person can read; never markup."""
    if value is None or value == "":
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
