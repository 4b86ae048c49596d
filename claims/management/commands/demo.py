import signal
import socket
import subprocess
import sys
import time

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql

from claims.demo import ensure_demo_users, uses_sandbox


class Command(BaseCommand):
    help = (
        "Run the whole demo: database, migrations, the sandbox Seller Center, a first sync, "
        "demo users, a sync worker and the dashboard on http://127.0.0.1:8000."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Dashboard port.")
        parser.add_argument("--claims", type=int, default=3000, help="Sandbox claims.")

    def handle(self, *args, port, claims, **options):
        ensure_database(self.stdout)
        call_command("migrate", verbosity=0)
        self.stdout.write("Database ready and migrated.")

        children = []
        try:
            if uses_sandbox():
                children.append(self._start_sandbox(claims))
            else:
                self.stdout.write("A real Seller Center is configured: no sandbox, no demo users.")
            call_command("sync_claims", stdout=self.stdout, stderr=self.stderr)
            if uses_sandbox():
                self._print_logins(ensure_demo_users())
            children.append(self._spawn("sync_claims", f"--every={settings.SYNC_INTERVAL}"))
            children.append(self._spawn("db_worker", "--no-reload"))
            children.append(self._spawn("runserver", f"127.0.0.1:{port}", "--noreload"))
            self.stdout.write(self.style.SUCCESS(f"ClaimDesk: http://127.0.0.1:{port}/"))
            self._wait(children)
        finally:
            _stop(children)
            self.stdout.write("Stopped everything the demo started.")

    def _start_sandbox(self, claims):
        port = settings.SANDBOX_PORT
        if _port_open(port):
            raise CommandError(f"Port {port} is taken; stop what runs there or set SANDBOX_PORT.")
        child = self._spawn("sandbox", "--live", f"--claims={claims}", f"--port={port}")
        deadline = time.monotonic() + 60
        while not _port_open(port):
            if child.poll() is not None or time.monotonic() > deadline:
                raise CommandError("The sandbox Seller Center did not start.")
            time.sleep(0.2)
        return child

    def _spawn(self, *command):
        connection.close()
        return subprocess.Popen([sys.executable, "manage.py", *command])

    def _print_logins(self, logins):
        self.stdout.write("Demo sign-ins (sandbox only):")
        for username, password, role in logins:
            self.stdout.write(f"  {role:<7} {username} / {password}")

    def _wait(self, children):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            return
        raise CommandError("A demo process stopped unexpectedly; stopping the rest.")


def ensure_database(stdout):
    """Create the configured database when it does not exist yet."""
    db = settings.DATABASES["default"]
    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            stdout.write(f"Created database {db['NAME']}.")


def _port_open(port):
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop(children):
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
