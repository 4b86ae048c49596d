"""ClaimDesk in Turkish and English: the catalogues, and what a member reads in each language."""

import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from claims import bulk, refresh
from claims.charts import _number
from claims.models import AuditEvent, BulkRun, CannedReason, Claim, ClaimReason
from claims.search import sort_key
from claims.sync import sync_everything
from claims.templatetags.claims_tags import grouped, in_reading_order

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
# Where user-facing strings live: what `make messages` reads.
SOURCES = ("claims", "claimdesk", "templates")
HTMX = {"HTTP_HX_REQUEST": "true"}


def catalogue(language):
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def message_keys(po):
    return {(entry.msgctxt, entry.msgid) for entry in po if not entry.obsolete}


# The catalogues ----------------------------------------------------------------------------


def test_every_turkish_message_is_translated_and_none_is_fuzzy():
    po = catalogue("tr")

    assert [entry.msgid for entry in po.untranslated_entries()] == []
    assert [entry.msgid for entry in po.fuzzy_entries()] == []
    assert not po.metadata_is_fuzzy


@pytest.mark.parametrize("language", ["tr", "en"])
def test_a_catalogue_compiles_with_every_placeholder_in_place(language):
    path = LOCALE / language / "LC_MESSAGES" / "django.po"

    checked = subprocess.run(
        ["msgfmt", "--check-format", "-o", "/dev/null", str(path)],
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stderr


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """What makemessages finds in the code now, run on a copy so the tree is left alone."""
    copy = tmp_path_factory.mktemp("makemessages")
    for name in SOURCES:
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "locale").mkdir()
    command = [sys.executable, "-m", "django", "makemessages", "-l", "tr", "--add-location=file"]
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy)}
    subprocess.run(command, cwd=copy, env=environment, check=True, capture_output=True)
    return polib.pofile(str(copy / "locale" / "tr" / "LC_MESSAGES" / "django.po"))


@pytest.mark.parametrize("language", ["tr", "en"])
def test_the_catalogues_hold_every_message_of_the_code_and_no_other(extracted, language):
    found, kept = message_keys(extracted), message_keys(catalogue(language))

    assert sorted(found - kept, key=str) == [], "new messages: run `make messages`, translate"
    assert sorted(kept - found, key=str) == [], "messages no longer used: run `make messages`"


def test_a_new_message_in_the_code_is_caught(tmp_path):
    # The check above compares keys; here one more string must show up as a new key.
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "new.html").write_text(
        '{% load i18n %}{% translate "A message nobody translated yet" %}'
    )
    (tmp_path / "locale").mkdir()
    command = [sys.executable, "-m", "django", "makemessages", "-l", "tr"]
    subprocess.run(command, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, check=True)

    found = message_keys(polib.pofile(str(tmp_path / "locale/tr/LC_MESSAGES/django.po")))
    assert found - message_keys(catalogue("tr")) == {(None, "A message nobody translated yet")}


# What a member reads -----------------------------------------------------------------------


@pytest.fixture
def synced(sandbox):
    sync_everything()
    return sandbox


@pytest.fixture
def claim(synced):
    """A waiting claim opened 5 March 2026, 11:30 UTC: 14:30 in Istanbul."""
    waiting = Claim.objects.filter(status="waiting").exclude(return_code="")
    target = waiting.order_by("created_at", "id").first()
    opened = datetime.datetime(2026, 3, 5, 11, 30, tzinfo=datetime.UTC)
    Claim.objects.filter(pk=target.pk).update(created_at=opened)
    target.refresh_from_db()
    return target


def detail(client, claim):
    return client.get(reverse("claims:detail", args=[claim.pk])).content.decode()


def row(client, claim):
    """The queue page searched down to the claim's own row."""
    query = {"q": claim.return_code, "status": "all"}
    return client.get(reverse("claims:queue"), query).content.decode()


@pytest.mark.django_db
def test_a_turkish_member_reads_the_queue_in_turkish(client, member, synced):
    client.force_login(member("agent", language="tr"))

    page = client.get(reverse("claims:queue")).content.decode()

    assert '<h1 id="queue-heading">Talep kuyruğu</h1>' in page
    assert '<label for="id_type">Tür</label>' in page
    assert '<option value="refund">İade</option>' in page
    assert "Bekliyor" in page
    assert 'lang="en">English</button>' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "opened"),
    [("tr", "05 Mart 2026 14:30"), ("en", "March 5, 2026, 2:30 p.m.")],
)
def test_dates_read_as_the_members_language_writes_them(client, member, claim, language, opened):
    client.force_login(member("viewer", language=language))

    assert f"<dd>{opened} (" in detail(client, claim)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "age", "row_age"),
    # timesince keeps each number with its unit: a no-break space between them.
    [
        ("tr", "(3\xa0gün, 4\xa0saat önce)", "3g 4sa"),
        ("en", "(3\xa0days, 4\xa0hours ago)", "3d 4h"),
    ],
)
def test_ages_read_as_the_members_language_says_them(
    client, member, claim, language, age, row_age
):
    opened = timezone.now() - datetime.timedelta(days=3, hours=4, minutes=5)
    Claim.objects.filter(pk=claim.pk).update(created_at=opened)
    client.force_login(member("viewer", language=language))

    assert age in detail(client, claim)
    assert f'<span class="age age-warn">{row_age}</span>' in row(client, claim)


