"""Each member's language and time zone: which ones ClaimDesk offers, and keeping a choice.

A member with no language of their own sees the one their browser asks for (Accept-Language,
or the language cookie a choice leaves behind for the sign-in page after signing out).
Commands run from a terminal speak the terminal's language.
"""

import datetime
import functools
import os
import zoneinfo

from django.conf import settings
from django.utils import translation

# The areas of the canonical zone names; the rest are old aliases ("Turkey", "US/Eastern").
_ZONE_AREAS = {
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
}


def supported_language(code):
    """The language ClaimDesk speaks for `code` ("tr", "tr-TR"), or "" when it has none."""
    if not code:
        return ""
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return ""


def language_choices():
    """Each language in its own name, as people look for it in a list."""
    return [
        (code, translation.get_language_info(code)["name_local"])
        for code, _name in settings.LANGUAGES
    ]


@functools.lru_cache(maxsize=1)
def offered_zones():
    zones = {name for name in zoneinfo.available_timezones() if name.split("/")[0] in _ZONE_AREAS}
    return sorted(zones | {"UTC"})


def zone_choices(now=None):
    """(name, "name (UTC+03:00)") for each offered zone, the offsets as of `now`."""
    now = now or datetime.datetime.now(datetime.UTC)
    return [(name, f"{name} ({_offset(now, name)})") for name in offered_zones()]


def _offset(now, name):
    minutes = int(now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone(name):
    """The member's time zone; ClaimDesk's own (TIME_ZONE) when theirs is unknown here."""
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def save(member, *, language=None, time_zone=None):
    """Keep the member's choices; only the ones given change."""
    fields = []
    if language is not None:
        member.language = supported_language(language)
        fields.append("language")
    if time_zone is not None:
        member.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        member.save(update_fields=fields)


def remember_in_cookie(response, language):
    """The sign-in page has no member to ask: the cookie keeps their language for it."""
    if not language:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


# Where a terminal says which language it reads, first one set wins (as gettext reads them).
_TERMINAL_LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def terminal_language(environ=None):
    """The language of the terminal ("tr_TR.UTF-8" -> "tr"); English for any ClaimDesk lacks."""
    environ = os.environ if environ is None else environ
    for name in _TERMINAL_LANGUAGE_VARIABLES:
        value = environ.get(name, "")
        # "tr_TR.UTF-8@euro", or for LANGUAGE a list such as "tr:en".
        code = value.split(":")[0].split(".")[0].split("@")[0].replace("_", "-")
        if code:
            return supported_language(code) or settings.LANGUAGE_CODE
    return settings.LANGUAGE_CODE


def in_terminal_language(handle):
    """For a command's handle(): what it prints for people is in the terminal's language."""

    @functools.wraps(handle)
    def speaking(*args, **kwargs):
        with translation.override(terminal_language()):
            return handle(*args, **kwargs)

    return speaking
