import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from claims import queries, refresh
from claims.models import CannedReason, Claim, Decision, SyncState
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def synced(sandbox):
    sync_everything()
    return sandbox


@pytest.fixture
def viewer(client, member):
    client.force_login(member("viewer"))
    return client


@pytest.fixture
def agent(client, member):
    client.force_login(member("agent"))
    return client


def rows(response):
    return list(response.context["page"].object_list)


def ids(claims):
    return [claim.pk for claim in claims]


def open_claim(response):
    """The id of the claim whose detail pane the response shows."""
    found = re.search(
        r'class="claim-detail"[^>]*data-claim-id="([^"]+)"', response.content.decode()
    )
    return found and found.group(1)


def queue(client, **params):
    return client.get(reverse("claims:queue"), params)


def waiting_in_order():
    return Claim.objects.filter(status="waiting").order_by("created_at", "id")


# ------------------------------------------------------------------ filters


def test_several_statuses_at_once_show_exactly_those(viewer, synced):
    response = queue(viewer, status=["open", "waiting"], per_page=100)

    expected = Claim.objects.filter(status__in=["open", "waiting"]).order_by("created_at", "id")
    assert ids(rows(response)) == ids(expected[:100])
    assert response.context["page"].paginator.count == expected.count()


def test_all_next_to_other_statuses_means_just_the_others(viewer, synced):
    response = queue(viewer, status=["all", "rejected"], per_page=100)

    assert {claim.status for claim in rows(response)} == {"rejected"}
    assert response.context["filters"]["status"] == ["rejected"]


def test_all_alone_shows_every_status(viewer, synced):
    response = queue(viewer, status="all")

    assert response.context["page"].paginator.count == Claim.objects.count() == 300


def test_the_reason_filter_keeps_only_claims_with_that_reason(viewer, synced):
    reason_id = Claim.objects.exclude(reason_id=None).values_list("reason_id", flat=True)[0]

    response = queue(viewer, reason=str(reason_id), status="all", per_page=100)

    expected = Claim.objects.filter(reason_id=reason_id).order_by("created_at", "id")
    assert ids(rows(response)) == ids(expected[:100])


def test_a_created_date_range_counts_whole_days_in_the_local_time_zone(viewer, synced):
    claim = Claim.objects.first()
    # 21:30 UTC is 00:30 the next day in Istanbul, the configured time zone.
    synced.update_claim(claim.pk, created_at="2026-01-10T21:30:00Z")
    sync_everything()

    on_the_11th = queue(viewer, status="all", created_from="2026-01-11", created_to="2026-01-11")
    on_the_10th = queue(viewer, status="all", created_from="2026-01-10", created_to="2026-01-10")

    assert ids(rows(on_the_11th)) == [claim.pk]
    assert rows(on_the_10th) == []


def test_an_updated_date_range_finds_claims_changed_on_those_days(viewer, synced):
    claim = Claim.objects.first()
    synced.update_claim(claim.pk, updated_at="2026-02-03T09:00:00Z")
    # Dated in the past, the change is older than the watermark: only a full sync sees it.
    sync_everything(full=True)

    response = queue(viewer, status="all", updated_from="2026-02-01", updated_to="2026-02-03")

    assert ids(rows(response)) == [claim.pk]


def test_waiting_longer_than_n_days_keeps_only_claims_opened_before_then(viewer, synced):
    cutoff = timezone.now() - datetime.timedelta(days=7)

    response = queue(viewer, waiting_days=7, per_page=100)

    expected = waiting_in_order().filter(created_at__lt=cutoff)
    assert response.context["page"].paginator.count == expected.count()
    assert ids(rows(response)) == ids(expected[:100])


def test_an_end_date_before_the_start_is_explained_and_the_other_filters_still_apply(
    viewer, synced
):
    response = queue(viewer, type="cancel", created_from="2026-03-02", created_to="2026-03-01")

    body = response.content.decode()
    assert response.status_code == 200
    assert "The end date is before the start date." in body
    assert {claim.type for claim in rows(response)} == {"cancel"}


