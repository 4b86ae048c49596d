from dataclasses import dataclass
from functools import lru_cache

from django import template
from django.utils import timezone, translation
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext

from ..models import AuditEvent, ClaimStatus
from ..roles import Role
from .claims_tags import detail_url

register = template.Library()

UPSTREAM_MESSAGE_SHOWN = 160
REASON_SHOWN = 200
USER_AGENT_SHOWN = 80


@lru_cache(maxsize=8)
def _labels(language):
    return {
        "actions": {value: str(label) for value, label in AuditEvent.Action.choices},
        "roles": {role.value: str(role.label) for role in Role},
        "statuses": {value: str(label) for value, label in ClaimStatus.choices},
        "claimdesk": gettext("ClaimDesk"),
        "no_code": gettext("(no code)"),
    }


@dataclass(frozen=True)
class EventRow:
    at_iso: str
    at_text: str
    who: str
    who_typed: bool  # a username typed at a failed sign-in, not a member's name
    role: str
    what: str
    what_css: str
    subject: str
    role_change: str
    claim_href: str
    claim_code: str
    status_change: str
    upstream_status: int | None
    latency: str
    upstream_message: str
    reason: str
    images: str
    origin: str
    user_agent: str


@register.filter
def event_row(event):
    """Everything an audit row shows, worked out in one call with the words translated once:
    a page shows fifty rows, and a dozen tags and filters for each were most of its time."""
    labels = _labels(translation.get_language())
    at = timezone.localtime(event.at)
    who, typed = _who(event, labels)
    return EventRow(
        at_iso=at.isoformat(),
        at_text=at.strftime("%Y-%m-%d %H:%M:%S"),
        who=who,
        who_typed=typed,
        role=labels["roles"].get(event.actor_role, event.actor_role),
        what=labels["actions"].get(event.action, event.action),
        what_css=event.action.replace(".", "-").replace("_", "-"),
        subject=_subject(event),
        role_change=_role_change(event.details, labels),
        claim_href=detail_url(event.claim_id) if event.claim_id else "",
        claim_code=_claim_code(event, labels),
        status_change=_status_change(event, labels),
        upstream_status=event.upstream_status,
        latency=f"{event.latency_ms} ms" if event.latency_ms is not None else "",
        upstream_message=Truncator(event.upstream_message).chars(UPSTREAM_MESSAGE_SHOWN),
        reason=Truncator(event.reason).chars(REASON_SHOWN),
        images=_images(event.images),
        origin=" · ".join(filter(None, [event.request_id, event.client_ip])),
        user_agent=Truncator(event.user_agent).chars(USER_AGENT_SHOWN),
    )


def _name(member):
    return member.get_full_name() or member.get_username()


def _who(event, labels):
    if event.actor_id:
        return _name(event.actor), False
    typed = (event.details or {}).get("username") if isinstance(event.details, dict) else None
    if typed:
        return typed, True
    return labels["claimdesk"], False


def _subject(event):
    if event.subject_user_id and event.subject_user_id != event.actor_id:
        return _name(event.subject_user)
    return ""


def _role_change(details, labels):
    if not isinstance(details, dict) or not details.get("role"):
        return ""
    roles = labels["roles"]
    after = roles.get(details["role"], details["role"])
    before = details.get("role_before")
    return f"{roles.get(before, before)} → {after}" if before else after


def _claim_code(event, labels):
    if not event.claim_id:
        return ""
    code = getattr(event, "claim_code", None) or getattr(event, "claim_package_item", None)
    return code or labels["no_code"]


def _status_change(event, labels):
    if not (event.status_before or event.status_after):
        return ""
    statuses = labels["statuses"]
    before = statuses.get(event.status_before, event.status_before) or "—"
    after = statuses.get(event.status_after, event.status_after) or "—"
    return f"{before} → {after}"


def _images(images):
    count = len(images) if isinstance(images, list) else 0
    if not count:
        return ""
    return ngettext("%(count)s image", "%(count)s images", count) % {"count": count}
