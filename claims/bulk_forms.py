"""The bulk decision form: what to decide, and for which claims."""

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from . import bulk
from .forms import MAX_REASON_LENGTH, QueueFilterForm, RejectForm
from .models import Decision

MAX_FILTER_QUERY_LENGTH = 4000


class ClaimIdsField(forms.Field):
    """The ticked rows: repeated `claims` values, each a claim id."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": _("A ticked row was not understood; reload the queue and try again."),
        "too_many": _("Tick at most %(limit)s claims at once."),
    }

    def to_python(self, value):
        try:
            return list(dict.fromkeys(uuid.UUID(str(item)) for item in value or []))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], "invalid") from None

    def validate(self, value):
        super().validate(value)
        if len(value) > bulk.MAX_CLAIMS_PER_RUN:
            raise ValidationError(
                self.error_messages["too_many"], "too_many", {"limit": bulk.MAX_CLAIMS_PER_RUN}
            )


class BulkDecisionForm(RejectForm):
    """The reject form's reason and images (needed only to reject), and the claims to decide."""

    SELECTED = "selected"
    MATCHING = "matching"

    action = forms.ChoiceField(label=_("Decision"), choices=Decision.Action.choices)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    scope = forms.ChoiceField(
        label=_("Claims"),
        choices=[
            (SELECTED, _("The ticked claims")),
            (MATCHING, _("Every waiting claim matching the filters")),
        ],
    )
    claims = ClaimIdsField(required=False)
    filter_query = forms.CharField(
        required=False, max_length=MAX_FILTER_QUERY_LENGTH, widget=forms.HiddenInput
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == Decision.Action.REJECT and not cleaned.get("reason"):
            self.add_error("reason", _("Say why these claims are rejected."))
        if cleaned.get("scope") == self.SELECTED and not cleaned.get("claims"):
            self.add_error("claims", _("Tick the claims to decide, or choose every match."))
        return cleaned

    def chosen_claims(self):
        if self.cleaned_data["scope"] == self.SELECTED:
            return bulk.waiting_claims_among(self.cleaned_data["claims"])
        filters = QueueFilterForm(QueryDict(self.cleaned_data["filter_query"])).filters()
        return bulk.waiting_claims_matching(filters)

    def selection(self):
        if self.cleaned_data["scope"] == self.SELECTED:
            return {"scope": self.SELECTED, "ticked": len(self.cleaned_data["claims"])}
        return {"scope": self.MATCHING, "query": self.cleaned_data["filter_query"]}
