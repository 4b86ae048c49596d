from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import preferences


def _role_choices(grantable):
    return [(role.value, role.label) for role in grantable]


def _language_choices():
    return [("", _("The browser's language")), *preferences.language_choices()]


class AddMemberForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"))
    # Also the language of their set-password e-mail.
    language = forms.ChoiceField(label=_("Language"), required=False, choices=_language_choices)

    def __init__(self, *args, grantable, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(grantable)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, grantable, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(grantable)


class UsernameLengthCheck:
    """For sign-in forms: a username longer than any member's is refused before it is checked.

    Django sets the sign-in field's length limit after making the field, so the limit is
    never applied; a longer name would reach django-axes, whose record of the failure cannot
    hold it, and the sign-in would fail with a server error.
    """

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if len(username) > self.fields["username"].max_length:
            raise self.get_invalid_login_error()
        return super().clean()


class SignInForm(UsernameLengthCheck, AuthenticationForm):
    pass
