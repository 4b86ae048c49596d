"""Running ClaimDesk in another process against the test database and the test sandbox."""

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def start(args, sandbox, **settings):
    """`python ARGS` in the project directory; extra settings as environment variables."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "claimdesk.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "SECRET_KEY": "test",
        "SELLER_CENTER_URL": sandbox.url,
        "SELLER_CENTER_API_KEY": sandbox.api_key,
        **{name: str(value) for name, value in settings.items()},
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
