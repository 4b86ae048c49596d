"""The audit page's filters, all from the query string; the same ones drive its CSV export."""

import uuid

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import search
from .forms import DayField
from .models import AuditEvent, Claim

Event = AuditEvent.Action
MAX_CLAIM_LENGTH = 128

# What happened, by area; an area as a whole is a choice too.
AREAS = {
    "decision": (_("Decisions"), [a for a in Event if a.value.startswith("decision.")]),
    "bulk": (_("Bulk decisions"), [Event.BULK_STARTED, Event.BULK_FINISHED]),
    "team": (_("Team changes"), [a for a in Event if a.value.startswith("team.")]),
    "auth": (_("Sign-ins"), [a for a in Event if a.value.startswith("auth.")]),
}
AREA_LABELS = {
    "decision": _("Any decision event"),
    "bulk": _("Any bulk decision event"),
    "team": _("Any team change"),
    "auth": _("Any sign-in event"),
}

# How it ended, whatever it was.
OUTCOMES = {
    "succeeded": (
        _("Went through"),
        {
            Event.DECISION_SENT,
            Event.DECISION_CONFIRMED,
            Event.BULK_STARTED,
            Event.BULK_FINISHED,
            Event.LOGIN,
            Event.LOGOUT,
            Event.MEMBER_ADDED,
            Event.ROLE_CHANGED,
            Event.MEMBER_DEACTIVATED,
            Event.MEMBER_REACTIVATED,
        },
    ),
    "failed": (
        _("Failed or refused"),
        {
            Event.DECISION_FAILED,
            Event.DECISION_NOT_APPLIED,
            Event.DECISION_REFUSED,
            Event.LOGIN_FAILED,
            Event.LOCKOUT,
        },
    ),
    "pending": (_("Awaiting an answer"), {Event.DECISION_REQUESTED, Event.DECISION_UNCONFIRMED}),
}


def action_choices():
    choices = [("", _("Anything"))]
    for area, (label, actions) in AREAS.items():
        group = [(area, AREA_LABELS[area])] + [(a.value, a.label) for a in actions]
        choices.append((label, group))
    return choices


def actions_for(action, outcome):
    """The event actions the two filters allow together, or None when neither is set."""
    allowed = None
    if action in AREAS:
        allowed = set(AREAS[action][1])
    elif action:
        allowed = {Event(action)}
    if outcome:
        chosen = OUTCOMES[outcome][1]
        allowed = chosen if allowed is None else allowed & chosen
    return None if allowed is None else sorted(allowed)


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, member):
        return member.get_full_name() or member.get_username()


class AuditFilterForm(forms.Form):
    person = PersonField(queryset=None, required=False, label=_("Person"), empty_label=_("Anyone"))
    action = forms.ChoiceField(required=False, label=_("What"), choices=action_choices)
    outcome = forms.ChoiceField(
        required=False,
        label=_("Outcome"),
        choices=[("", _("Any outcome"))] + [(k, label) for k, (label, _a) in OUTCOMES.items()],
    )
    claim = forms.CharField(
        required=False,
        max_length=MAX_CLAIM_LENGTH,
        strip=True,
        label=_("Claim"),
        help_text=_("Its return code or claim id."),
    )
    date_from = DayField(required=False, label=_("From"))
    date_to = DayField(required=False, label=_("Until"))
    # Keyset pagination: the id of the event the page starts after (older) or before (newer).
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, sees_everyone=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.sees_everyone = sees_everyone
        if sees_everyone:
            people = get_user_model().objects.order_by("first_name", "last_name", "username")
            self.fields["person"].queryset = people
        else:
            # Everyone else sees only their own events: there is nobody else to choose.
            del self.fields["person"]

    @classmethod
    def defaults(cls):
        return {name: None for name in cls.base_fields} | {"action": "", "outcome": ""}

    def filters(self):
        """Every valid filter as given; a filter that was not understood is left out."""
        self.is_valid()
        return {**self.defaults(), **self.cleaned_data}

    def clean_claim(self):
        """The ids of the claims meant: one by its id, or every claim with that return code."""
        text = self.cleaned_data["claim"]
        if not text:
            return None
        try:
            return [uuid.UUID(text)]
        except ValueError:
            pass
        # The identifiers' trigram index finds the few candidates; the code must then match.
        candidates = Claim.objects.filter(search_codes__contains=search.fold(text))
        # As a Turkish reader expects: "r-ı7" finds R-I7, and "R-İ7" finds r-i7.
        code = search.folded("return_code")
        matching = candidates.annotate(code=code).filter(code=search.fold(text))
        ids = list(matching.values_list("id", flat=True)[:20])
        if not ids:
            raise ValidationError(_("No claim has this return code or id."), "unknown_claim")
        return ids

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        if cleaned.get("before") and cleaned.get("after"):
            self.add_error("after", _("A page is either before or after another, not both."))
        return cleaned
