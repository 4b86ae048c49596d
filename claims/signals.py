"""Sign-in, sign-out, failed sign-ins and lockouts, written to the audit log; nothing more."""

from django.contrib.auth import get_user_model

from . import audit
from .audit import Origin
from .models import AuditEvent

Event = AuditEvent.Action

# Typed usernames are kept for the audit, cut short: a password pasted there stays partial.
USERNAME_KEPT = 150


def record_login(sender, request, user, **kwargs):
    audit.record(Event.LOGIN, actor=user, origin=Origin.of(request), subject_user=user)


def record_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record(Event.LOGOUT, actor=user, origin=Origin.of(request), subject_user=user)


def record_login_failure(sender, credentials, request=None, **kwargs):
    _record_refusal(Event.LOGIN_FAILED, request, credentials.get("username"))


def record_lockout(sender, request, username, ip_address, **kwargs):
    _record_refusal(Event.LOCKOUT, request, username)


def _record_refusal(action, request, username):
    username = (username or "")[:USERNAME_KEPT]
    subject = get_user_model().objects.filter(username=username).first() if username else None
    audit.record(
        action, origin=Origin.of(request), subject_user=subject, details={"username": username}
    )
