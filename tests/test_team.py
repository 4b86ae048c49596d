import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from claims import decisions, roles, team
from claims.models import AuditEvent, Claim, User
from claims.roles import Action, Role
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PASSWORD = "a-long-test-password"
LINK = re.compile(r"http://testserver(/team/welcome/[^/\s\"]+/[^/\s\"]+/)")


def team_events(action=None):
    events = AuditEvent.objects.filter(action__startswith="team.").order_by("id")
    return events.filter(action=action) if action else events


def signed_in(client, user):
    client.force_login(user)
    return client


def add_through_the_page(client, **fields):
    data = {"email": "new.member@example.com", "role": "agent", **fields}
    return client.post(reverse("team:add"), data)


# Roles and their permissions


def test_each_role_group_holds_exactly_the_permissions_of_its_rights():
    for role in Role:
        group = Group.objects.get(name=role.value)
        held = set(group.permissions.values_list("codename", flat=True))
        assert held == {action.value for action in Action if role in roles.RIGHTS[action]}, role


def test_a_members_permissions_answer_like_roles_can(member):
    lead = member("lead")

    assert lead.has_perm("claims.manage_team") is True
    assert lead.has_perm("claims.manage_admins") is False
    assert roles.can(lead, Action.MANAGE_TEAM) is True
    assert roles.can(lead, Action.MANAGE_ADMINS) is False


def test_leads_grant_up_to_lead_and_admins_grant_any_role(member):
    assert roles.grantable_roles(member("lead")) == [Role.VIEWER, Role.AGENT, Role.LEAD]
    assert roles.grantable_roles(member("admin")) == list(Role)
    assert roles.grantable_roles(member("agent")) == []


# The team page


def test_the_team_page_is_for_leads_and_admins_only(client, member):
    for role, status in [("viewer", 403), ("agent", 403), ("lead", 200), ("admin", 200)]:
        response = signed_in(client, member(role)).get(reverse("team:members"))
        assert response.status_code == status, role


def test_only_those_who_manage_the_team_see_its_link(client, member):
    team_link = f'href="{reverse("team:members")}"'

    agent_page = signed_in(client, member("agent")).get(reverse("claims:queue"))
    lead_page = signed_in(client, member("lead")).get(reverse("claims:queue"))

    assert team_link not in agent_page.content.decode()
    assert team_link in lead_page.content.decode()


def test_the_team_page_shows_role_last_login_and_decisions_made(client, member, sandbox):
    sync_everything()
    lead = member("lead", username="lee")
    agent = member("agent", username="ayla", first_name="Ayla", last_name="Kaya")
    for claim in Claim.objects.filter(status="waiting").order_by("created_at", "id")[:2]:
        assert decisions.approve(claim.pk, agent).ok

    response = signed_in(client, lead).get(reverse("team:members"))

    rows = {row.member.username: row for row in response.context["rows"]}
    assert (rows["ayla"].role, rows["ayla"].member.decisions_made) == (Role.AGENT, 2)
    assert (rows["lee"].role, rows["lee"].member.decisions_made) == (Role.LEAD, 0)
    assert rows["lee"].member.last_login is not None and rows["ayla"].member.last_login is None
    assert "Ayla Kaya" in response.content.decode()


def test_the_team_page_costs_the_same_queries_for_more_members(client, member):
    client = signed_in(client, member("lead"))
    member("agent")
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("team:members"))
    for role in ["viewer", "agent", "lead", "admin", "viewer"]:
        member(role)
    with CaptureQueriesContext(connection) as more:
        client.get(reverse("team:members"))

    assert len(more) == len(few)


def test_a_superuser_made_by_createsuperuser_is_an_admin_on_the_team_page(
    client, member, monkeypatch
):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command(
        "createsuperuser",
        interactive=False,
        username="root",
        email="root@example.com",
        stdout=StringIO(),
    )
    root = User.objects.get(username="root")

    response = signed_in(client, root).get(reverse("team:members"))

    assert roles.role_of(root) == Role.ADMIN
    rows = {row.member.username: row for row in response.context["rows"]}
    assert rows["root"].role == Role.ADMIN
    assert list(team.active_admins()) == [root]
    row_html = response.content.decode().split(f'id="member-{root.pk}"')[1]
    assert row_html.split('class="member-role">')[1].startswith("Admin</td>")


# Adding a member


