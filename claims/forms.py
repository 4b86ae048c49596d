import datetime
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import search
from .models import CannedReason, ClaimStatus, ClaimType

MAX_IMAGES = 10
MAX_IMAGE_URL_LENGTH = 2000
MAX_REASON_LENGTH = 500
MAX_SEARCH_LENGTH = 200

SORTS = {
    "oldest": ("created_at", "id"),
    "newest": ("-created_at", "-id"),
    "updated": ("-updated_at", "-id"),
}
PAGE_SIZES = [25, 50, 100]
MAX_WAITING_DAYS = 3650
ALL_STATUSES = "all"
MAX_STATUSES = 20
# Dates outside these are typing mistakes, and near the ends of the calendar a day's bounds
# would not fit in a datetime at all.
FIRST_DAY = datetime.date(2000, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)
# How many unknown query parameters the queue's notice names, and how much of each name.
UNKNOWN_NAMES_SHOWN = 5
UNKNOWN_NAME_LENGTH = 40


class StatusesWidget(forms.Widget):
    """Repeated `status` parameters, read as a list; None when there are none at all."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            return data.getlist(name) if name in data else None
        return data.get(name)


class StatusesField(forms.Field):
    """The statuses shown: a documented status, "all", or a status the API added later.

    No parameter means the default tab (waiting); "all" alone means every status; "all" with
    others means just the others, so the filter form can always send "all" as a floor.
    """

    widget = StatusesWidget
    default_error_messages = {
        "unknown": _("Unknown status."),
        "too_many": _("Choose at most %(limit)s statuses."),
    }

    def to_python(self, value):
        if value is None:
            return [ClaimStatus.WAITING.value]
        if isinstance(value, str):
            value = [value]
        chosen = [status.strip() for status in value if status and status.strip()]
        return list(dict.fromkeys(status for status in chosen if status != ALL_STATUSES))

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_STATUSES:
            raise ValidationError(
                self.error_messages["too_many"], "too_many", {"limit": MAX_STATUSES}
            )
        for status in value:
            if len(status) > 32 or not status.replace("_", "").replace("-", "").isalnum():
                raise ValidationError(self.error_messages["unknown"], "unknown")


class DayField(forms.DateField):
    """A whole day typed into a filter, between FIRST_DAY and LAST_DAY."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    default_validators = [MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)]


class QueueFilterForm(forms.Form):
    """The queue's filters, sort and page, all from the query string."""

    status = StatusesField(required=False, label=_("Status"))
    type = forms.ChoiceField(
        required=False, label=_("Type"), choices=[("", _("All types")), *ClaimType.choices]
    )
    reason = forms.UUIDField(required=False, label=_("Reason"))
    q = forms.CharField(
        required=False, max_length=MAX_SEARCH_LENGTH, label=_("Search"), strip=True
    )
    created_from = DayField(required=False, label=_("Opened from"))
    created_to = DayField(required=False, label=_("Opened until"))
    updated_from = DayField(required=False, label=_("Updated from"))
    updated_to = DayField(required=False, label=_("Updated until"))
    waiting_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_WAITING_DAYS,
        label=_("Waiting longer than (days)"),
    )
    sort = forms.ChoiceField(
        required=False,
        label=_("Sort"),
        choices=[
            ("oldest", _("Longest waiting")),
            ("newest", _("Newest")),
            ("updated", _("Recently updated")),
        ],
    )
    per_page = forms.TypedChoiceField(
        required=False,
        label=_("Per page"),
        coerce=int,
        choices=[(n, n) for n in PAGE_SIZES],
        empty_value=PAGE_SIZES[0],
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000, label=_("Page"))

    @classmethod
    def defaults(cls):
        form = cls({})
        form.is_valid()
        return form.cleaned_data

    def filters(self):
        """Every valid filter as given, and the default for each one that was not understood."""
        self.is_valid()
        return {**self.defaults(), **self.cleaned_data}

    def clean_sort(self):
        return self.cleaned_data["sort"] or "oldest"

    def clean(self):
        cleaned = super().clean()
        for start, end in (("created_from", "created_to"), ("updated_from", "updated_to")):
            if cleaned.get(start) and cleaned.get(end) and cleaned[end] < cleaned[start]:
                self.add_error(end, _("The end date is before the start date."))
        self._note_unknown_parameters()
        return cleaned

    def _note_unknown_parameters(self):
        # Named and ignored rather than refused: a bookmark from an older ClaimDesk, or a link
        # with a tracker's parameters, still opens its view, and the notice says what was not
        # applied, so nobody takes the view for the one they meant.
        unknown = sorted(set(self.data) - set(self.fields))
        if not unknown:
            return
        names = [name[:UNKNOWN_NAME_LENGTH] for name in unknown[:UNKNOWN_NAMES_SHOWN]]
        if len(unknown) > UNKNOWN_NAMES_SHOWN:
            names.append("…")
        message = ngettext(
            "Unknown filter %(names)s was ignored.",
            "Unknown filters %(names)s were ignored.",
            len(unknown),
        ) % {"names": ", ".join(names)}
        self.add_error(None, ValidationError(message, "unknown_parameters"))


