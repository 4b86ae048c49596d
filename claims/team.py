"""The team: adding members, setting their roles, deactivating and reactivating them.

Members are never deleted, because audit events keep pointing at them. Every change is audited
and runs under one advisory lock, so two admins demoting each other at once cannot leave the
team without an active admin. `actor=None` means the command line, which may do anything.
"""

import logging
import smtplib
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import audit, preferences, roles
from .models import AuditEvent, Decision
from .roles import Action, Role

logger = logging.getLogger(__name__)

Event = AuditEvent.Action

# pg_advisory_xact_lock key for team changes; the sync uses another.
TEAM_LOCK_KEY = 0x636C746D

LAST_ADMIN_STAYS_ADMIN = gettext_lazy(
    "%(name)s is the last active admin: make someone else an admin first."
)
LAST_ADMIN_STAYS_ACTIVE = gettext_lazy("%(name)s is the last active admin and stays active.")


class TeamError(Exception):
    """A team change that was refused, with words for the person who asked."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Invitation:
    member: object
    link: str
    emailed: bool

    @property
    def valid_days(self):
        return max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)


def members():
    """Everyone who has an account, active first, with the decisions each has made."""
    made = Count("decisions", filter=~Q(decisions__state=Decision.State.FAILED))
    return (
        get_user_model()
        .objects.annotate(decisions_made=made)
        .prefetch_related("groups")
        .order_by("-is_active", "username", "id")
    )


def active_admins():
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN.value))
        .distinct()
    )


def add_member(
    actor, *, email, role, site_url, first_name="", last_name="", language="", origin=None
):
    """Creates a member without a password; returns the link that lets them set one.

    The e-mail with the link is in the member's language, else in the language of whoever
    adds them.
    """
    email = _checked_email(email)
    role = Role(role)
    _check_may_grant(actor, role)

    with _team_lock():
        User = get_user_model()
        if User.objects.filter(Q(username__iexact=email) | Q(email__iexact=email)).exists():
            raise TeamError(_("A member with this e-mail address already exists."))
        member = User(
            username=email,
            email=email,
            first_name=first_name,
            last_name=last_name,
            language=preferences.supported_language(language),
        )
        member.set_unusable_password()
        member.save()
        roles.set_role(member, role)
        _record(Event.MEMBER_ADDED, actor, member, origin, role=role.value)

    logger.info("Member %s added as %s", member.pk, role.value)
    return _invite(member, site_url)


def change_role(actor, member, role, *, origin=None):
    """Gives the member `role`; returns False when they already had it."""
    role = Role(role)
    _check_may_grant(actor, role)

    with _team_lock():
        member = _locked(member)
        _check_may_manage(actor, member)
        before = roles.assigned_role(member)
        if before == role:
            return False
        if before == Role.ADMIN:
            _check_not_last_admin(member, LAST_ADMIN_STAYS_ADMIN)
        if member.is_superuser:
            # role_of() counts every superuser as an admin, so the flag goes with the role.
            member.is_superuser = member.is_staff = False
            member.save(update_fields=["is_superuser", "is_staff"])
        roles.set_role(member, role)
        _record(
            Event.ROLE_CHANGED,
            actor,
            member,
            origin,
            role_before=before.value if before else "",
            role=role.value,
        )
    return True


def deactivate(actor, member, *, origin=None):
    """Signs the member out everywhere and keeps them out; returns False if already inactive."""
    with _team_lock():
        member = _locked(member)
        _check_may_manage(actor, member)
        if actor is not None and actor.pk == member.pk:
            raise TeamError(_("You cannot deactivate yourself."))
        if not member.is_active:
            return False
        if roles.assigned_role(member) == Role.ADMIN:
            _check_not_last_admin(member, LAST_ADMIN_STAYS_ACTIVE)
        member.is_active = False
        member.save(update_fields=["is_active"])
        ended = end_sessions(member)
        _record(Event.MEMBER_DEACTIVATED, actor, member, origin, sessions_ended=ended)
    return True


def reactivate(actor, member, *, origin=None):
    """Lets the member sign in again with the role they had; returns False if already active."""
    with _team_lock():
        member = _locked(member)
        _check_may_manage(actor, member)
        if member.is_active:
            return False
        if roles.assigned_role(member) is None:
            raise TeamError(_("Give %(name)s a role first.") % {"name": display_name(member)})
        member.is_active = True
        member.save(update_fields=["is_active"])
        _record(Event.MEMBER_REACTIVATED, actor, member, origin)
    return True


def end_sessions(user):
    """Deletes every session signed in as `user`; returns how many there were.

    Sessions are stored without a user column, so each live one is decoded. A support team has
    few. Sessions held elsewhere than the database (SESSION_ENGINE) would not be found here;
    ModelBackend still refuses an inactive user on their next request.
    """
    user_id = str(user.pk)
    live = Session.objects.filter(expire_date__gt=timezone.now())
    ended = [s.pk for s in live.iterator() if s.get_decoded().get(SESSION_KEY) == user_id]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def set_password_path(member):
    """The one-time link: the token stops working once a password is set or used."""
    uid = urlsafe_base64_encode(force_bytes(member.pk))
    token = default_token_generator.make_token(member)
    return reverse("team:set_password", kwargs={"uidb64": uid, "token": token})


def display_name(member):
    return member.get_full_name() or member.get_username()


def _invite(member, site_url):
    link = f"{site_url.rstrip('/')}{set_password_path(member)}"
    invitation = Invitation(member, link, emailed=False)
    if not settings.INVITE_BY_EMAIL:
        return invitation
    try:
        with translation.override(member.language or translation.get_language()):
            _send_invitation(member, invitation)
    except (smtplib.SMTPException, OSError):
        logger.warning("Set-password e-mail to member %s failed; showing the link", member.pk)
        return invitation
    return Invitation(member, link, emailed=True)


def _send_invitation(member, invitation):
    send_mail(
        _("Your ClaimDesk account"),
        _(
            "An account on ClaimDesk was made for you. Choose your password here; the link "
            "works once, for %(days)s days:\n\n%(link)s\n"
        )
        % {"days": invitation.valid_days, "link": invitation.link},
        None,
        [member.email],
    )


def _checked_email(email):
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise TeamError(_("Enter a valid e-mail address.")) from error
    return email


def _check_may_grant(actor, role):
    if actor is None:
        return
    roles.require(actor, Action.MANAGE_TEAM)
    if not roles.may_grant(actor, role):
        raise TeamError(_("Only an admin may make someone an admin."))


def _check_may_manage(actor, member):
    if actor is None:
        return
    roles.require(actor, Action.MANAGE_TEAM)
    if not roles.may_manage_member(actor, member):
        raise TeamError(_("Only an admin may change an admin."))


def _check_not_last_admin(member, message):
    if not active_admins().exclude(pk=member.pk).exists():
        raise TeamError(message % {"name": display_name(member)})


def _locked(member):
    return get_user_model().objects.select_for_update().get(pk=member.pk)


@contextmanager
def _team_lock():
    """A transaction that first waits for every other team change to finish."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TEAM_LOCK_KEY])
        yield


def _record(action, actor, member, origin, **details):
    audit.record(
        action,
        actor=actor,
        origin=origin or audit.Origin(),
        subject_user=member,
        details=details,
    )
