"""Settings, read from the environment through django-environ.

Every default makes the embedded run work (SQLite, files under ``media/``, the
filesystem Celery broker, emails written to ``var/emails``). Production sets
its values in the environment: ``deploy/production.env.example`` lists them,
and ``manage.py check --deploy`` is clean with it.
"""

import datetime
from decimal import Decimal
from pathlib import Path

import environ
from csp import constants as csp_constants
from django.templatetags.static import static
from django.urls import reverse_lazy

from backoffice import logs, theme

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The default key is for the embedded run only; check --deploy flags it.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-embedded-run-only")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The staff console's theme (docs/console.md): before django.contrib.admin, whose templates it replaces.
    "unfold",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Logins (docs/security.md): lockout and throttling, two factors.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # The Content-Security-Policy's checks (backoffice/csp.py).
    "csp",
    # Its templates render /health/'s page (backoffice/health.py).
    "health_check",
    "returns",
    "shipments",
    "inspections",
    "refunds",
    "warranty",
    "stores",
    # The customer's pages: a channel above the domain apps.
    "portal",
    # The support mailbox (docs/inbox.md): a channel above the domain apps.
    "inbox",
    # The staff's logins: the admin's login form with its code, two-factor enrolment, unlocking.
    "accounts",
    # Last: its post_migrate sets the roles once every app's permissions exist.
    "backoffice",
]

MIDDLEWARE = [
    # First: every later line of this request's logs carries its id (docs/operations.md).
    "backoffice.logs.RequestIdMiddleware",
    # Every response gets the policy (the health pages' too), and templates can read request.csp_nonce.
    "backoffice.csp.ContentSecurityPolicyMiddleware",
    # Then the health URLs, before the host check and the HTTPS redirect (backoffice/health.py).
    "backoffice.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: uploads capped in size and number, NUL characters refused.
    "backoffice.middleware.InputLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages: both tell the person why they were sent elsewhere.
    "accounts.middleware.IdleTimeoutMiddleware",
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login into the login page that says so.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: take the write lock at
    # BEGIN and wait for it instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: PostgreSQL compiles a query it estimates costly (a report grouping a quarter's claims) for
    # longer than it then runs: 2.9 s of the SLA page's 3 s at a million claims. This application's queries
    # are short or read summaries; none gains from it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Seconds a web process or worker keeps its PostgreSQL connection between requests (checked before reuse).
# 0 opens one per request: a fork of a PostgreSQL backend and its authentication, each time. Production sets
# 60 (docs/operations.md: "Load"); the embedded run and the tests keep 0.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The dashboard reads daily summaries on PostgreSQL (backoffice/summaries.py); off: the raw rows.
DASHBOARD_SUMMARIES = env.bool("DASHBOARD_SUMMARIES", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Staff log in through the admin; an unsafe or missing ?next= lands on the admin's home, not a 404.
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Staff move money: 12 characters at least (NIST SP 800-63B's floor is 8; 15 without a second factor).
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logins (docs/security.md, "Logins") ------------------------------------------
# axes first: a locked-out username or address is refused before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Counted in PostgreSQL (axes' database handler, indexed by username and address): every web process
# sees the same counts, a manager sees and unlocks them in the admin, and the check is two indexed queries.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Failures counted per username (from any address) and per address (for any username), each on its own.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
# A lock lifts this long after the last failure that counted; attempts while locked do not extend it.
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
AXES_ENABLE_ADMIN = False  # accounts/admin.py registers the attempts with an "Unlock" action
AXES_VERBOSE = False
# Behind a proxy, the client's address is the last of X-Forwarded-For that the proxy added; 0 trusts none.
LOGIN_TRUSTED_PROXIES = env.int("LOGIN_TRUSTED_PROXIES", default=env.int("PORTAL_TRUSTED_PROXIES", default=0))
# Finance, managers and superusers cannot use the admin before a second factor verified their login
# (accounts.middleware.TWO_FACTOR_PERMISSIONS); everyone else may add one. The test suite turns it off
# for the tests that are not about logins (conftest.py).
TWO_FACTOR_REQUIRED = env.bool("TWO_FACTOR_REQUIRED", default=True)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="After-sales back-office")
# Signed out after this long without a request (accounts.middleware.IdleTimeoutMiddleware).
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
# The session row (and cookie) expire this long after their last write.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)

# --- Content-Security-Policy (docs/security.md) ---------------------------------------
# Inline scripts and styles run only with the request's nonce ({{ request.csp_nonce }}); backoffice/csp.py adds
# the stored files' origin and, under /admin/ only, what the admin theme needs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "img-src": [csp_constants.SELF],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "media-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    },
}

LANGUAGE_CODE = "en-gb"
# The company's time zone: policy windows count in its calendar days.
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
# Dates and instants in the admin follow returns.instants: the company zone, named (docs/console.md).
FORMAT_MODULE_PATH = ["backoffice.formats"]

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Production (after collectstatic): hashed, compressed copies that WhiteNoise serves with a one-year
# cache header. Off by default (the development server and the tests' live server serve static files
# themselves): that storage needs collectstatic's manifest before any page renders.
STATIC_MANIFEST = env.bool("DJANGO_STATIC_MANIFEST", default=False)
if STATIC_MANIFEST:
    # Static files from STATIC_ROOT before any other work: one gunicorn command serves the whole admin.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Files: S3-compatible object storage when a bucket is named, else media/. Both private: every file
# is reached through backoffice.files.private_file, by a signed link valid this long (docs/security.md).
FILE_LINK_MAX_AGE_SECONDS = env.int("FILE_LINK_MAX_AGE_SECONDS", default=3600)
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "backoffice.files.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "signature_version": "s3v4",
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", default="auto"),
            "default_acl": None,  # private bucket
            "querystring_auth": True,  # signed, time-limited URLs
            # The presigned URL the file view redirects to lives this long (a video is read in ranges).
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=900),
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "backoffice.files.PrivateFileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Email: files under var/emails unless EMAIL_URL names an SMTP server.
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "emails"
# A hung SMTP server must not hold a worker (and the email's row lock) for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="After-sales <smallrig@smallrig.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Redis in production and tests, kombu's filesystem transport embedded.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    # Publishing into a missing folder fails, and the worker will not start: make them here,
    # so every entry point (server, worker, beat, commands) finds them.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close the worker's database connections around every task; set, it closes
