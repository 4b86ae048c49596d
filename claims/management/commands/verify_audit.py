import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from claims import audit
from claims.models import AuditEvent
from claims.preferences import in_terminal_language

# A terminal's progress line is redrawn at most this often.
PROGRESS_SECONDS = 0.25


class Command(BaseCommand):
    help = (
        "Check the audit's hash chain from the first event to the last, in id order, and name "
        "the first event that does not match. Exits with status 1 if one does not."
    )

    @in_terminal_language
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
        words = {"bar": f"{bar:<30}", "checked": checked, "total": total}
        self.stdout.write("\r" + _("checking [%(bar)s] %(checked)s/%(total)s") % words, ending="")
        self.stdout.flush()

    def _end_progress(self):
        if self.shown_at:
            self.stdout.write("\r" + " " * 60 + "\r", ending="")


def _broken_message(verdict):
    event = verdict.broken
    return _(
        "Audit event %(id)s (%(action)s at %(at)s) does not match its hash: it was changed, or "
        "the event before it was removed or rewritten. The %(checked)s events before it are "
        "intact."
    ) % {
        "id": event.id,
        "action": event.action,
        "at": event.at.isoformat(),
        "checked": verdict.checked,
    }


def _ok_message(verdict):
    if verdict.last_id is None:
        return _("The audit has no events yet.")
    return _(
        "%(checked)s audit events verified. The chain ends at event %(id)s with hash %(hash)s."
    ) % {"checked": verdict.checked, "id": verdict.last_id, "hash": verdict.last_hash}
