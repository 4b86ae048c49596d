import time

from django.core.management.base import BaseCommand, CommandError

from claims import audit
from claims.models import AuditEvent

# A terminal's progress line is redrawn at most this often.
PROGRESS_SECONDS = 0.25


class Command(BaseCommand):
    help = (
        "Check the audit's hash chain from the first event to the last, in id order, and name "
        "the first event that does not match. Exits with status 1 if one does not."
    )

    def handle(self, *args, verbosity=1, **options):
        self.shown_at = 0.0
        self.show_progress = verbosity > 0 and self.stdout.isatty()
        self.total = AuditEvent.objects.count() if self.show_progress else 0
        verdict = audit.verify(on_progress=self._progress)
        self._end_progress()
        if not verdict.ok:
            raise CommandError(_broken_message(verdict), returncode=1)
        if verbosity:
            self.stdout.write(_ok_message(verdict))

    def _progress(self, checked):
        now = time.monotonic()
        if not self.show_progress or now - self.shown_at < PROGRESS_SECONDS:
            return
        self.shown_at = now
        total = max(self.total, checked)
        bar = "#" * (30 * checked // total)
        self.stdout.write(f"\rchecking [{bar:<30}] {checked}/{total}", ending="")
        self.stdout.flush()

    def _end_progress(self):
        if self.shown_at:
            self.stdout.write("\r" + " " * 60 + "\r", ending="")


def _broken_message(verdict):
    event = verdict.broken
    return (
        f"Audit event {event.id} ({event.action} at {event.at.isoformat()}) does not match its "
        f"hash: it was changed, or the event before it was removed or rewritten. The "
        f"{verdict.checked} events before it are intact."
    )


def _ok_message(verdict):
    if verdict.last_id is None:
        return "The audit has no events yet."
    return (
        f"{verdict.checked} audit events verified. The chain ends at event {verdict.last_id} "
        f"with hash {verdict.last_hash}."
    )
