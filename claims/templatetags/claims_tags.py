import json
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

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
def status_label(status):
    """Documented statuses translated; new ones the API adds are shown as sent."""
    return _STATUS_LABELS.get(status, status)


@register.filter
def type_label(claim_type):
    return _TYPE_LABELS.get(claim_type, claim_type)


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
