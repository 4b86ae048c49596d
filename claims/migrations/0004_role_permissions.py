"""Each role group gets one permission per right it holds (roles.RIGHTS, as of this migration).

The rights are copied here rather than imported, so this migration keeps meaning what it meant
when it ran; tests/test_team.py checks the database still agrees with roles.RIGHTS, so a change
to RIGHTS needs a migration like this one.
"""

from django.db import migrations

PERMISSIONS = {
    "view_claims": "Can see queues and claims",
    "decide": "Can approve and reject claims",
    "refresh": "Can refresh claims from the Seller Center",
    "bulk_decide": "Can make bulk decisions",
    "view_own_audit": "Can see own audit events",
    "view_all_audit": "Can see everyone's audit events",
    "view_reports": "Can see reports",
    "manage_team": "Can manage the team",
    "manage_admins": "Can make admins",
    "use_admin_site": "Can use the Django admin",
}

EVERYONE = ["viewer", "agent", "lead", "admin"]
DECIDERS = ["agent", "lead", "admin"]
LEADS = ["lead", "admin"]
GRANTS = {
    "view_claims": EVERYONE,
    "decide": DECIDERS,
    "refresh": DECIDERS,
    "bulk_decide": LEADS,
    "view_own_audit": EVERYONE,
    "view_all_audit": LEADS,
    "view_reports": LEADS,
    "manage_team": LEADS,
    "manage_admins": ["admin"],
    "use_admin_site": ["admin"],
}


def grant_role_permissions(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    # The rights belong to team members, so they hang off the user model's content type.
    member_type, _ = ContentType.objects.get_or_create(app_label="claims", model="user")
    for codename, name in PERMISSIONS.items():
        permission, _ = Permission.objects.get_or_create(
            content_type=member_type, codename=codename, defaults={"name": name}
        )
        for role in GRANTS[codename]:
            group, _ = Group.objects.get_or_create(name=role)
            group.permissions.add(permission)


def remove_role_permissions(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="claims", codename__in=list(PERMISSIONS)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0003_canned_reason"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_role_permissions, remove_role_permissions)]
