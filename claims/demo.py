"""Demo-only helpers: they refuse to act unless ClaimDesk talks to the local sandbox."""

from django.conf import settings
from django.contrib.auth import get_user_model

from . import roles

DEMO_LOGINS = [
    ("viewer", "demo-viewer-pass", roles.Role.VIEWER),
    ("agent", "demo-agent-pass", roles.Role.AGENT),
    ("lead", "demo-lead-pass", roles.Role.LEAD),
    ("admin", "demo-admin-pass", roles.Role.ADMIN),
]


def uses_sandbox():
    return settings.SELLER_CENTER_URL == f"http://127.0.0.1:{settings.SANDBOX_PORT}/api"


def ensure_demo_users():
    """One user per role with a known password; only ever against the sandbox."""
    if not uses_sandbox():
        raise RuntimeError("Demo users are only created against the sandbox Seller Center.")
    User = get_user_model()
    for username, password, role in DEMO_LOGINS:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={"first_name": f"Demo {role.value}", "email": f"{username}@example.com"},
        )
        user.set_password(password)
        user.is_active = True
        user.is_staff = role == roles.Role.ADMIN
        user.save()
        roles.set_role(user, role)
    return [(username, password, role.value) for username, password, role in DEMO_LOGINS]