# them every this many tasks only, and backoffice/celery.py applies DATABASE_CONN_MAX_AGE and the health
# check to tasks as Django does to requests (0, the default age: still a connection a task).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # The dashboard's daily summaries: recount the days that changed (backoffice/summaries.py).
    "dashboard-summaries": {
        "task": "backoffice.tasks.summaries_sweep",
        "schedule": 60.0,
    },
    "requeue-stale-emails": {
        "task": "returns.tasks.requeue_stale_emails",
        "schedule": 120.0,
    },
    # Both clocks in one task: claims' first responses and refunds' 5-7 working days.
    "sla-sweep": {
        "task": "backoffice.tasks.sla_sweep",
        "schedule": env.int("SLA_SWEEP_SECONDS", default=300),
    },
    # Approved refunds the broker lost, and refunds whose worker died mid-call.
    "requeue-stuck-refunds": {
        "task": "refunds.tasks.requeue_stuck_refunds",
        "schedule": 60.0,
    },
    # Money and state that disagree: healed where there is one right answer, else listed.
    "reconcile": {
        "task": "backoffice.tasks.reconcile",
        "schedule": env.int("RECONCILE_SECONDS", default=600),
    },
    # Approved returnless claims (and inspected ones) whose refund nobody proposed.
    "propose-missing-refunds": {
        "task": "backoffice.tasks.propose_missing_refunds",
        "schedule": 120.0,
    },
    # Webhook deliveries the broker lost, and those waiting for an order now known.
    "requeue-webhook-deliveries": {
        "task": "stores.tasks.requeue_webhook_deliveries",
        "schedule": 300.0,
    },
}

# Production hardening: off for the embedded run, on in deploy/production.env.example.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)

