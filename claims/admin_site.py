"""The Django admin, opened by roles.py rather than by the `is_staff` flag."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from . import roles
from .team_forms import UsernameLengthCheck


class RoleAdminAuthenticationForm(UsernameLengthCheck, AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        if not roles.can(user, roles.Action.USE_ADMIN_SITE):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class ClaimDeskAdminSite(admin.AdminSite):
    login_form = RoleAdminAuthenticationForm

    def has_permission(self, request):
        return roles.can(request.user, roles.Action.USE_ADMIN_SITE)
