from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import ClaimStatus, ClaimType

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


class QueueFilterForm(forms.Form):
    """The queue's filters, sort and page, all from the query string."""

    status = forms.CharField(required=False, max_length=32)
    type = forms.ChoiceField(required=False, choices=[("", _("All types")), *ClaimType.choices])
    q = forms.CharField(
        required=False, max_length=MAX_SEARCH_LENGTH, label=_("Search"), strip=True
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("oldest", _("Longest waiting")),
            ("newest", _("Newest")),
            ("updated", _("Recently updated")),
        ],
    )
    per_page = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(n, n) for n in PAGE_SIZES], empty_value=25
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    @classmethod
    def defaults(cls):
        form = cls({})
        form.is_valid()
        return form.cleaned_data

    # The status tab: a documented status, "all", or a status the API added later.
    def clean_status(self):
        status = self.cleaned_data["status"]
        if status and not status.replace("_", "").replace("-", "").isalnum():
            raise ValidationError(_("Unknown status."))
        return status or ClaimStatus.WAITING

    def clean_sort(self):
        return self.cleaned_data["sort"] or "oldest"


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
            if (error := self._url_error(number, url))
        ]
        if errors:
            raise ValidationError(errors)

    def _url_error(self, number, url):
        if len(url) > MAX_IMAGE_URL_LENGTH:
            params = {"number": number, "limit": MAX_IMAGE_URL_LENGTH}
            return ValidationError(self.error_messages["too_long"], "too_long", params)
        if not is_https_url(url):
            return ValidationError(self.error_messages["not_https"], "not_https", {"number": number})
        return None


def is_https_url(url):
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and not any(c.isspace() for c in url)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Say why the claim is rejected.")},
    )
    images = ImageURLsField(required=False, label=_("Evidence image URLs"))
