from pathlib import Path

import pytest
from django.db.backends.signals import connection_created


def _allow_audit_truncate(sender, connection, **kwargs):
    # Transactional tests end with a flush, one TRUNCATE of every table; the audit table
    # refuses that unless the session allows it (migration 0008). Every connection of the
    # test-suite, the live server's too, does.
    with connection.cursor() as cursor:
        cursor.execute("SET claimdesk.allow_audit_truncate = on")


connection_created.connect(_allow_audit_truncate, dispatch_uid="tests-allow-audit-truncate")


@pytest.fixture(scope="session", autouse=True)
def _test_settings():
    # Session-wide, so the live server sees them too. Tests do not run collectstatic, so the
    # manifest storage would have nothing to look up; and they speak plain HTTP.
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture(scope="session", autouse=True)
def _compiled_messages():
    # As the build does (make translations): the .mo files are build output, not in git, and
    # a catalogue edited since the last build must be what the tests read.
    from django.core.management import call_command
    from django.utils.translation.reloader import translation_file_changed

    ignored = [".venv", ".git", "staticfiles", "node_modules"]
    call_command("compilemessages", ignore_patterns=ignored, verbosity=0)
    translation_file_changed(None, Path("django.mo"))  # forget catalogues read before


@pytest.fixture
def member(django_user_model):
    """Makes a team member with the given role."""
    from claims import roles

    def make(role, username=None, **fields):
        user = django_user_model.objects.create_user(
            username=username or f"{role}-{django_user_model.objects.count() + 1}",
            password="a-long-test-password",
            **fields,
        )
        roles.set_role(user, role)
        return user

    return make


@pytest.fixture(scope="session")
def sandbox_server():
    """One stand-in Seller Center for the whole session, on a free loopback port."""
    from claims.sandbox import Sandbox

    server = Sandbox(api_key="test-key", claims=300, seed=7).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """The session's sandbox, freshly reset, with ClaimDesk's settings pointing at it."""
    sandbox_server.reset()
    settings.SELLER_CENTER_URL = sandbox_server.url
    settings.SELLER_CENTER_API_KEY = "test-key"
    settings.SELLER_CENTER_AUTH_SCHEME = ""
    settings.SELLER_CENTER_READ_RETRIES = 2
    settings.SELLER_CENTER_BACKOFF = 0.01
    yield sandbox_server
    sandbox_server.faults.clear()
