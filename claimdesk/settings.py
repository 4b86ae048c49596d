"""ClaimDesk settings: every value comes from the environment (or a `.env` file)."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "development-only-key-never-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "claims.apps.ClaimDeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "claims",
]

MIDDLEWARE = [
    "claims.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A member's own language and time zone, over the browser's language LocaleMiddleware found.
    "claims.middleware.MemberPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "claims.middleware.HtmxLoginRedirectMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "claimdesk.urls"
WSGI_APPLICATION = "claimdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "claims.context_processors.claimdesk",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/claimdesk")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "claims.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username or address is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "claims:queue"
LOGOUT_REDIRECT_URL = "login"

# Idle sessions expire: every request pushes the expiry forward.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=8 * 60 * 60)
SESSION_SAVE_EVERY_REQUEST = True

# Sign-in throttling (django-axes): this many failures for one username, or from one address,
# lock that username or address out for a while. A successful sign-in clears the count.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# django-axes names the client in its log lines; ClaimDesk's say only which request it was
# (the audit log keeps who tried, in the database).
AXES_CLIENT_STR_CALLABLE = "claims.logs.axes_client_description"

# New members get a one-time set-password link: e-mailed when EMAIL_URL is set (for example
# smtp+tls://user:password@host:587), otherwise shown once to whoever added them.
EMAIL_URL = env.str("EMAIL_URL", default="")
INVITE_BY_EMAIL = bool(EMAIL_URL)
if INVITE_BY_EMAIL:
    globals().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="claimdesk@localhost")
# Server errors are e-mailed to these addresses (comma-separated), through EMAIL_URL.
ADMINS = [("", address) for address in env.list("ADMINS", default=[])]
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Error e-mails are sent even for a request whose data Django refuses to read.
DEFAULT_EXCEPTION_REPORTER = "claims.logs.RequestProofExceptionReporter"
# Links made outside a request (the add_member command) start with this.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("tr", _("Turkish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# A member's choice of language is also kept in this cookie, for the sign-in page.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Istanbul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Production hardening; each can be relaxed from the environment for a local demo.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# The header alone lists nothing: only the domain's owner can submit it to the browsers'
# preload list, and a subdomain (where ClaimDesk usually lives) cannot be submitted at all.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers and scrapers probe app servers directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Scripts and styles come only from ClaimDesk's own static files: no inline code at all.
# Evidence images are previewed from wherever the seller keeps them, always over HTTPS.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "https:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Seller Center Integration API. With no URL configured, ClaimDesk talks to the
# local sandbox (`manage.py sandbox`) with the sandbox's own key.
SANDBOX_PORT = env.int("SANDBOX_PORT", default=8001)
SANDBOX_API_KEY = env.str("SANDBOX_API_KEY", default="sandbox-key")
SELLER_CENTER_URL = env.str(
    "SELLER_CENTER_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}/api"
).rstrip("/")
SELLER_CENTER_API_KEY = env.str("SELLER_CENTER_API_KEY", default=SANDBOX_API_KEY)
SELLER_CENTER_AUTH_SCHEME = env.str("SELLER_CENTER_AUTH_SCHEME", default="")
SELLER_CENTER_CONNECT_TIMEOUT = env.float("SELLER_CENTER_CONNECT_TIMEOUT", default=3.05)
SELLER_CENTER_TIMEOUT = env.float("SELLER_CENTER_TIMEOUT", default=15.0)
SELLER_CENTER_READ_RETRIES = env.int("SELLER_CENTER_READ_RETRIES", default=3)
SELLER_CENTER_BACKOFF = env.float("SELLER_CENTER_BACKOFF", default=0.5)
SELLER_CENTER_MAX_RETRY_AFTER = env.float("SELLER_CENTER_MAX_RETRY_AFTER", default=30.0)
SELLER_CENTER_PAGE_SIZE = env.int("SELLER_CENTER_PAGE_SIZE", default=500)
SELLER_CENTER_MAX_PAGES = env.int("SELLER_CENTER_MAX_PAGES", default=2000)
SELLER_CENTER_MAX_BODY_BYTES = env.int("SELLER_CENTER_MAX_BODY_BYTES", default=16 * 2**20)

SYNC_INTERVAL = env.int("SYNC_INTERVAL", default=60)
SYNC_OVERLAP_SECONDS = env.int("SYNC_OVERLAP_SECONDS", default=300)

# /healthz fails when no claims sync has succeeded, or no sync worker has written its
# heartbeat, for this long; or when a background task has waited this long for a worker.
HEALTHZ_SYNC_MAX_AGE = env.int("HEALTHZ_SYNC_MAX_AGE", default=max(15 * 60, 5 * SYNC_INTERVAL))
HEALTHZ_TASK_MAX_WAIT = env.int("HEALTHZ_TASK_MAX_WAIT", default=5 * 60)
# /metrics (Prometheus) answers only when enabled, and then only to this bearer token if set.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Background work (bulk decisions) is queued in PostgreSQL and run by `manage.py db_worker`.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Bulk decisions call the Seller Center at most this often; it documents no rate limit.
BULK_REQUESTS_PER_SECOND = env.float("BULK_REQUESTS_PER_SECOND", default=2.0)
if not 0 < BULK_REQUESTS_PER_SECOND <= 100:
    raise ImproperlyConfigured("BULK_REQUESTS_PER_SECOND must be above 0 and at most 100.")

# Queue rows turn amber, then red, after this many days waiting.
WAITING_WARN_DAYS = env.int("WAITING_WARN_DAYS", default=3)
WAITING_ALERT_DAYS = env.int("WAITING_ALERT_DAYS", default=7)
# The open queue re-reads its counts and rows this often, while its browser tab is visible.
QUEUE_POLL_SECONDS = env.int("QUEUE_POLL_SECONDS", default=20)

# One line per event on standard error: plain text to read, or JSON to ship (LOG_FORMAT=json).
# Every line carries the request id of the request, sync run or task it belongs to, and the
# API key is taken out of messages, tracebacks and error e-mails.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "claims.logs.RequestIdFilter"},
        "redact": {"()": "claims.logs.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "skip_failing_probes": {"()": "claims.logs.SkipFailingProbes"},
    },
    "formatters": {
        "plain": {
            "class": "claims.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "claims.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact", "request_id"],
        },
        "mail_admins": {
            "class": "claims.logs.RedactingAdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # In place of Django's own handlers, which would print each line a second time.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.request": {"filters": ["skip_failing_probes"]},
        "django.db.backends": {"level": "WARNING"},
        # django-axes reports every sign-in at INFO; failures and lockouts come at WARNING.
        "axes": {"level": "WARNING"},
    },
}