# --- Operations (docs/operations.md) ------------------------------------------------
# One JSON object a line on stderr ("text" for people), with the request's or task's id on each.
LOGGING = logs.logging_config(level=env("LOG_LEVEL", default="INFO"), fmt=env("LOG_FORMAT", default="json"))
# The worker keeps the LOGGING above instead of installing its own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Health (backoffice/health.py): beat queues a heartbeat every minute; the full check fails once the last one
# a worker recorded is older than this. A heartbeat not run within a minute is dropped (expires), so a backlog
# worked off later does not pass for a live beat.
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["beat-heartbeat"] = {
    "task": "backoffice.tasks.beat_heartbeat",
    "schedule": 60.0,
    "options": {"expires": 60},
}
# Error reporting, only when a DSN is set (https://<key>@<host>/<project>).
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    logs.sentry_init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# --- After-sales settings -------------------------------------------------
# Where customers send their parcels; the approval email prints it.
RMA_RETURN_ADDRESS = env(
    "RMA_RETURN_ADDRESS",
    default="After-sales returns\nBuilding 5, Camera Accessories Park\nShenzhen 518000\nChina",
)
RMA_SUPPORT_EMAIL = env("RMA_SUPPORT_EMAIL", default="smallrig@smallrig.com")
# The back-office's public address, for links in emails (the customer's tracking link).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
RETURN_LINK_MAX_AGE_DAYS = env.int("RETURN_LINK_MAX_AGE_DAYS", default=90)
# Evidence uploads: checked by content, limited in bytes and pixels.
EVIDENCE_MAX_IMAGE_BYTES = env.int("EVIDENCE_MAX_IMAGE_BYTES", default=20 * 1024 * 1024)
EVIDENCE_MAX_VIDEO_BYTES = env.int("EVIDENCE_MAX_VIDEO_BYTES", default=200 * 1024 * 1024)
EVIDENCE_MAX_PIXELS = env.int("EVIDENCE_MAX_PIXELS", default=60_000_000)
# One request's uploads: at most this many files and bytes in all (a page says so), read into temporary
# files above FILE_UPLOAD_MAX_MEMORY_SIZE (Django's default, 2.5 MB) so a large one never sits in memory.
UPLOAD_MAX_FILES = env.int("UPLOAD_MAX_FILES", default=20)
UPLOAD_MAX_REQUEST_BYTES = env.int("UPLOAD_MAX_REQUEST_BYTES", default=250 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# SLAs: "get back to you within 24 hours"; refunds "processed within 5-7 working days".
SLA_FIRST_RESPONSE_HOURS = env.int("SLA_FIRST_RESPONSE_HOURS", default=24)
SLA_REMIND_BEFORE_HOURS = env.int("SLA_REMIND_BEFORE_HOURS", default=4)
SLA_REFUND_TARGET_WORKING_DAYS = env.int("SLA_REFUND_TARGET_WORKING_DAYS", default=5)
SLA_REFUND_DUE_WORKING_DAYS = env.int("SLA_REFUND_DUE_WORKING_DAYS", default=7)
# Finance is reminded of a refund still waiting for its approval after this many working days.
SLA_REFUND_APPROVAL_REMIND_WORKING_DAYS = env.int("SLA_REFUND_APPROVAL_REMIND_WORKING_DAYS", default=2)
# Public holidays of this country and subdivision are not working days (ISO codes of the holidays package).
SLA_HOLIDAYS_COUNTRY = env("SLA_HOLIDAYS_COUNTRY", default="CN")
SLA_HOLIDAYS_SUBDIVISION = env("SLA_HOLIDAYS_SUBDIVISION", default="")
# Who gets the reminders (due soon) and the escalations (overdue): staff group names.
SLA_REMINDER_GROUP = env("SLA_REMINDER_GROUP", default="Customer service")
# Who is reminded of refunds at their 5-working-day target (escalations go to SLA_ESCALATION_GROUP too).
SLA_REFUND_REMINDER_GROUP = env("SLA_REFUND_REMINDER_GROUP", default="Finance")
SLA_ESCALATION_GROUP = env("SLA_ESCALATION_GROUP", default="Manager")
# An email still 'ready' this long after its last attempt is queued again; longer
# than the send task's longest retry back-off (600 s), so it only catches lost messages.
EMAIL_REQUEUE_AFTER_SECONDS = env.int("EMAIL_REQUEUE_AFTER_SECONDS", default=900)
# An email still not sent after this many attempts (the task's 9, or the sweep's) is failed, its last error kept.
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=12)
# Photos without a thumbnail this long after upload are queued again by beat, at most this many a run,
# until a photo has had THUMBNAIL_MAX_ATTEMPTS (its last error stays on the row).
THUMBNAIL_REQUEUE_AFTER_SECONDS = env.int("THUMBNAIL_REQUEUE_AFTER_SECONDS", default=600)
THUMBNAIL_REQUEUE_BATCH = env.int("THUMBNAIL_REQUEUE_BATCH", default=500)
THUMBNAIL_MAX_ATTEMPTS = env.int("THUMBNAIL_MAX_ATTEMPTS", default=3)
CELERY_BEAT_SCHEDULE["requeue-thumbnails"] = {"task": "returns.tasks.requeue_thumbnails", "schedule": 300.0}

