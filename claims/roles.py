"""Who may do what: the one place ClaimDesk decides it.

A role is a Django group. Each active member is in exactly one of them; superusers count as
admins. Views, templates, the Django admin and background jobs all ask `can(user, action)`.

The groups also carry one Django permission per right (migration 0004), for code that asks
`user.has_perm("claims.<action>")`. A change to RIGHTS needs a migration that updates them;
tests/test_team.py fails until the two agree.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    VIEWER = "viewer"
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"

    @property
    def label(self):
        return ROLE_LABELS[self]

    @property
    def rank(self):
        return list(Role).index(self)


ROLE_LABELS = {
    Role.VIEWER: _("Viewer"),
    Role.AGENT: _("Agent"),
    Role.LEAD: _("Lead"),
    Role.ADMIN: _("Admin"),
}


class Action(StrEnum):
    VIEW_CLAIMS = "view_claims"
    DECIDE = "decide"
    REFRESH = "refresh"
    BULK_DECIDE = "bulk_decide"
    VIEW_OWN_AUDIT = "view_own_audit"
    VIEW_ALL_AUDIT = "view_all_audit"
    VIEW_REPORTS = "view_reports"
    MANAGE_TEAM = "manage_team"
    MANAGE_ADMINS = "manage_admins"
    USE_ADMIN_SITE = "use_admin_site"


_ALL = set(Role)
_DECIDERS = {Role.AGENT, Role.LEAD, Role.ADMIN}
_LEADS = {Role.LEAD, Role.ADMIN}

RIGHTS = {
    Action.VIEW_CLAIMS: _ALL,
    Action.DECIDE: _DECIDERS,
    Action.REFRESH: _DECIDERS,
    Action.BULK_DECIDE: _LEADS,
    Action.VIEW_OWN_AUDIT: _ALL,
    Action.VIEW_ALL_AUDIT: _LEADS,
    Action.VIEW_REPORTS: _LEADS,
    Action.MANAGE_TEAM: _LEADS,
    Action.MANAGE_ADMINS: {Role.ADMIN},
    Action.USE_ADMIN_SITE: {Role.ADMIN},
}


def role_of(user):
    """The user's role, or None for anonymous and inactive users and those without one."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return assigned_role(user)


def assigned_role(user):
    """The role a member holds whether or not they are active, e.g. for the team page."""
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_claimdesk_role", "unset")
    if cached == "unset":
        # groups.all() rather than a values query, so a prefetched team list costs no query.
        names = {group.name for group in user.groups.all()}
        cached = max((r for r in Role if r.value in names), key=lambda r: r.rank, default=None)
        user._claimdesk_role = cached
    return cached


def can(user, action):
    role = role_of(user)
    return role is not None and role in RIGHTS[Action(action)]


def require(user, action):
    """The server-side check every view makes; templates only hide what this refuses."""
    if not can(user, action):
        raise PermissionDenied


def grantable_roles(user):
    """The roles this user may give to others: leads up to lead, admins any."""
    if can(user, Action.MANAGE_ADMINS):
        return list(Role)
    if can(user, Action.MANAGE_TEAM):
        return [Role.VIEWER, Role.AGENT, Role.LEAD]
    return []


def may_grant(user, role):
    return Role(role) in grantable_roles(user)


def may_manage_member(user, member):
    """Leads manage viewers, agents and leads; only admins touch an admin."""
    held = assigned_role(member)
    if held == Role.ADMIN:
        return can(user, Action.MANAGE_ADMINS)
    return can(user, Action.MANAGE_TEAM)


def set_role(user, role):
    """Puts the user in exactly one role group. Permission checks are the caller's (team.py)."""
    from django.contrib.auth.models import Group

    role = Role(role)
    groups = Group.objects.filter(name__in=[r.value for r in Role])
    user.groups.remove(*groups)
    group, _ = Group.objects.get_or_create(name=role.value)
    user.groups.add(group)
    user._claimdesk_role = role
