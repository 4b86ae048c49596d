import zoneinfo

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation

from claims.models import Claim
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
QUEUE = "/"


def test_a_member_sees_their_own_language_whatever_the_browser_asks(client, member):
    client.force_login(member("agent", language="tr"))

    response = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert response["Content-Language"] == "tr"
    assert b'<html lang="tr">' in response.content


@pytest.mark.parametrize(("asked", "shown"), [("tr-TR,tr;q=0.9", "tr"), ("en-GB", "en")])
def test_a_member_without_a_language_sees_the_browsers(client, member, asked, shown):
    client.force_login(member("agent"))

    response = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE=asked)

    assert response["Content-Language"] == shown


def test_a_language_no_one_speaks_here_falls_back_to_english(client, member):
    client.force_login(member("agent", language="de"))

    response = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="de-DE")

    assert response["Content-Language"] == "en"


def test_the_switch_keeps_the_choice_and_returns_to_the_view(client, member):
    agent = member("agent")
    client.force_login(agent)
    view = "/?status=all&q=k%C4%B1r%C4%B1k"

    response = client.post(reverse("preferences:language"), {"language": "tr", "next": view})

    assert response.status_code == 302
    assert response["Location"] == view
    agent.refresh_from_db()
    assert agent.language == "tr"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "tr"
    assert client.get(view)["Content-Language"] == "tr"


@pytest.mark.parametrize(
    "elsewhere", ["https://elsewhere.test/", "//elsewhere.test/", "javascript:alert(1)", ""]
)
def test_the_switch_sends_no_one_off_the_site(client, member, elsewhere):
    client.force_login(member("agent"))

    response = client.post(reverse("preferences:language"), {"language": "tr", "next": elsewhere})

    assert response["Location"] == reverse("claims:queue")


def test_the_switch_from_htmx_reloads_the_page_the_browser_shows(client, member):
    client.force_login(member("viewer"))

    response = client.post(reverse("preferences:language"), {"language": "tr"}, **HTMX)

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_an_unknown_language_changes_nothing(client, member):
    agent = member("agent", language="en")
    client.force_login(agent)

    client.post(reverse("preferences:language"), {"language": "xx"})

    agent.refresh_from_db()
    assert agent.language == "en"


def test_the_preferences_page_keeps_language_and_time_zone(client, member):
    agent = member("agent", language="tr")
    client.force_login(agent)
    data = {"language": "", "time_zone": "America/New_York", "next": "/audit/"}

    response = client.post(reverse("preferences:edit"), data)

    assert response.status_code == 302
    assert response["Location"] == "/audit/"
    agent.refresh_from_db()
    assert (agent.language, agent.time_zone) == ("", "America/New_York")
    # Back to the browser's language: the cookie goes too.
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""


def test_the_preferences_page_refuses_a_time_zone_it_does_not_offer(client, member):
    agent = member("agent")
    client.force_login(agent)

    response = client.post(reverse("preferences:edit"), {"language": "", "time_zone": "Mars/Base"})

    assert response.status_code == 422
    assert response.context["form"].errors["time_zone"] == [
        "Select a valid choice. Mars/Base is not one of the available choices."
    ]
    agent.refresh_from_db()
    assert agent.time_zone == "Europe/Istanbul"


def test_times_are_shown_in_the_members_time_zone(client, member, sandbox):
    sync_everything()
    claim = Claim.objects.order_by("created_at", "id").first()
    client.force_login(member("viewer", time_zone="America/New_York"))

    response = client.get(reverse("claims:detail", args=[claim.pk]))

    local = claim.created_at.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    with translation.override("en"):
        shown = formats.date_format(local, "DATETIME_FORMAT")
    assert f"<dd>{shown} (".encode() in response.content


def test_an_unknown_stored_time_zone_shows_claimdesks_own(client, member, sandbox):
    sync_everything()
    claim = Claim.objects.order_by("created_at", "id").first()
    client.force_login(member("viewer", time_zone="Nowhere/Atlantis"))

    response = client.get(reverse("claims:detail", args=[claim.pk]))

    local = claim.created_at.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))
    with translation.override("en"):
        shown = formats.date_format(local, "DATETIME_FORMAT")
    assert f"<dd>{shown} (".encode() in response.content
