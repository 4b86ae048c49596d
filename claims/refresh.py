"""A sync started from the dashboard, run in a background thread so the page never waits.

`sync.sync_everything` takes the PostgreSQL advisory lock itself, so a refresh while a worker
or another web process is syncing stops at once with SyncBusy. The thread only keeps one
process from starting a second refresh while its first one runs.
"""

import logging
import threading

from django.db import connection
from django.utils import translation

from .seller_center import SellerCenterError
from .sync import SyncBusy, sync_everything

logger = logging.getLogger(__name__)

_guard = threading.Lock()
_running = None


def start():
    """Start a sync in the background; False when this process already runs one.

    The sync speaks the language of whoever asked for it, so the Seller Center's messages
    about it (shown as the reason a sync failed) are in words they read.
    """
    global _running
    language = translation.get_language()
    with _guard:
        if _running is not None and _running.is_alive():
            return False
        _running = threading.Thread(
            target=_sync, args=(language,), name="claimdesk-refresh", daemon=True
        )
        _running.start()
    return True


def wait(timeout=None):
    """Block until the background sync, if any, has finished (for tests and shutdown)."""
    thread = _running
    if thread is not None:
        thread.join(timeout)


def _sync(language):
    try:
        # A new thread starts in the default language, whatever the request's was.
        with translation.override(language):
            sync_everything()
    except SyncBusy:
        logger.info("refresh skipped: another sync is running")
    except SellerCenterError as error:
        # sync_everything has already recorded the failure for the freshness indicator.
        logger.warning("refresh failed: %s", error.message)
    except Exception:
        logger.exception("refresh stopped unexpectedly")
    finally:
        # The thread's own connection would otherwise stay open until the process ends.
        connection.close()