def test_a_lead_adds_a_member_who_sets_a_password_once_with_the_link(client, member):
    lead = member("lead")

    response = add_through_the_page(signed_in(client, lead), first_name="Nur")

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    new = User.objects.get(username="new.member@example.com")
    assert (roles.role_of(new), new.first_name, new.has_usable_password()) == (
        Role.AGENT,
        "Nur",
        False,
    )
    event = team_events().get()
    assert (event.action, event.actor, event.subject_user) == ("team.member_added", lead, new)
    assert event.details == {"role": "agent"}

    link = LINK.search(response.content.decode()).group(1)
    client.logout()
    form_url = client.get(link)["Location"]
    weak = client.post(form_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200
    assert "This password is too common." in weak.content.decode()

    strong = "plum-orchard-47-lantern"
    done = client.post(form_url, {"new_password1": strong, "new_password2": strong})
    assert done["Location"] == reverse("login")
    new.refresh_from_db()
    assert new.check_password(strong)
    again = client.get(link)
    assert again.status_code == 200 and again.context["validlink"] is False


def test_the_link_is_e_mailed_instead_when_e_mail_is_configured(client, member, settings):
    settings.INVITE_BY_EMAIL = True

    response = add_through_the_page(signed_in(client, member("lead")))

    assert [message.to for message in mail.outbox] == [["new.member@example.com"]]
    link = LINK.search(mail.outbox[0].body).group(1)
    assert link not in response.content.decode()
    assert "was e-mailed to them" in response.content.decode()


def test_the_link_is_shown_after_all_when_the_mail_server_cannot_be_reached(
    client, member, settings
):
    settings.INVITE_BY_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2

    response = add_through_the_page(signed_in(client, member("lead")))

    assert response.status_code == 200
    assert LINK.search(response.content.decode())
    assert User.objects.filter(username="new.member@example.com").exists()


def test_an_e_mail_address_already_on_the_team_is_refused(client, member):
    client = signed_in(client, member("lead"))
    add_through_the_page(client)

    response = add_through_the_page(client, email="New.Member@example.com")

    assert response.status_code == 422
    assert "A member with this e-mail address already exists." in response.content.decode()
    assert team_events().count() == 1


def test_a_lead_cannot_add_an_admin(client, member):
    response = add_through_the_page(signed_in(client, member("lead")), role="admin")

    assert response.status_code == 422
    assert not User.objects.filter(username="new.member@example.com").exists()
    assert not team_events().exists()


def test_the_add_member_command_makes_the_first_admin_with_a_working_link(client, settings):
    settings.SITE_URL = "http://testserver"
    out = StringIO()

    call_command("add_member", "Boss@Example.com", "--role", "admin", stdout=out)

    boss = User.objects.get(username="boss@example.com")
    assert roles.assigned_role(boss) == Role.ADMIN
    event = team_events().get()
    assert (event.action, event.actor, event.subject_user) == ("team.member_added", None, boss)
    link = LINK.search(out.getvalue()).group(1)
    assert client.get(client.get(link)["Location"]).context["validlink"] is True


# Changing roles


def test_a_lead_sets_an_agent_to_lead_and_the_change_is_audited(client, member):
    lead, agent = member("lead"), member("agent")

    response = signed_in(client, lead).post(
        reverse("team:role", args=[agent.pk]), {"role": "lead"}
    )

    assert response["Location"] == reverse("team:members")
    assert roles.role_of(User.objects.get(pk=agent.pk)) == Role.LEAD
    event = team_events().get()
    assert (event.action, event.actor, event.subject_user) == ("team.role_changed", lead, agent)
    assert event.details == {"role_before": "agent", "role": "lead"}


def test_an_htmx_role_change_answers_with_the_members_row_only(client, member):
    agent = member("agent")

    response = signed_in(client, member("admin")).post(
        reverse("team:role", args=[agent.pk]), {"role": "viewer"}, **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="member-{agent.pk}"')
    assert "<html" not in body and "is now Viewer." in body


def test_a_lead_can_neither_make_an_admin_nor_change_one(client, member):
    lead, agent, admin = member("lead"), member("agent"), member("admin")
    client = signed_in(client, lead)

    promote = client.post(reverse("team:role", args=[agent.pk]), {"role": "admin"}, **HTMX)
    demote = client.post(reverse("team:role", args=[admin.pk]), {"role": "agent"}, **HTMX)
    deactivate = client.post(reverse("team:deactivate", args=[admin.pk]), **HTMX)

    assert (promote.status_code, demote.status_code, deactivate.status_code) == (422, 422, 422)
    assert "Only an admin may change an admin." in deactivate.content.decode()
    assert roles.role_of(User.objects.get(pk=agent.pk)) == Role.AGENT
    assert roles.role_of(User.objects.get(pk=admin.pk)) == Role.ADMIN
    assert not team_events().exists()


def test_an_admin_makes_a_lead_an_admin(client, member):
    lead = member("lead")

    signed_in(client, member("admin")).post(
        reverse("team:role", args=[lead.pk]), {"role": "admin"}
    )

    assert roles.role_of(User.objects.get(pk=lead.pk)) == Role.ADMIN
    assert list(User.objects.get(pk=lead.pk).groups.values_list("name", flat=True)) == ["admin"]


def test_an_agent_cannot_change_roles_at_all(client, member):
    viewer = member("viewer")

    response = signed_in(client, member("agent")).post(
        reverse("team:role", args=[viewer.pk]), {"role": "lead"}
    )

    assert response.status_code == 403
    assert roles.role_of(User.objects.get(pk=viewer.pk)) == Role.VIEWER


# Deactivating and reactivating


def test_deactivation_signs_the_member_out_at_once(client, member, django_user_model):
    from django.test import Client

    agent = member("agent")
    agents_browser = signed_in(Client(), agent)
    assert agents_browser.get(reverse("claims:queue")).status_code == 200

    response = signed_in(client, member("lead")).post(reverse("team:deactivate", args=[agent.pk]))

    assert response["Location"] == reverse("team:members")
    assert django_user_model.objects.get(pk=agent.pk).is_active is False
    assert not [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(agent.pk)
    ]
    after = agents_browser.get(reverse("claims:queue"))
    assert after.status_code == 302 and after["Location"].startswith(reverse("login"))
    event = team_events().get()
    assert (event.action, event.subject_user, event.details) == (
        "team.member_deactivated",
        agent,
        {"sessions_ended": 1},
    )


def test_a_deactivated_member_cannot_sign_in_and_a_reactivated_one_keeps_their_role(
    client, member
):
    agent = member("agent", username="ayla")
    team.deactivate(None, agent)

    refused = client.post(reverse("login"), {"username": "ayla", "password": PASSWORD})
    team.reactivate(None, agent)
    allowed = client.post(reverse("login"), {"username": "ayla", "password": PASSWORD})

    assert refused.status_code == 200 and "_auth_user_id" not in refused.wsgi_request.session
    assert allowed["Location"] == reverse("claims:queue")
    assert roles.role_of(User.objects.get(pk=agent.pk)) == Role.AGENT
    assert list(team_events().values_list("action", flat=True)) == [
        "team.member_deactivated",
        "team.member_reactivated",
    ]


def test_nobody_deactivates_themselves(member):
    lead = member("lead")

    with pytest.raises(team.TeamError, match="You cannot deactivate yourself."):
        team.deactivate(lead, lead)
    assert User.objects.get(pk=lead.pk).is_active is True


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(member):
    admin = member("admin")

    with pytest.raises(team.TeamError, match="last active admin"):
        team.change_role(admin, admin, Role.LEAD)
    with pytest.raises(team.TeamError, match="last active admin"):
        team.deactivate(None, admin)

    admin = User.objects.get(pk=admin.pk)
    assert (admin.is_active, roles.role_of(admin)) == (True, Role.ADMIN)
    assert not team_events().exists()


def test_an_admin_steps_down_once_another_admin_is_active(member):
    admin, second = member("admin"), member("admin")
    team.deactivate(None, second)
    with pytest.raises(team.TeamError):
        team.change_role(admin, admin, Role.LEAD)

    team.reactivate(None, second)

    assert team.change_role(admin, admin, Role.LEAD) is True
    assert roles.role_of(User.objects.get(pk=admin.pk)) == Role.LEAD


def test_demoting_a_superuser_takes_the_superuser_flag_with_the_role(member, django_user_model):
    member("admin")
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)

    team.change_role(None, root, Role.AGENT)

    root.refresh_from_db()
    assert (root.is_superuser, root.is_staff, roles.role_of(root)) == (False, False, Role.AGENT)


# Signing in


def test_sign_ins_sign_outs_and_failures_are_audited(client, member):
    agent = member("agent", username="ayla")

    client.post(reverse("login"), {"username": "ayla", "password": "wrong"})
    client.post(reverse("login"), {"username": "ayla", "password": PASSWORD})
    client.post(reverse("logout"))

    events = AuditEvent.objects.filter(action__startswith="auth.").order_by("id")
    assert [(e.action, e.actor, e.subject_user) for e in events] == [
        ("auth.login_failed", None, agent),
        ("auth.login", agent, agent),
        ("auth.logout", agent, agent),
    ]
    assert events[0].details == {"username": "ayla"}
    assert events[0].client_ip == "127.0.0.1"


def test_repeated_failures_lock_the_username_out_even_with_the_right_password(
    client, member, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    member("agent", username="ayla")

    answers = [
        client.post(reverse("login"), {"username": "ayla", "password": "wrong"}).status_code
        for _ in range(3)
    ]
    right = client.post(reverse("login"), {"username": "ayla", "password": PASSWORD})

    assert answers == [200, 200, 429]
    assert right.status_code == 429
    assert "Too many failed sign-ins" in right.content.decode()
    assert "_auth_user_id" not in client.session
    lockouts = AuditEvent.objects.filter(action="auth.lockout")
    assert lockouts.count() == 2
    assert {e.details["username"] for e in lockouts} == {"ayla"}


def test_repeated_failures_from_one_address_lock_that_address_out(client, member, settings):
    settings.AXES_FAILURE_LIMIT = 3
    member("agent", username="ayla")
    for name in ["x1", "x2", "x3"]:
        client.post(reverse("login"), {"username": name, "password": "wrong"})

    from_here = client.post(reverse("login"), {"username": "ayla", "password": PASSWORD})
    elsewhere = client.post(
        reverse("login"),
        {"username": "ayla", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.9",
    )

    assert from_here.status_code == 429
    assert elsewhere["Location"] == reverse("claims:queue")


def test_an_idle_session_signs_out(client, member, settings):
    client = signed_in(client, member("viewer"))
    assert client.get(reverse("claims:queue")).status_code == 200
    session = Session.objects.get(pk=client.session.session_key)
    remaining = (session.expire_date - timezone.now()).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 60 < remaining <= settings.SESSION_COOKIE_AGE

    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now())
    response = client.get(reverse("claims:queue"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
