from django import forms
from django.utils.translation import gettext_lazy as _

from . import preferences


def _language_choices():
    return [("", _("The browser's language")), *preferences.language_choices()]


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False, choices=_language_choices)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=preferences.zone_choices,
        help_text=_("Dates, times and the days that date filters and reports cover."),
    )


class LanguageSwitchForm(forms.Form):
    language = forms.ChoiceField(choices=preferences.language_choices)