@pytest.mark.django_db
def test_times_follow_the_members_time_zone(client, member, claim):
    client.force_login(member("viewer", language="tr", time_zone="Asia/Tokyo"))

    assert "<dd>05 Mart 2026 20:30 (" in detail(client, claim)


@pytest.mark.parametrize(
    ("language", "figures"),
    [("tr", ["12.345", "2,5", "1.234,5"]), ("en", ["12,345", "2.5", "1,234.5"])],
)
def test_numbers_read_as_the_language_writes_them(language, figures):
    with translation.override(language):
        assert [grouped(12345), grouped(2.5), _number(1234.5)] == figures


@pytest.mark.django_db
def test_charts_keep_their_coordinates_readable_in_turkish(client, member, synced):
    client.force_login(member("lead", language="tr"))

    page = client.get(reverse("reports:index")).content.decode()

    coordinates = re.findall(r' (?:x|y|width|height|x1|y1|x2|y2)="([^"]*)"', page)
    assert coordinates
    assert [value for value in coordinates if not re.fullmatch(r"-?\d+(\.\d+)?", value)] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "translations", "shown"),
    [
        ("tr", {"en-us": "Arrived damaged", "tr-tr": "Hasarlı geldi"}, "Hasarlı geldi"),
        ("en", {"en-us": "Arrived damaged", "tr-tr": "Hasarlı geldi"}, "Arrived damaged"),
        ("tr", {"en-us": "Arrived damaged"}, "Damaged goods"),
    ],
)
def test_a_claims_reason_is_in_the_members_language_else_its_subject(
    client, member, claim, language, translations, shown
):
    Claim.objects.filter(pk=claim.pk).update(
        reason_subject="Damaged goods", reason_translations=translations
    )
    client.force_login(member("viewer", language=language))

    page = detail(client, claim)

    assert f"<dd>{shown}</dd>" in page
    assert f"<td>{shown}</td>" in row(client, claim)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "first", "last"),
    [
        ("tr", "Başka yerde daha uygun fiyat buldum", "Yanlış ürün gönderildi"),
        ("en", "Changed my mind within the return period", "Wrong size"),
    ],
)
def test_the_reason_filter_lists_reasons_alphabetically_in_the_members_language(
    client, member, synced, language, first, last
):
    client.force_login(member("viewer", language=language))

    page = client.get(reverse("claims:queue")).content.decode()

    select = page.split('<select id="filter-reason" name="reason">')[1].split("</select>")[0]
    labels = re.findall(r">([^<]+)</option>", select)[1:]
    assert (labels[0], labels[-1]) == (first, last)
    assert len(labels) == ClaimReason.objects.count()


def test_turkish_alphabetical_order_puts_each_letter_where_turkish_does():
    words = ["Zarar", "Ürün", "Çizik", "İade", "Ilık", "Cam", "Şişe", "Sepet", "Oda", "Ödeme"]

    with translation.override("tr"):
        ordered = sorted(words, key=sort_key)

    assert ordered == [
        "Cam", "Çizik", "Ilık", "İade", "Oda", "Ödeme", "Sepet", "Şişe", "Ürün", "Zarar"
    ]  # fmt: skip


@pytest.mark.django_db
def test_reasons_in_reading_order_use_the_words_shown(synced):
    with translation.override("tr"):
        labels = [r.translations["tr-tr"] for r in in_reading_order(ClaimReason.objects.all())]

    assert labels[:3] == ["Başka yerde daha uygun fiyat buldum", "Eksik parça veya aksesuar",
                          "Hasarlı ürün"]  # fmt: skip
    assert labels[3] == "İade süresi içinde vazgeçtim"


