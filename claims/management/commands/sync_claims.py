import logging
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from claims.preferences import in_terminal_language
from claims.seller_center import SellerCenterError
from claims.sync import SyncBusy, sync_everything

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Sync claim reasons and claims from the Seller Center into the local cache."

    def add_arguments(self, parser):
        parser.add_argument(
            "--full", action="store_true", help="Fetch every claim, not only recent changes."
        )
        parser.add_argument(
            "--every",
            type=int,
            nargs="?",
            const=0,
            metavar="SECONDS",
            help="Keep running as a worker, syncing every SECONDS (alone: SYNC_INTERVAL).",
        )

    def handle(self, *args, full=False, every=None, verbosity=1, **options):
        self.verbosity = verbosity
        if every is None:
            self._run_once(full)
            return
        self._run_worker(full, max(every or settings.SYNC_INTERVAL, 1))

    def _run_worker(self, full, interval):
        # A worker's output is its log: one line per event, in the configured format. Each
        # run's summary and failure are logged by the sync itself.
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        logger.info("sync worker started: every %s s", interval)
        while not stop.is_set():
            try:
                sync_everything(full=full)
            except SyncBusy:
                logger.info("sync skipped: another sync is running")
            except SellerCenterError:
                pass  # logged by the sync, and shown by /healthz and the dashboard
            full = False
            stop.wait(interval)
        logger.info("sync worker stopped")

    @in_terminal_language
    def _run_once(self, full):
        # A worker's stored errors are read by every member: only a one-off run speaks the
        # terminal's language.
        if not self._sync_once(full):
            raise CommandError(_("Sync failed."))

    def _sync_once(self, full):
        try:
            summaries = sync_everything(full=full, progress=self._progress)
        except SyncBusy:
            self.stdout.write(_("Another sync is running; this one was skipped."))
            return True
        except SellerCenterError as error:
            self._end_progress()
            self.stderr.write(_("Sync failed: %(reason)s") % {"reason": error.message})
            return False
        self._end_progress()
        if self.verbosity:
            for summary in summaries:
                self.stdout.write(_summary_text(summary))
        return True

    def _progress(self, summary, page):
        if not (self.verbosity and sys.stdout.isatty()):
            return
        total = max(page.count, summary.fetched)
        done = summary.fetched / total if total else 1
        bar = "#" * int(done * 30)
        words = {"fetched": summary.fetched, "total": total, "pages": summary.pages}
        sys.stdout.write(
            f"\r{_kind(summary):<10} [{bar:<30}] "
            + _("%(fetched)s/%(total)s · page %(pages)s") % words
        )
        sys.stdout.flush()
        self._progress_shown = True

    def _end_progress(self):
        if getattr(self, "_progress_shown", False):
            sys.stdout.write("\n")
            self._progress_shown = False


def _kind(summary):
    return {"reasons": _("reasons"), "claims": _("claims")}.get(summary.name, summary.name)


def _summary_text(summary):
    """The summary's log line in the terminal's words."""
    return _(
        "%(kind)s: pages %(pages)s, fetched %(fetched)s, created %(created)s, updated "
        "%(updated)s, unchanged %(unchanged)s, %(seconds).1f s"
    ) % {
        "kind": _kind(summary),
        "pages": summary.pages,
        "fetched": summary.fetched,
        "created": summary.created,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "seconds": summary.seconds,
    }
