import json

import pytest
from django.urls import reverse

from claims.models import AuditEvent, Claim, Decision
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def synced(sandbox):
    sync_everything()
    return sandbox


@pytest.fixture
def waiting_claim(synced):
    return Claim.objects.filter(status="waiting").order_by("created_at", "id").first()


def posts_to(sandbox, claim, verb):
    return [
        r
        for r in sandbox.requests
        if r.method == "POST" and r.path.endswith(f"/{claim.pk}/{verb}/")
    ]


def test_the_queue_needs_a_sign_in(client):
    response = client.get(reverse("claims:queue"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_expired_session_sends_htmx_requests_to_a_full_page_sign_in(client):
    response = client.get(
        reverse("claims:queue"), HTTP_HX_CURRENT_URL="http://testserver/?q=x", **HTMX
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=%2F%3Fq%3Dx"


def test_the_queue_lists_waiting_claims_longest_waiting_first(client, member, synced):
    client.force_login(member("viewer"))

    response = client.get(reverse("claims:queue"))

    page = list(response.context["page"].object_list)
    waiting = Claim.objects.filter(status="waiting").order_by("created_at", "id")
    assert [c.pk for c in page] == [c.pk for c in waiting[:25]]
    tabs = dict(response.context["tabs"])
    assert tabs["waiting"] == waiting.count()
    assert tabs["all"] == 300


def test_the_type_filter_and_the_counts_agree(client, member, synced):
    client.force_login(member("viewer"))

    response = client.get(reverse("claims:queue"), {"type": "cancel", "status": "all"})

    page = response.context["page"]
    assert page.paginator.count == Claim.objects.filter(type="cancel").count()
    assert {c.type for c in page.object_list} == {"cancel"}


def test_search_finds_a_claim_by_part_of_its_return_code(client, member, synced):
    client.force_login(member("viewer"))
    claim = Claim.objects.exclude(return_code="").first()

    response = client.get(
        reverse("claims:queue"), {"q": claim.return_code[2:].lower(), "status": "all"}
    )

    assert claim in response.context["page"].object_list


def test_an_htmx_filter_returns_only_the_results_and_varies_on_hx_request(client, member, synced):
    client.force_login(member("viewer"))

    response = client.get(
        reverse("claims:queue"), {"type": "refund"}, HTTP_HX_TARGET="queue-results", **HTMX
    )

    body = response.content.decode()
    assert "<html" not in body
    assert 'id="queue-filters"' not in body
    assert 'class="claims"' in body
    assert "HX-Request" in response["Vary"]


def test_an_unknown_filter_value_is_explained_not_a_server_error(client, member, synced):
    client.force_login(member("viewer"))

    response = client.get(reverse("claims:queue"), {"type": "exchange", "page": "zero"})

    assert response.status_code == 200
    assert "Some filters were not understood" in response.content.decode()


def test_the_detail_url_loaded_directly_renders_the_whole_page(client, member, waiting_claim):
    client.force_login(member("viewer"))
    url = reverse("claims:detail", args=[waiting_claim.pk])

    full = client.get(url).content.decode()
    pane = client.get(url, **HTMX).content.decode()

    assert "<html" in full and 'id="queue-results"' in full
    assert "<html" not in pane and waiting_claim.return_code in pane


def test_a_viewer_sees_no_decision_controls_and_cannot_post_one(
    client, member, waiting_claim, synced
):
    client.force_login(member("viewer"))

    pane = client.get(reverse("claims:detail", args=[waiting_claim.pk]), **HTMX)
    approve = client.post(reverse("claims:approve", args=[waiting_claim.pk]), **HTMX)
    reject = client.post(
        reverse("claims:reject", args=[waiting_claim.pk]), {"reason": "No"}, **HTMX
    )

    assert "Approve" not in pane.content.decode()
    assert (approve.status_code, reject.status_code) == (403, 403)
    assert not Decision.objects.exists()
    assert not [r for r in synced.requests if r.method == "POST"]


def test_an_agent_approves_a_waiting_claim_with_one_call(client, member, waiting_claim, synced):
    agent = member("agent")
    client.force_login(agent)

    response = client.post(reverse("claims:approve", args=[waiting_claim.pk]), **HTMX)

    assert response.status_code == 200
    assert "Claim approved." in response.content.decode()
    assert len(posts_to(synced, waiting_claim, "approve")) == 1
    assert synced.claim(waiting_claim.pk)["status"] == "approved"
    decision = Decision.objects.get(claim=waiting_claim)
    assert (decision.state, decision.actor) == ("sent", agent)
    events = AuditEvent.objects.filter(claim=waiting_claim).order_by("id")
    assert list(events.values_list("action", flat=True)) == [
        "decision.requested",
        "decision.sent",
    ]


def test_a_second_approve_is_refused_without_calling_the_api(
    client, member, waiting_claim, synced
):
    client.force_login(member("agent"))
    url = reverse("claims:approve", args=[waiting_claim.pk])

    client.post(url, **HTMX)
    second = client.post(url, **HTMX)

    assert "already chose to approve" in second.content.decode()
    assert len(posts_to(synced, waiting_claim, "approve")) == 1


def test_a_reject_sends_the_reason_and_both_image_urls(client, member, waiting_claim, synced):
    client.force_login(member("agent"))
    images = ["https://img.example.com/a.jpg", "https://img.example.com/b.png"]

    response = client.post(
        reverse("claims:reject", args=[waiting_claim.pk]),
        {"reason": "Used item", "images": images},
        **HTMX,
    )

    assert "Claim rejected." in response.content.decode()
    [sent] = posts_to(synced, waiting_claim, "reject")
    assert json.loads(sent.body) == {"reason": "Used item", "images": images}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "", "images": ["https://img.example.com/a.jpg"]}, "Say why the claim"),
        ({"reason": "x" * 501}, "at most 500 characters"),
        ({"reason": "Used", "images": ["http://img.example.com/a.jpg"]}, "must be a full https"),
        ({"reason": "Used", "images": ["javascript:alert(1)"]}, "must be a full https"),
        (
            {"reason": "Used", "images": ["https://user:pw@img.example.com/a.jpg"]},
            "must be a full",
        ),
        ({"reason": "Used", "images": ["https://e.com/" + "a" * 2000]}, "longer than 2000"),
        (
            {"reason": "Used", "images": [f"https://e.com/{n}.jpg" for n in range(11)]},
            "at most 10",
        ),
    ],
)
def test_an_invalid_reject_is_explained_and_keeps_what_was_typed(
    client, member, waiting_claim, synced, form, message
):
    client.force_login(member("agent"))

    response = client.post(reverse("claims:reject", args=[waiting_claim.pk]), form, **HTMX)

    body = response.content.decode()
    assert response.status_code == 422
    assert message in body
    for url in form.get("images", [])[:1]:
        assert f'value="{url}"' in body or url.startswith("javascript")
    assert not posts_to(synced, waiting_claim, "reject")
    assert not Decision.objects.exists()


def test_the_upstream_refusal_is_shown_in_its_own_words(client, member, waiting_claim, synced):
    client.force_login(member("agent"))
    synced.update_claim(waiting_claim.pk, status="completed")

    response = client.post(reverse("claims:approve", args=[waiting_claim.pk]), **HTMX)

    body = response.content.decode()
    assert "The Seller Center refused the decision" in body
    assert Decision.objects.get(claim=waiting_claim).state == "failed"
