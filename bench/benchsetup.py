"""Set-up shared by the benchmark scripts that run Django in their own process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def recreate_database(name):
    for statement in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", "-qh", "127.0.0.1", "-U", "postgres", "-c", statement], check=True)


def setup_django():
    # This folder holds bench/queue.py, named like the standard library's queue module, which
    # Django imports: take the folder off the path first.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "claimdesk.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # No collectstatic here, so the manifest storage would have nothing to look up.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
