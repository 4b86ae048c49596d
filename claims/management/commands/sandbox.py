"""Serve the stand-in Seller Center (claims/sandbox.py) until interrupted."""

import ipaddress
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from claims.sandbox import Sandbox


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Serve a stand-in Seller Center Integration API on a loopback address."
    # The sandbox does not depend on the rest of the project being in a checkable state.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
        parser.add_argument(
            "--port", type=int, default=None, help="port (default: SANDBOX_PORT; 0 = any free)"
        )
        parser.add_argument("--claims", type=int, default=3000, help="claims to generate")
        parser.add_argument("--seed", type=int, default=7, help="seed for the generated data")
        parser.add_argument(
            "--live", action="store_true", help="keep changing the data like a marketplace"
        )
        parser.add_argument("--tick", type=float, default=5.0, help="seconds between live changes")

    def handle(self, *args, **options):
        host = options["host"]
        if not _is_loopback(host):
            raise CommandError(f"The sandbox only serves on a loopback address, not {host!r}.")
        port = settings.SANDBOX_PORT if options["port"] is None else options["port"]
        if not 0 <= port <= 65535:
            raise CommandError(f"Not a port: {port}.")
        if options["claims"] < 0:
            raise CommandError("--claims cannot be negative.")
        if options["tick"] <= 0:
            raise CommandError("--tick must be positive.")

        sandbox = Sandbox(
            api_key=settings.SANDBOX_API_KEY,
            claims=options["claims"],
            seed=options["seed"],
            live=options["live"],
            tick_seconds=options["tick"],
        )
        try:
            sandbox.start(host=host, port=port)
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{port}: {error.strerror}") from error

        mode = f"live, a change every {options['tick']:g} s" if options["live"] else "static"
        self.stdout.write(
            f"Sandbox Seller Center serving {options['claims']} claims at {sandbox.url} "
            f"({mode}); Ctrl-C to stop."
        )
        self.stdout.flush()

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            sandbox.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self.stdout.write("Sandbox stopped.")
