import pytest
from playwright.sync_api import expect

from claims import roles
from claims.models import User
from claims.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lead_adds_a_member_who_chooses_a_password_and_signs_in(page, sign_in, synced_server):
    sign_in("lead")

    page.get_by_role("link", name="Team").click()
    page.get_by_role("link", name="Add a member").click()
    page.get_by_label("E-mail address").fill("deniz@example.com")
    page.get_by_label("Role").select_option("agent")
    page.get_by_role("button", name="Add member").click()
    link = page.get_by_label("Set-password link").input_value()
    page.get_by_role("button", name="Sign out").click()

    page.goto(link)
    page.get_by_label("New password").fill("quiet-harbour-93-kettle")
    page.get_by_label("The same password again").fill("quiet-harbour-93-kettle")
    page.get_by_role("button", name="Set password").click()
    page.get_by_label("Username").fill("deniz@example.com")
    page.get_by_label("Password").fill("quiet-harbour-93-kettle")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{synced_server.url}/")
    expect(page.locator(".usermenu .role")).to_have_text("Agent")


def test_a_lead_changes_a_role_and_deactivates_a_member_in_place(page, sign_in, member):
    sign_in("lead")
    agent = member("agent", username="ayla")
    page.get_by_role("link", name="Team").click()
    row = page.locator(f"#member-{agent.pk}")

    row.get_by_label("Role for ayla").select_option("viewer")
    row.get_by_role("button", name="Set role").click()
    expect(row.locator(".notice-success")).to_have_text("ayla is now Viewer.")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Deactivate").click()

    expect(row.locator(".notice-success")).to_have_text("ayla is deactivated and signed out.")
    expect(row.get_by_role("button", name="Reactivate")).to_be_visible()
    ayla = User.objects.get(pk=agent.pk)
    assert (ayla.is_active, roles.assigned_role(ayla)) == (False, Role.VIEWER)