@pytest.mark.parametrize("field", ["return_tracking_number", "package_item", "product"])
def test_search_finds_a_claim_by_part_of_its_identifiers(viewer, synced, field):
    claim = Claim.objects.exclude(**{field: ""}).order_by("created_at").first()
    fragment = getattr(claim, field)[2:-1]

    response = queue(viewer, q=fragment, status="all", per_page=100)

    assert claim.pk in ids(rows(response))


def test_search_finds_a_claim_by_the_customers_words(viewer, synced):
    claim = Claim.objects.first()
    synced.update_claim(claim.pk, detail="Paketin içinden zürafa figürü çıktı")
    sync_everything()

    response = queue(viewer, q="zürafa", status="all")

    assert ids(rows(response)) == [claim.pk]


@pytest.mark.parametrize("sort_matches_up_to", [0, 10_000])
def test_a_search_lists_its_matches_in_the_sort_order_whichever_plan_is_used(
    viewer, synced, monkeypatch, sort_matches_up_to
):
    monkeypatch.setattr(queries, "SORT_MATCHES_UP_TO", sort_matches_up_to)

    response = queue(viewer, q="akn-", status="all", sort="newest", per_page=50)

    expected = Claim.objects.filter(search_codes__contains="akn-").order_by("-created_at", "-id")
    assert ids(rows(response)) == ids(expected[:50])


# ------------------------------------------------------------------ sort and pages


@pytest.mark.parametrize(
    ("sort", "ordering"),
    [
        ("oldest", ("created_at", "id")),
        ("newest", ("-created_at", "-id")),
        ("updated", ("-updated_at", "-id")),
    ],
)
def test_each_sort_has_a_total_order_so_pages_never_overlap(viewer, synced, sort, ordering):
    first = queue(viewer, status="all", sort=sort, per_page=50, page=1)
    second = queue(viewer, status="all", sort=sort, per_page=50, page=2)

    expected = ids(Claim.objects.order_by(*ordering)[:100])
    assert ids(rows(first)) + ids(rows(second)) == expected


def test_the_page_size_can_be_chosen(viewer, synced):
    response = queue(viewer, status="all", per_page=50)

    assert len(rows(response)) == 50
    assert "1–50 of 300" in response.content.decode()


def test_the_number_of_queries_does_not_grow_with_the_page_size(viewer, synced):
    queue(viewer, status="all")  # the status counts are cached from here on

    def queries_for(per_page):
        with CaptureQueriesContext(connection) as captured:
            response = queue(viewer, status="all", per_page=per_page)
        assert len(rows(response)) == per_page
        return len(captured)

    assert queries_for(25) == queries_for(100)


def test_cached_counts_follow_a_decision_and_a_sync(client, member, synced):
    client.force_login(member("agent"))
    before = dict(queue(client).context["tabs"])
    first, second = waiting_in_order()[:2]

    client.post(reverse("claims:approve", args=[first.pk]), **HTMX)
    after_decision = dict(queue(client).context["tabs"])
    synced.update_claim(second.pk, status="completed")
    sync_everything()
    after_sync = dict(queue(client).context["tabs"])

    assert after_decision["waiting"] == before["waiting"] - 1
    assert after_decision["approved"] == before["approved"] + 1
    assert after_sync["waiting"] == before["waiting"] - 2
    assert after_sync["completed"] == before["completed"] + 1


# ------------------------------------------------------------------ partials and history


def test_a_tab_click_gets_the_filters_and_the_results_but_not_the_page(viewer, synced):
    response = viewer.get(
        reverse("claims:queue"), {"status": "open"}, HTTP_HX_TARGET="queue", **HTMX
    )

    body = response.content.decode()
    assert "<html" not in body
    assert 'id="queue-filters"' in body and 'id="queue-poll"' in body
    assert 'value="open" checked' in body


