"""The team page: members, adding one, their roles, deactivating and reactivating them."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetConfirmView
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import roles, team
from .audit import Origin
from .roles import Action, require
from .team_forms import AddMemberForm, RoleForm

MEMBERS_TEMPLATE = "team/members.html"


@dataclass(frozen=True)
class MemberRow:
    """One member as the person looking at the team page may see and change them."""

    member: object
    role: roles.Role | None
    manageable: bool
    is_me: bool

    @classmethod
    def of(cls, member, viewer):
        return cls(
            member=member,
            role=roles.assigned_role(member),
            manageable=roles.may_manage_member(viewer, member),
            is_me=member.pk == viewer.pk,
        )


def _get_member_for_user(request, member_id):
    require(request.user, Action.MANAGE_TEAM)
    return get_object_or_404(team.members(), pk=member_id)


@login_required
@require_GET
def members(request):
    require(request.user, Action.MANAGE_TEAM)
    rows = [MemberRow.of(member, request.user) for member in team.members()]
    return render(request, MEMBERS_TEMPLATE, _context(request, rows=rows))


@never_cache  # the response may carry a set-password link
@login_required
@require_http_methods(["GET", "POST"])
def add_member(request):
    require(request.user, Action.MANAGE_TEAM)
    grantable = roles.grantable_roles(request.user)
    data = request.POST if request.method == "POST" else None
    form = AddMemberForm(data, grantable=grantable)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = team.add_member(
                request.user,
                **form.cleaned_data,
                site_url=request.build_absolute_uri("/"),
                origin=Origin.of(request),
            )
        except team.TeamError as refusal:
            form.add_error(None, refusal.message)
        else:
            context = {"form": AddMemberForm(grantable=grantable), "invitation": invitation}
            return render(request, "team/add.html", context)

    status = 422 if form.errors else 200
    return render(request, "team/add.html", {"form": form}, status=status)


@login_required
@require_POST
def change_role(request, member_id):
    member = _get_member_for_user(request, member_id)
    form = RoleForm(request.POST, grantable=roles.grantable_roles(request.user))
    if not form.is_valid():
        return _after_change(request, member, "error", _("Choose one of the roles offered."))

    role = roles.Role(form.cleaned_data["role"])
    return _apply(
        request,
        member,
        lambda: team.change_role(request.user, member, role, origin=Origin.of(request)),
        done=_("%(name)s is now %(role)s.") % _words(member, role),
        unchanged=_("%(name)s already is %(role)s.") % _words(member, role),
    )


@login_required
@require_POST
def deactivate(request, member_id):
    member = _get_member_for_user(request, member_id)
    return _apply(
        request,
        member,
        lambda: team.deactivate(request.user, member, origin=Origin.of(request)),
        done=_("%(name)s is deactivated and signed out.") % _words(member),
        unchanged=_("%(name)s was already deactivated.") % _words(member),
    )


@login_required
@require_POST
def reactivate(request, member_id):
    member = _get_member_for_user(request, member_id)
    return _apply(
        request,
        member,
        lambda: team.reactivate(request.user, member, origin=Origin.of(request)),
        done=_("%(name)s can sign in again.") % _words(member),
        unchanged=_("%(name)s was already active.") % _words(member),
    )


class SetPasswordView(PasswordResetConfirmView):
    """A new member's one-time set-password link. Open to anyone: the token is the check."""

    template_name = "team/set_password.html"
    success_url = reverse_lazy("login")
    http_method_names = ["get", "post"]

    def dispatch(self, request, *args, **kwargs):
        # Django's view answers an invalid link before looking at the method.
        if request.method.lower() not in self.http_method_names:
            return self.http_method_not_allowed(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        messages.success(self.request, _("Your password is set. Sign in with it."))
        return super().form_valid(form)


def _apply(request, member, change, *, done, unchanged):
    try:
        changed = change()
    except team.TeamError as refusal:
        return _after_change(request, member, "error", refusal.message)
    return _after_change(request, member, "success", done if changed else unchanged)


def _after_change(request, member, level, message):
    """htmx gets the member's row back with the message in it; a plain form, the page."""
    if not request.htmx:
        getattr(messages, level)(request, message)
        return redirect("team:members")

    row = MemberRow.of(team.members().get(pk=member.pk), request.user)
    context = _context(request, row=row, notice={"level": level, "text": message})
    status = 200 if level == "success" else 422
    return render(request, f"{MEMBERS_TEMPLATE}#member_row", context, status=status)


def _context(request, **context):
    return {"grantable": roles.grantable_roles(request.user), **context}


def _words(member, role=None):
    return {"name": team.display_name(member), "role": role.label if role else ""}
