"""A member's own preferences: the page for language and time zone, and the header's switch.

Both go back to where the member was: the `next` they were sent from (checked to be a path
on this site), or, for htmx, the page the browser shows now, reloaded in the new language.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from . import preferences
from .preference_forms import LanguageSwitchForm, PreferencesForm
from .roles import Action, require

TEMPLATE = "preferences/edit.html"


def _safe_next(request, fallback):
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed and target.startswith("/") else fallback


def _back(request, language, fallback):
    if request.htmx:
        response = HttpResponseClientRefresh()
    else:
        response = redirect(_safe_next(request, fallback))
    preferences.remember_in_cookie(response, language)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def edit(request):
    require(request.user, Action.VIEW_CLAIMS)
    member = request.user
    if request.method != "POST":
        initial = {"language": member.language, "time_zone": member.time_zone}
        form = PreferencesForm(initial=initial)
        return render(request, TEMPLATE, {"form": form, "next": _safe_next(request, "")})

    form = PreferencesForm(request.POST)
    if not form.is_valid():
        context = {"form": form, "next": _safe_next(request, "")}
        return render(request, TEMPLATE, context, status=422)
    preferences.save(member, **form.cleaned_data)
    # The message is read on the next page, which is already in the language chosen.
    with translation.override(member.language or translation.get_language_from_request(request)):
        messages.success(request, _("Preferences saved."))
    return _back(request, member.language, reverse("preferences:edit"))


@login_required
@require_POST
def switch_language(request):
    require(request.user, Action.VIEW_CLAIMS)
    form = LanguageSwitchForm(request.POST)
    if form.is_valid():
        preferences.save(request.user, language=form.cleaned_data["language"])
    return _back(request, request.user.language, reverse("claims:queue"))
