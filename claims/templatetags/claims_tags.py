from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.utils import timezone, translation

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


@register.filter
def status_label(status):
    """Documented statuses translated; new ones the API adds are shown as sent."""
    return _STATUS_LABELS.get(status, status)


@register.filter
def type_label(claim_type):
    return _TYPE_LABELS.get(claim_type, claim_type)


@register.filter
def reason_label(claim):
    language = _API_LANGUAGES.get(translation.get_language() or "", "en-us")
    translations = claim.reason_translations or {}
    return translations.get(language) or claim.reason_subject or "—"


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
    extra = [(key, value) for key, value in raw.items() if key not in KNOWN_FIELDS]
    return sorted(extra, key=lambda item: item[0])


@register.filter
def image_inputs(values):
    """The image URLs typed so far, plus one empty input to type the next."""
    urls = [value for value in (values or []) if value]
    return [*urls, ""]