def test_a_history_restore_gets_the_whole_page_even_from_htmx(viewer, synced):
    response = viewer.get(
        reverse("claims:queue"),
        {"type": "refund"},
        HTTP_HX_TARGET="queue-results",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
        **HTMX,
    )

    body = response.content.decode()
    assert "<html" in body and 'id="queue-filters"' in body
    assert {"HX-Request", "HX-History-Restore-Request"} <= set(
        v.strip() for v in response["Vary"].split(",")
    )


def test_the_poll_asks_again_for_the_same_view(viewer, synced):
    response = queue(viewer, type="refund", sort="newest")

    body = response.content.decode()
    assert 'id="queue-poll" hidden hx-get="/?type=refund&amp;sort=newest"' in body
    assert 'data-poll-seconds="20"' in body


def test_an_empty_view_says_why_it_is_empty(viewer, synced):
    response = queue(viewer, q="no-such-claim-anywhere")

    body = response.content.decode()
    assert "No claims match “no-such-claim-anywhere” with these filters." in body


def test_before_the_first_sync_the_queue_says_the_cache_is_empty(viewer):
    response = queue(viewer)

    body = response.content.decode()
    assert "No claims yet: the cache has not been synced with the Seller Center." in body
    assert "Not synced yet" in body


def test_a_failed_sync_is_shown_with_its_reason(viewer, synced):
    SyncState.objects.filter(name="claims").update(
        outcome="failed", error="The Seller Center did not answer in time."
    )

    response = viewer.get(reverse("claims:freshness"), **HTMX)

    body = response.content.decode()
    assert "Last sync failed:" in body
    assert "The Seller Center did not answer in time." in body
    assert "<html" not in body


# ------------------------------------------------------------------ refresh


def test_a_viewer_cannot_start_a_refresh(viewer, synced):
    requests_before = len(synced.requests)

    response = viewer.post(reverse("claims:refresh"), **HTMX)

    assert response.status_code == 403
    assert len(synced.requests) == requests_before


@pytest.mark.django_db(transaction=True)
def test_an_agent_starts_a_refresh_that_runs_after_the_answer(agent, synced):
    claim = Claim.objects.filter(status="waiting").first()
    synced.update_claim(claim.pk, status="completed")
    synced.faults.delay_next(1, seconds=0.5)

    response = agent.post(reverse("claims:refresh"), **HTMX)
    status_when_answered = Claim.objects.get(pk=claim.pk).status
    refresh.wait(timeout=30)

    assert response.status_code == 202
    assert "Syncing with the Seller Center" in response.content.decode()
    assert status_when_answered == "waiting"
    assert Claim.objects.get(pk=claim.pk).status == "completed"
    assert SyncState.objects.get(name="claims").outcome == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_second_refresh_while_one_runs_starts_nothing(agent, synced):
    synced.faults.delay_next(1, seconds=1.0)
    requests_before = len(synced.requests)

    agent.post(reverse("claims:refresh"), **HTMX)
    second = agent.post(reverse("claims:refresh"), **HTMX)
    refresh.wait(timeout=30)

    assert "A sync is already running." in second.content.decode()
    listings = [r for r in synced.requests[requests_before:] if "/i2/claim-reasons/" in r.path]
    assert len(listings) == 1


# ------------------------------------------------------------------ the detail pane


def detail(client, claim, **params):
    return client.get(reverse("claims:detail", args=[claim.pk]), params, **HTMX)


def test_the_reason_is_shown_in_the_users_language(client, member, synced):
    client.force_login(member("viewer"))
    claim = Claim.objects.exclude(reason_id=None).first()

    turkish = client.get(
        reverse("claims:detail", args=[claim.pk]), HTTP_ACCEPT_LANGUAGE="tr", **HTMX
    )

    assert claim.reason_translations["tr-tr"] in turkish.content.decode()