# Filters a Turkish speaker types into ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["r-kırık-7", "R-KIRIK-7", "r-kirik-7", "R-KİRİK-7"])
def test_the_audit_finds_a_claim_by_its_return_code_whatever_its_is(client, member, synced, typed):
    target = Claim.objects.filter(status="waiting").order_by("created_at", "id").first()
    synced.update_claim(target.pk, return_code="R-KIRIK-7")
    sync_everything()
    lead = member("lead")
    client.force_login(lead)
    client.post(reverse("claims:approve", args=[target.pk]))

    response = client.get(reverse("audit:events"), {"claim": typed})

    shown = {event.claim_id for event in response.context["page"].events}
    assert shown == {target.pk}
    assert AuditEvent.objects.filter(claim=target).count() >= 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed", ["iade süresi geçmiş", "İADE SÜRESİ GEÇMİŞ", "Iade  süresi geçmiş"]
)
def test_a_saved_reason_is_not_saved_twice_in_other_letters(client, member, typed):
    CannedReason.objects.create(text="İade süresi geçmiş")
    client.force_login(member("lead"))

    response = client.post(reverse("claims:canned_reasons"), {"text": typed})

    assert response.status_code == 422
    assert response.context["form"].errors["text"] == ["That reason is already saved."]
    assert CannedReason.objects.count() == 1


# The Seller Center hears the member's language ---------------------------------------------


def calls(sandbox, method="POST"):
    return [request for request in sandbox.requests if request.method == method]


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "header"), [("tr", "tr-tr"), ("en", "en-us")])
def test_a_decision_speaks_the_members_language_to_the_seller_center(
    client, member, claim, synced, language, header
):
    client.force_login(member("agent", language=language))
    synced.requests.clear()

    client.post(reverse("claims:approve", args=[claim.pk]))

    [sent] = calls(synced)
    assert sent.headers["Accept-Language"] == header


@pytest.mark.django_db
def test_a_refusal_reads_in_turkish_from_both_the_seller_center_and_claimdesk(
    client, member, synced
):
    claim = Claim.objects.filter(status="waiting").order_by("created_at", "id").first()
    synced.update_claim(claim.pk, status="approved")
    client.force_login(member("agent", language="tr"))

    response = client.post(reverse("claims:approve", args=[claim.pk]), **HTMX)

    assert (
        '<p class="notice notice-error">Seller Center kararı reddetti: Yalnızca onay bekleyen '
        "bir talep onaylanabilir veya reddedilebilir. Talebin durumu artık: onaylandı.</p>"
    ) in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_refresh_speaks_the_language_of_whoever_asked(client, member, sandbox):
    client.force_login(member("agent", language="tr"))
    sandbox.requests.clear()

    client.post(reverse("claims:refresh"))
    refresh.wait(timeout=30)

    languages = {request.headers["Accept-Language"] for request in calls(sandbox, "GET")}
    assert languages == {"tr-tr"}


@pytest.mark.django_db
def test_a_bulk_run_speaks_the_language_of_the_lead_who_started_it(
    client, member, synced, settings
):
    settings.BULK_REQUESTS_PER_SECOND = 100
    claims = list(Claim.objects.filter(status="waiting").order_by("created_at", "id")[:2])
    client.force_login(member("lead", language="tr"))
    ticked = {"scope": "selected", "action": "approve", "claims": [c.pk for c in claims]}
    client.post(reverse("claims:bulk_start"), ticked)
    run = BulkRun.objects.get()
    synced.requests.clear()

    bulk.advance(run.pk)  # in the worker, long after the lead's request

    assert run.language == "tr"
    assert {r.headers["Accept-Language"] for r in calls(synced)} == {"tr-tr"}
    assert [item.message for item in bulk.report(run)] == ["Talep onaylandı."] * 2


# Commands and e-mails ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_command_speaks_the_terminals_language(monkeypatch, capsys):
    monkeypatch.setenv("LANG", "tr_TR.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.delenv("LANGUAGE", raising=False)

    call_command("add_member", "ayse@example.com", "--role", "agent")
    call_command("verify_audit")

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (
        "ayse@example.com, Temsilci rolüyle eklendi. Parola belirleme bağlantısı (bir kez, 3 "
        "gün boyunca geçerli):"
    )
    assert printed[-1].startswith("1 denetim olayı doğrulandı. Zincir ")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "subject", "opening"),
    [
        ("tr", "ClaimDesk hesabınız", "ClaimDesk'te sizin için bir hesap açıldı."),
        ("en", "Your ClaimDesk account", "An account on ClaimDesk was made for you."),
    ],
)
def test_a_new_members_e_mail_is_in_their_language(
    client, member, settings, language, subject, opening
):
    settings.INVITE_BY_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client.force_login(member("lead", language="tr" if language == "en" else "en"))

    client.post(
        reverse("team:add"), {"email": "deniz@example.com", "role": "agent", "language": language}
    )

    [sent] = mail.outbox
    assert sent.subject == subject
    assert sent.body.startswith(opening)