# --- Reports and exports ----------------------------------------------------------
# Exports of at most this many rows stream to the browser; larger ones are a Celery task
# that stores the file and emails a link (backoffice/exports.py).
EXPORT_STREAM_MAX_ROWS = env.int("EXPORT_STREAM_MAX_ROWS", default=20_000)
# The emailed link's lifetime, and the stored file's: beat deletes it after that.
EXPORT_LINK_EXPIRE_SECONDS = env.int("EXPORT_LINK_EXPIRE_SECONDS", default=24 * 3600)
CELERY_BEAT_SCHEDULE["delete-expired-exports"] = {"task": "backoffice.tasks.delete_expired_exports", "schedule": 900.0}

# --- The store's webhooks ---------------------------------------------------------
# The secret Shopify signs each webhook with (X-Shopify-Hmac-Sha256): the app's client secret, or the
# key the store's admin shows under Settings > Notifications > Webhooks. Unset: every webhook is refused.
SHOPIFY_WEBHOOK_SECRET = env("SHOPIFY_WEBHOOK_SECRET", default="")
# A larger body is refused with 413 before it is read (below Django's DATA_UPLOAD_MAX_MEMORY_SIZE).
SHOPIFY_WEBHOOK_MAX_BYTES = env.int("SHOPIFY_WEBHOOK_MAX_BYTES", default=2 * 1024 * 1024)
# A delivery still queued this long after it arrived is queued again (its task was lost); longer
# than the processing task's longest retry back-off (600 s).
SHOPIFY_WEBHOOK_REQUEUE_AFTER_SECONDS = env.int("SHOPIFY_WEBHOOK_REQUEUE_AFTER_SECONDS", default=900)