def test_the_customers_text_is_escaped_and_keeps_its_line_breaks(viewer, synced):
    claim = Claim.objects.first()
    synced.update_claim(claim.pk, detail='<img src=x onerror="alert(1)">\nSecond line')
    sync_everything()

    body = detail(viewer, claim).content.decode()

    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;<br>Second line" in body
    assert '<img src=x onerror="alert(1)">' not in body


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://127.0.0.1/track/1", True),
        ("http://127.0.0.1/track/2", True),
        ("javascript:alert(1)", False),
        ("ftp://127.0.0.1/track/3", False),
    ],
)
def test_the_tracking_link_is_a_link_only_for_http_urls(viewer, synced, url, linked):
    claim = Claim.objects.first()
    synced.update_claim(claim.pk, return_tracking_url=url)
    sync_everything()

    body = detail(viewer, claim).content.decode()

    assert (f'href="{url}"' in body) is linked
    assert url in body


def test_fields_the_api_added_are_shown_as_plain_text(viewer, synced):
    claim = Claim.objects.first()
    synced.update_claim(claim.pk, courier_note={"text": "<b>left at door</b>"})
    sync_everything()

    body = detail(viewer, claim).content.decode()

    assert '<dt class="extra">courier_note</dt>' in body
    assert "{&quot;text&quot;: &quot;&lt;b&gt;left at door&lt;/b&gt;&quot;}" in body


def test_the_history_says_what_changed_and_when(viewer, synced):
    claim = Claim.objects.filter(status="waiting").first()
    synced.update_claim(claim.pk, status="completed", return_code="R-CHANGED")
    sync_everything()

    history = queries.claim_history(Claim.objects.get(pk=claim.pk))
    body = detail(viewer, claim).content.decode()

    assert [(entry["changes"], entry["first"]) for entry in history] == [
        (
            [
                ("return_code", claim.return_code or "—", "R-CHANGED"),
                ("status", "waiting", "completed"),
            ],
            False,
        ),
        ([], True),
    ]
    assert (
        '<span class="change-field">Status</span>: <del>waiting</del> → <ins>completed</ins>'
        in body
    )
    assert "· first seen" in body


def test_the_pane_says_how_fresh_the_claim_is(viewer, synced):
    claim = Claim.objects.first()

    body = detail(viewer, claim).content.decode()

    assert "Synced 0\xa0minutes ago" in body


# ------------------------------------------------------------------ deciding


def test_after_approving_the_next_waiting_claim_opens(agent, synced):
    first, second = waiting_in_order()[:2]

    response = agent.post(reverse("claims:approve", args=[first.pk]), **HTMX)

    body = response.content.decode()
    assert open_claim(response) == str(second.pk)
    assert response["HX-Push-Url"] == reverse("claims:detail", args=[second.pk])
    assert "Claim approved." in body
    assert f'<tr id="claim-row-{first.pk}" class="claim-row" hx-swap-oob="true">' in body
    assert '<p class="announcement visually-hidden">Claim approved.</p>' in body


def test_the_next_claim_follows_the_views_filters_and_sort(agent, synced):
    cancels = waiting_in_order().filter(type="cancel").order_by("-created_at", "-id")
    first, second = cancels[:2]

    response = agent.post(
        reverse("claims:approve", args=[first.pk]) + "?type=cancel&sort=newest", **HTMX
    )

    assert open_claim(response) == str(second.pk)
    assert response["HX-Push-Url"] == (
        reverse("claims:detail", args=[second.pk]) + "?type=cancel&sort=newest"
    )


def test_when_nothing_else_waits_the_decided_claim_stays_open(agent, synced):
    claim = waiting_in_order().exclude(return_code="").first()

    response = agent.post(
        reverse("claims:approve", args=[claim.pk]) + f"?q={claim.return_code}", **HTMX
    )

    assert open_claim(response) == str(claim.pk)
    assert "No other claim in this view is waiting for a decision." in response.content.decode()


