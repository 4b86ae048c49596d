"""The reports' period: two dates from the query string, the last 30 days by default."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .forms import DayField
from .reports import Period

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodForm(forms.Form):
    start = DayField(required=False, label=_("From"))
    end = DayField(required=False, label=_("Until"))

    def period(self):
        """The period asked for; the default one when it was not understood."""
        if self.is_valid():
            return Period(self.cleaned_data["start"], self.cleaned_data["end"])
        return default_period()

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        default = default_period()
        end = cleaned.get("end") or default.end
        start = cleaned.get("start") or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            self.add_error("end", _("The end date is before the start date."))
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("end", _("Choose at most %(days)s days at once.") % {"days": MAX_DAYS})
        cleaned.update(start=start, end=end)
        return cleaned


def default_period():
    today = timezone.localdate()
    return Period(today - datetime.timedelta(days=DEFAULT_DAYS - 1), today)