# --- Refunds ----------------------------------------------------------------------
# "manual" (finance pays elsewhere and enters the reference) or "stripe" (Stripe's Refunds API).
# A refund keeps the provider chosen when it was proposed; an order without a payment
# reference is refunded manually whatever this says.
REFUND_PROVIDER = env("REFUND_PROVIDER", default="manual")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=30)
# Above this total (per currency, no exchange rates) a second finance user must approve;
# a currency missing here always needs two. Override as "EUR=500,USD=500,JPY=80000".
REFUND_SECOND_APPROVAL_ABOVE = {
    currency: Decimal(amount)
    for currency, amount in env.dict(
        "REFUND_SECOND_APPROVAL_ABOVE",
        default={
            "AUD": "750", "CAD": "700", "CHF": "450", "CNY": "3500", "CZK": "12000", "DKK": "3500",
            "EUR": "500", "GBP": "400", "HKD": "4000", "JPY": "75000", "KRW": "700000", "KWD": "150",
            "NOK": "5500", "NZD": "850", "PLN": "2000", "SEK": "5500", "SGD": "650", "USD": "500",
        },
    ).items()
}  # fmt: skip
# The execution task's retries on a provider fault (network, 409, 429, 5xx): exponential back-off.
REFUND_MAX_RETRIES = env.int("REFUND_MAX_RETRIES", default=5)
REFUND_RETRY_BACKOFF_SECONDS = env.int("REFUND_RETRY_BACKOFF_SECONDS", default=10)
REFUND_RETRY_BACKOFF_MAX_SECONDS = env.int("REFUND_RETRY_BACKOFF_MAX_SECONDS", default=300)
# One attempt holds a processing refund this long; longer than a provider call can last.
REFUND_ATTEMPT_LEASE_SECONDS = env.int("REFUND_ATTEMPT_LEASE_SECONDS", default=300)
# The sweep queues approved refunds never started, and processing ones without a live
# attempt, once untouched this long: longer than the longest retry back-off.
REFUND_REQUEUE_AFTER_SECONDS = env.int("REFUND_REQUEUE_AFTER_SECONDS", default=600)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged task (its worker died) comes back after visibility_timeout (kombu's
    # default: one hour); the refunds sweep does not wait for it. Tests set it small.
    CELERY_BROKER_TRANSPORT_OPTIONS = env.json("CELERY_BROKER_TRANSPORT_OPTIONS", default={"visibility_timeout": 3600})

# --- The customer's pages (portal) ------------------------------------------------
# Rate limits count in Django's cache: Redis in production (CACHE_URL=redis://host:6379/2), this process's
# memory in the embedded run and the tests.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Languages: English is the source; a language is added by adding locale/<code>/LC_MESSAGES/django.po
# (compiled by compilemessages): every folder there with a catalogue is offered to customers' browsers.
LOCALE_PATHS = [BASE_DIR / "locale"]


def languages_in(folder: Path) -> list[tuple[str, str]]:
    from django.conf.locale import LANG_INFO

    found = sorted(
        child.name.replace("_", "-").lower()
        for child in folder.glob("*")
        if (child / "LC_MESSAGES" / "django.po").exists()
    )
    codes = ["en"] + [code for code in found if code != "en"]
    return [(code, LANG_INFO.get(code, {}).get("name", code)) for code in codes]


LANGUAGES = languages_in(BASE_DIR / "locale")
# The emailed order link opens the order (and its claim form) for this long; a claim's status link, in every
# email about the claim, for this long after the email.
PORTAL_ORDER_LINK_MAX_AGE_HOURS = env.int("PORTAL_ORDER_LINK_MAX_AGE_HOURS", default=72)
PORTAL_CLAIM_LINK_MAX_AGE_DAYS = env.int("PORTAL_CLAIM_LINK_MAX_AGE_DAYS", default=90)
# Order lookups (number + email) per client address and per email address, per window.
PORTAL_LOOKUPS_PER_ADDRESS = env.int("PORTAL_LOOKUPS_PER_ADDRESS", default=20)
PORTAL_LOOKUPS_PER_EMAIL = env.int("PORTAL_LOOKUPS_PER_EMAIL", default=5)
PORTAL_LOOKUP_WINDOW_SECONDS = env.int("PORTAL_LOOKUP_WINDOW_SECONDS", default=3600)
# Behind a proxy, the client's address is the last of X-Forwarded-For that the proxy added; 0 trusts none.
PORTAL_TRUSTED_PROXIES = env.int("PORTAL_TRUSTED_PROXIES", default=0)
# The brand on the customer's pages: name, logo (a static file path, or empty for the name in text),
# colours (checked for contrast by the pages' accessibility test with the defaults).
BRAND_NAME = env("BRAND_NAME", default="SmallRig")
BRAND_LOGO = env("BRAND_LOGO", default="")
BRAND_COLOR = env("BRAND_COLOR", default="#1f4e8c")
BRAND_TEXT_ON_COLOR = env("BRAND_TEXT_ON_COLOR", default="#ffffff")

# --- The staff console (django-unfold; docs/console.md "Navigation and pages") ---------------------
ADMIN_SITE_NAME = env("ADMIN_SITE_NAME", default=f"{BRAND_NAME} after-sales")
# The console's colour: buttons, links, the active sidebar item (a scale is derived from it, backoffice/theme.py).
ADMIN_COLOR = env("ADMIN_COLOR", default=BRAND_COLOR)
UNFOLD = {
    "SITE_TITLE": ADMIN_SITE_NAME,
    "SITE_HEADER": ADMIN_SITE_NAME,
    "SITE_SYMBOL": "package_2",
    "SITE_URL": "/admin/",
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("backoffice/favicon.svg")},
    ],
    "SHOW_VIEW_ON_SITE": False,
    # Django's change history (LogEntry) stays empty: every change is a service writing its own event, shown on
    # the page's timeline or history table. No button to an empty page.
    "SHOW_HISTORY": False,
    "COLORS": {"primary": theme.palette(ADMIN_COLOR)},
    "STYLES": [lambda request: static("backoffice/console.css")],
    # Each role's own sidebar and home: its queues, with counts (backoffice/navigation.py).
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": "backoffice.navigation.show_all_applications",
        "navigation": "backoffice.navigation.sidebar",
    },
    "DASHBOARD_CALLBACK": "backoffice.navigation.home",
    # The user menu: the password, and the second factor (accounts; docs/security.md "Logins").
    "ACCOUNT": {
        "navigation": [
            {"title": "Change password", "link": reverse_lazy("admin:password_change")},
            {"title": "Two-factor authentication", "link": reverse_lazy("two-factor")},
        ]
    },
}