def test_a_refused_decision_keeps_the_same_claim_open(agent, synced):
    claim = waiting_in_order().first()
    synced.update_claim(claim.pk, status="completed")

    response = agent.post(reverse("claims:approve", args=[claim.pk]), **HTMX)

    assert open_claim(response) == str(claim.pk)
    assert "The Seller Center refused the decision" in response.content.decode()


def test_each_bad_image_url_is_explained_next_to_its_input(agent, synced):
    claim = waiting_in_order().first()
    images = ["https://127.0.0.1/ok.jpg", "http://127.0.0.1/plain.jpg"]

    response = agent.post(
        reverse("claims:reject", args=[claim.pk]), {"reason": "Used", "images": images}, **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 422
    assert 'aria-invalid="true" aria-describedby="image-error-2"' in body
    error = "Image URL 2 must be a full https:// address."
    assert f'<p id="image-error-2" class="field-error">{error}</p>' in body
    assert "image-error-1" not in body
    assert not Decision.objects.exists()


def test_the_reject_form_suggests_saved_reasons_then_reasons_used_before(agent, member, synced):
    first, second = waiting_in_order()[:2]
    CannedReason.objects.create(text="The seal is broken.")
    agent.post(reverse("claims:reject", args=[first.pk]), {"reason": "Worn and washed."}, **HTMX)

    body = detail(agent, second).content.decode()

    assert queries.rejection_suggestions() == (["The seal is broken."], ["Worn and washed."])
    team = '<optgroup label="Team reasons"><option>The seal is broken.</option></optgroup>'
    used = '<optgroup label="Used before"><option>Worn and washed.</option></optgroup>'
    assert team in body and used in body
    assert body.index(team) < body.index(used)


def test_a_viewer_gets_no_suggestions_or_forms(viewer, synced):
    CannedReason.objects.create(text="The seal is broken.")

    body = detail(viewer, waiting_in_order().first()).content.decode()

    assert "The seal is broken." not in body
    assert 'id="reason-suggestion"' not in body and 'id="id_reason"' not in body


# ------------------------------------------------------------------ saved reasons


def test_an_agent_cannot_see_or_change_the_saved_reasons(agent):
    saved = CannedReason.objects.create(text="Kept")

    page = agent.get(reverse("claims:canned_reasons"))
    added = agent.post(reverse("claims:canned_reasons"), {"text": "New"})
    deleted = agent.post(reverse("claims:delete_reason", args=[saved.pk]))

    assert (page.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    assert list(CannedReason.objects.values_list("text", flat=True)) == ["Kept"]


def test_a_lead_saves_a_reason_and_removes_another(client, member):
    lead = member("lead")
    client.force_login(lead)
    old = CannedReason.objects.create(text="Old reason")

    saved = client.post(reverse("claims:canned_reasons"), {"text": "  Used,   and   washed. "})
    removed = client.post(reverse("claims:delete_reason", args=[old.pk]))

    assert saved.status_code == removed.status_code == 302
    new = CannedReason.objects.get()
    assert (new.text, new.created_by) == ("Used, and washed.", lead)


def test_a_reason_saved_twice_is_refused_with_words(client, member):
    client.force_login(member("lead"))
    CannedReason.objects.create(text="The seal is broken.")

    response = client.post(reverse("claims:canned_reasons"), {"text": "the seal is broken."})

    assert response.status_code == 422
    assert "That reason is already saved." in response.content.decode()
    assert CannedReason.objects.count() == 1


# ------------------------------------------------------------------ the Django admin


def test_the_admin_lists_claims_with_the_status_and_type_filters(
    client, django_user_model, synced
):
    client.force_login(django_user_model.objects.create_superuser("root", password="x" * 16))

    response = client.get("/admin/claims/claim/", {"status": "waiting", "type": "refund"})

    assert response.status_code == 200
    expected = Claim.objects.filter(status="waiting", type="refund").count()
    assert response.context["cl"].result_count == expected