class ImageURLsWidget(forms.Widget):
    """Any number of `images` inputs, read as a list."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])


class ImageURLsField(forms.Field):
    widget = ImageURLsWidget
    default_error_messages = {
        "too_many": _("Add at most %(limit)s image URLs."),
        "too_long": _("Image URL %(number)s is longer than %(limit)s characters."),
        "not_https": _("Image URL %(number)s must be a full https:// address."),
    }

    def to_python(self, value):
        return [url.strip() for url in value or [] if url and url.strip()]

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_IMAGES:
            raise ValidationError(
                self.error_messages["too_many"], "too_many", {"limit": MAX_IMAGES}
            )
        errors = [
            error
            for number, url in enumerate(value, start=1)
            if (error := self.url_error(number, url))
        ]
        if errors:
            raise ValidationError(errors)

    def url_error(self, number, url):
        if len(url) > MAX_IMAGE_URL_LENGTH:
            params = {"number": number, "limit": MAX_IMAGE_URL_LENGTH}
            return ValidationError(self.error_messages["too_long"], "too_long", params)
        if not is_https_url(url):
            params = {"number": number}
            return ValidationError(self.error_messages["not_https"], "not_https", params)
        return None


def is_https_url(url):
    """An absolute https:// URL with a host, free of spaces and of characters that cannot be
    stored (NUL) or that disguise what is shown (controls, bidirectional overrides), and with
    no user name or password in it, which would be sent on to the Seller Center."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    readable = all(c.isprintable() and not c.isspace() for c in url)
    credentials = parts.username is not None or parts.password is not None
    return parts.scheme == "https" and bool(parts.hostname) and readable and not credentials


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Say why the claim is rejected.")},
    )
    images = ImageURLsField(required=False, label=_("Evidence image URLs"))

    def image_rows(self):
        """(url, error or "") for each image typed so far, then one empty row for the next."""
        field = self.fields["images"]
        urls = field.to_python(self["images"].value()) if self.is_bound else []
        rows = []
        for number, url in enumerate(urls, start=1):
            error = field.url_error(number, url) if self.is_bound else None
            rows.append((url, " ".join(error.messages) if error else ""))
        if len(rows) < MAX_IMAGES:
            rows.append(("", ""))
        return rows

    def list_errors(self):
        """Errors about the images as a whole (how many), shown under the list."""
        too_many = [e for e in self.errors.as_data().get("images", []) if e.code == "too_many"]
        return [message for error in too_many for message in error.messages]


class CannedReasonForm(forms.Form):
    text = forms.CharField(
        label=_("Reason"),
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Type the reason to save.")},
    )

    def clean_text(self):
        text = " ".join(self.cleaned_data["text"].split())
        # Case ignored as a Turkish reader expects: "İade" and "iade" are one reason.
        saved = CannedReason.objects.annotate(folded=search.folded("text"))
        if saved.filter(folded=search.fold(text)).exists():
            raise ValidationError(_("That reason is already saved."))
        return text
