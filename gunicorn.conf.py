"""gunicorn's settings for ClaimDesk's web process (`make serve`, the Procfile), read from the
environment. gunicorn loads this file from the working directory by itself."""

import multiprocessing
import os

wsgi_app = "claimdesk.wsgi:application"
# Where to listen: --bind on the command line; without it gunicorn takes 0.0.0.0:$PORT when
# PORT is set, and 127.0.0.1:8000 otherwise.
# Threads, because a decision waits on the Seller Center for up to SELLER_CENTER_TIMEOUT: a
# slow Seller Center must not tie up every process. Each thread holds its own PostgreSQL
# connection, so a machine opens up to workers x threads of them.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Longer than the longest call to the Seller Center a request can make (connect + read).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# ClaimDesk does not use gunicorn's control socket, and two servers on one machine would
# contend for its path.
control_socket_disable = True
# Each request is logged once by ClaimDesk itself, with its request id and without the query
# string; gunicorn's access log would repeat it, query and all.
accesslog = None
errorlog = "-"


def _log_config():
    formatter = (
        {"()": "claims.logs.JsonFormatter"}
        if os.environ.get("LOG_FORMAT") == "json"
        else {
            "class": "claims.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [-] %(message)s",
        }
    )
    return {
        "formatters": {"claimdesk": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "claimdesk",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


# gunicorn's own lines (start, stop, worker timeouts) in the same format as ClaimDesk's.
logconfig_dict = _log_config()