# --- Inbox: the support mailbox (docs/inbox.md) ---------------------------------
# IMAP when INBOUND_IMAP_URL (imap:// or imaps://user:password@host[:port][/folder]) or INBOUND_IMAP_HOST is
# set; otherwise the embedded run reads .eml files dropped into INBOUND_DIR, through the same code after the fetch.
INBOUND_IMAP_URL = env("INBOUND_IMAP_URL", default="")
INBOUND_IMAP_HOST = env("INBOUND_IMAP_HOST", default="")
INBOUND_IMAP_PORT = env.int("INBOUND_IMAP_PORT", default=0)  # 0: 993 with TLS, 143 without
INBOUND_IMAP_USER = env("INBOUND_IMAP_USER", default="")
INBOUND_IMAP_PASSWORD = env("INBOUND_IMAP_PASSWORD", default="")
INBOUND_IMAP_FOLDER = env("INBOUND_IMAP_FOLDER", default="INBOX")
# "ssl" (imaps, port 993), "starttls" or "none" (loopback and tests only).
INBOUND_IMAP_SECURITY = env("INBOUND_IMAP_SECURITY", default="ssl")
# Where a message goes once it is stored (created when missing); the original stays there.
INBOUND_PROCESSED_FOLDER = env("INBOUND_PROCESSED_FOLDER", default="Processed")
INBOUND_DIR = env.path("INBOUND_DIR", default=VAR_DIR / "inbox")
# Messages fetched per IMAP command, and moved per MOVE, in one batch.
INBOUND_FETCH_CHUNK = env.int("INBOUND_FETCH_CHUNK", default=50)
# One reader at a time: a run holds the mailbox this long, renewed every chunk (a dead run frees it after).
INBOUND_LEASE_SECONDS = env.int("INBOUND_LEASE_SECONDS", default=300)
INBOUND_FETCH_SECONDS = env.int("INBOUND_FETCH_SECONDS", default=60)
# Customers reply to support+<claim's reply token>@domain (plus addressing): the reply finds its claim.
INBOUND_REPLY_ADDRESS = env("INBOUND_REPLY_ADDRESS", default=RMA_SUPPORT_EMAIL)
# The domain of our Message-IDs.
EMAIL_MESSAGE_ID_DOMAIN = env("EMAIL_MESSAGE_ID_DOMAIN", default=INBOUND_REPLY_ADDRESS.rpartition("@")[2])
# Files customer service attaches to one free reply, together.
REPLY_ATTACHMENTS_MAX_BYTES = env.int("REPLY_ATTACHMENTS_MAX_BYTES", default=15 * 1024 * 1024)
CELERY_BEAT_SCHEDULE["read-inbox"] = {"task": "inbox.tasks.read_mailbox", "schedule": float(INBOUND_FETCH_SECONDS)}
# A fetch holds at most this much mail in memory (a larger message is fetched alone).
INBOUND_FETCH_MAX_BYTES = env.int("INBOUND_FETCH_MAX_BYTES", default=25 * 1024 * 1024)
