import pytest


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests do not run collectstatic, so the manifest storage has nothing to look up.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


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
