"""healthmon settings, read from the environment (12-factor).

Every variable is listed in the README's configuration table. With nothing set, healthmon
runs on an embedded default: SQLite and a filesystem Celery broker under ``var/``.
"""

from __future__ import annotations

import ipaddress
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from healthmon.heartbeats import default_heartbeat_url
from healthmon.ports import web_port
from healthmon.sentry import init_sentry
from lib.encryption import development_key
from lib.env import (
    envbool,
    envfernetkeys,
    envfloat,
    envint,
    envlist,
    envnetworks,
    envrate,
    envsecret,
    envstr,
)
from lib.logs import logging_config
from lib.outbound import DEFAULT_BLOCKED_NETWORKS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("HEALTHMON_VAR_DIR", str(BASE_DIR / "var")))
# make run's demo login (demo_setup writes it, mode 0600; make run's closing block names it).
DEMO_LOGIN_FILE = VAR_DIR / "demo-login"

TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]
DEBUG = envbool("DEBUG", False)

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production mode (DEBUG=false) needs a long random "
            "SECRET_KEY (or SECRET_KEY_FILE); set DEBUG=true for local development."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production-0123456789abcdef"  # noqa: S105
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("insecure")):
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 random characters in production")

# Channel secrets and monitor headers are encrypted at rest (lib.encryption). The first key
# encrypts, all decrypt: rotate with a new key first, `manage.py rotate_encryption_key`, then
# drop the old one. A database backup is unreadable for those fields without these keys.
FIELD_ENCRYPTION_KEYS = envfernetkeys("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set. Production mode (DEBUG=false) needs a Fernet key "
            "(or FIELD_ENCRYPTION_KEYS_FILE): python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    FIELD_ENCRYPTION_KEYS = [development_key(SECRET_KEY)]

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if (DEBUG or TESTING) else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
# The one place for the web port (make run, gunicorn's default bind, the demo monitor).
WEB_PORT = web_port()
SITE_URL = envstr("SITE_URL", f"http://127.0.0.1:{WEB_PORT}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_prometheus",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # logout and password changes revoke tokens
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (CSP: no CDN)
    "django_celery_beat",
    "accounts",
    "monitors",
    "incidents",
    "notifications",
    "config",  # monitors as code: the document format, plan, apply, export
    "dashboard",  # pages: the team dashboard, public status pages, badges
    "healthmon",  # operations: probes, metrics, healthmon_status, system checks
]

MIDDLEWARE = [
    # Outermost, so every response carries the policy, the probes' and errors' included.
    "healthmon.csp.ContentSecurityPolicyMiddleware",
    # /live /ready /health /metrics, answered before host validation (pods are hit by IP).
    "healthmon.probes.OpsEndpointsMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "lib.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "healthmon.urls"
WSGI_APPLICATION = "healthmon.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production and tests (DATABASE_URL=postgres://...), SQLite under var/ otherwise.
DATABASES = {
    "default": environ.Env.db_url_config(
        envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'healthmon.sqlite3'}")
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's psycopg 3 pool instead of CONN_MAX_AGE: Celery's Django fixup closes the
    # connection around every task, so persistent connections never live long in a worker;
    # a pool hands the same server connections back out. Keep
    # max_size x processes below PostgreSQL's max_connections. DB_POOL_MAX_SIZE=0 disables it.
    _pool_max = envint("DB_POOL_MAX_SIZE", 10, minimum=0)
    if _pool_max:
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(envint("DB_POOL_MIN_SIZE", 1, minimum=0), _pool_max),
            "max_size": _pool_max,
            "timeout": envfloat("DB_POOL_TIMEOUT", 10.0),
        }
        _db["CONN_MAX_AGE"] = 0
    else:
        _db["CONN_MAX_AGE"] = envint("CONN_MAX_AGE", 0, minimum=0)
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL + IMMEDIATE let web, worker and beat share one file without "database is locked".
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# django-prometheus' subclasses of the same backends count queries, errors and connections
# (django_db_*). Code that asks which database this is should use connection.vendor.
_db["ENGINE"] = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}.get(_db["ENGINE"], _db["ENGINE"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production) -----------------------------------------------------------------
if not (DEBUG or TESTING):  # tests run over plain HTTP, like a dev server
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
    # Probes and metrics are scraped over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^live$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Same-origin scripts, styles and images only, nothing inline, never framed (healthmon/csp.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

# Whether anyone may create an account (POST /api/v1/auth/register/). Closed by default: on a
# multi-tenant install an outsider with an account could probe internal endpoints through
# checks. Operators create accounts with `manage.py createsuperuser` or the admin.
REGISTRATION_OPEN = envbool("REGISTRATION_OPEN", False)

# --- Throttles and proxies (accounts/throttling.py) ------------------------------------------
# The reverse proxies (addresses or networks) whose X-Forwarded-For is believed. Empty: the
# client is the connecting address, whatever headers it sends.
TRUSTED_PROXIES = envnetworks("TRUSTED_PROXIES")
# Failed logins per client address, and registrations and token refreshes per address.
AUTH_THROTTLE_RATE = envrate("AUTH_THROTTLE_RATE", "20/min")
# Failed logins per account (the email tried), from all addresses together.
LOGIN_ACCOUNT_THROTTLE_RATE = envrate("LOGIN_ACCOUNT_THROTTLE_RATE", "20/hour")

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: it claims only `Api-Key …` and `Bearer hm_…`, leaving other Bearer tokens to JWT.
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's default parsers, with JSON nesting bounded (a deep body was a RecursionError).
    "DEFAULT_PARSER_CLASSES": [
        "lib.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "healthmon.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        # POST /monitors/{id}/check-now/ makes the server send a request: keep it human-paced.
        "check_now": envrate("CHECK_NOW_THROTTLE_RATE", "30/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=envint("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=envint("JWT_REFRESH_DAYS", 7, minimum=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": True,
    # Tokens carry a digest of the password hash; a password change (API, admin, CLI) makes
    # every token issued before it fail (access tokens here, refresh tokens in
    # accounts.serializers.RefreshSerializer).
    "CHECK_REVOKE_TOKEN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "healthmon API",
    "DESCRIPTION": "Self-hosted HTTP API health monitoring: monitors, checks, incidents, "
    "notification channels and teams. Authenticate with `POST /api/v1/auth/login/` and send "
    "`Authorization: Bearer <access token>`; scripts and CI use a team API key instead: "
    "`Authorization: Bearer hm_…` (see /api/v1/api-keys/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI from our own static files (drf-spectacular-sidecar), so the CSP can stay strict.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CheckStatusEnum": "monitors.models.CheckStatus",
        "MonitorStatusEnum": "monitors.models.MonitorStatus",
        "ChannelKindEnum": "notifications.models.ChannelKind",
        "IncidentEventEnum": "incidents.models.IncidentEvent",
        "RoleEnum": "accounts.models.Role",
        "ApiKeyRoleEnum": "accounts.models.API_KEY_ROLES",
    },
}

# Throttle counters (logins, registrations, check-now, channel tests) and page caches must be
# shared by every web process, or each process allows the full limit (check-now's limit doubled
# with two gunicorn workers). Without CACHE_URL: a Redis broker is used as the cache too (keys
# prefixed), else a file cache under var/ (shared on one machine, needs no server). Tests keep a
# per-process cache, which they clear per test.
_broker_url = envstr("CELERY_BROKER_URL", "filesystem://")
if TESTING:
    _default_cache_url = "locmemcache://healthmon"
elif _broker_url.startswith(("redis://", "rediss://")):
    _default_cache_url = _broker_url
else:
    _default_cache_url = f"filecache://{VAR_DIR / 'cache'}"
CACHE_URL = envstr("CACHE_URL") or _default_cache_url
CACHES = {"default": environ.Env.cache_url_config(CACHE_URL)}
if _broker_url == CACHE_URL:
    CACHES["default"]["KEY_PREFIX"] = "healthmon-cache"

# --- Celery ---------------------------------------------------------------------------------
# Redis (or RabbitMQ) in production; with nothing set, a filesystem broker under var/ that
# needs no server, so `make run` works on a bare machine.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# Redis redelivers a late-ack message not acknowledged within this many seconds, and a
# message waiting for its retry countdown or ETA is unacknowledged all that time. It must
# exceed the longest task run and every countdown a task sets (the retry backoff and
# Retry-After maxima of notifications below): a startup check (healthmon/checks.py) refuses
# a budget that does not fit.
CELERY_VISIBILITY_TIMEOUT = envint("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# django-celery-beat's DatabaseScheduler, recording each tick for /health and metrics.
CELERY_BEAT_SCHEDULER = "healthmon.beat:HeartbeatScheduler"
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Checks ---------------------------------------------------------------------------------
MONITOR_MIN_INTERVAL = envint("MONITOR_MIN_INTERVAL", 30, minimum=1)
# Heartbeat pings commit without waiting for the WAL flush (synchronous_commit off for their
# transaction only): a flush is ~8 ms on a busy disk, most of a ping's latency. The database
# stays consistent; a PostgreSQL crash may forget the pings of its last ~0.6 s (3 x
# wal_writer_delay), already answered 200. true waits for the flush.
HEARTBEAT_SYNCHRONOUS_COMMIT = envbool("HEARTBEAT_SYNCHRONOUS_COMMIT", False)
# The longest a check may take (a monitor's timeout is at most this). Checks run on the check
# workers only, never in the web process; healthmon/checks.py keeps it within the check-now
# lease and the shortest interval, after which nobody is waiting for the result any more.
MONITOR_MAX_TIMEOUT = envfloat("MONITOR_MAX_TIMEOUT", 60.0)
# Check-now requests of one team being checked at once (monitors/check_now.py); one more
# answers 429. Each check-now holds a worker greenlet and a connection to the target.
CHECK_NOW_MAX_CONCURRENT_PER_TEAM = envint("CHECK_NOW_MAX_CONCURRENT_PER_TEAM", 5, minimum=1)
# Outbound connections (checks, webhooks, Apprise) never go to these networks; see
# lib/outbound.py. Default: cloud metadata, loopback and private ranges -- safe when users
# who are not the operator create checks. `make run` blocks only metadata (single user).
BLOCKED_NETWORKS = envnetworks("BLOCKED_NETWORKS", ",".join(DEFAULT_BLOCKED_NETWORKS))
# Scheduling (monitors/scheduling.py): monitors per check-batch message (all checked
# concurrently), monitors claimed per dispatcher round, and the window over which monitors
# found more than one interval overdue (after downtime) are re-spread instead of bursting.
# 100 per batch: the per-message costs (task, events, one store and one evaluation per batch)
# are spread over 4x more checks than at 25: 3.5 -> 2.7 ms CPU per check for the whole stack
# (bench/RESULTS.md); batches store in waves, so a slow target holds back no one.
CHECK_BATCH_SIZE = envint("CHECK_BATCH_SIZE", 100, minimum=1)
DISPATCH_CLAIM_LIMIT = envint("DISPATCH_CLAIM_LIMIT", 2000, minimum=1)
SCHEDULE_RESPREAD_MAX = envint("SCHEDULE_RESPREAD_MAX", 300, minimum=1)

# --- Quotas (per team; 0 = unlimited) -------------------------------------------------------
# One team must not take the whole probe fleet or database: checked by Monitor.clean() and
# the channel services, under a lock on the team row (monitors/quotas.py).
TEAM_MAX_MONITORS = envint("TEAM_MAX_MONITORS", 1000, minimum=0)
# The sum over a team's active monitors of 1/interval: 1,000 monitors every 30 s make 33.3.
TEAM_MAX_CHECKS_PER_SECOND = envfloat("TEAM_MAX_CHECKS_PER_SECOND", 50.0, minimum=0)
TEAM_MAX_CHANNELS = envint("TEAM_MAX_CHANNELS", 50, minimum=0)

# --- History (monitors/rollups.py) ----------------------------------------------------------
# Raw check results are kept this long; hourly and daily rollups keep the history after.
CHECK_RETENTION_DAYS = envint("CHECK_RETENTION_DAYS", 30, minimum=1)
# Hourly rollups feed the 24h and 7d windows and charts; daily rollups are kept for good.
HOURLY_ROLLUP_RETENTION_DAYS = envint("HOURLY_ROLLUP_RETENTION_DAYS", 35, minimum=8)
PRUNE_BATCH_SIZE = envint("PRUNE_BATCH_SIZE", 5000, minimum=1)
# How long the rollup waits for a missing result id (an uncommitted check batch) before
# giving up on it (a rolled-back batch or a deleted monitor's rows).
ROLLUP_GAP_GRACE_SECONDS = envint("ROLLUP_GAP_GRACE_SECONDS", 60, minimum=1)

EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "healthmon <healthmon@localhost>")

# --- Notifications --------------------------------------------------------------------------
# Delivery retries: exponential backoff (BACKOFF x 2^retry seconds, capped at BACKOFF_MAX,
# with full jitter), then the dead-letter store. Read when the worker starts. With the
# defaults an alert is tried 11 times over at most 2 h 2 min (README: "How long an alert is
# retried"). Both maxima must stay below CELERY_VISIBILITY_TIMEOUT (checked at startup): a
# countdown longer than that is redelivered while it waits.
NOTIFY_MAX_RETRIES = envint("NOTIFY_MAX_RETRIES", 10, minimum=0)
NOTIFY_RETRY_BACKOFF = envint("NOTIFY_RETRY_BACKOFF", 15, minimum=1)
NOTIFY_RETRY_BACKOFF_MAX = envint("NOTIFY_RETRY_BACKOFF_MAX", 1800, minimum=1)
NOTIFY_RETRY_JITTER = envbool("NOTIFY_RETRY_JITTER", True)
# A receiver's Retry-After (429/503) is honoured up to this many seconds.
NOTIFY_RETRY_AFTER_MAX = envint("NOTIFY_RETRY_AFTER_MAX", 1800, minimum=1)
# Seconds per webhook request and per Apprise service call (SMTP uses EMAIL_TIMEOUT).
NOTIFY_TIMEOUT = envfloat("NOTIFY_TIMEOUT", 10.0)
# A delivery left "sending" this long (its worker died mid-send) may be claimed again.
NOTIFY_SENDING_LEASE = envint("NOTIFY_SENDING_LEASE", 300, minimum=10)
# Beat runs the stalled-delivery sweep (requeue_stalled_deliveries) this often: a "sending"
# row whose worker died is taken over at most LEASE + this many seconds after its claim.
NOTIFY_SWEEP_INTERVAL = envint("NOTIFY_SWEEP_INTERVAL", 60, minimum=1)
# A later event of an incident (resolved) waits while an earlier one (opened) is still on its
# way to the same channel; its task looks again after this many seconds.
NOTIFY_ORDER_RECHECK = envint("NOTIFY_ORDER_RECHECK", 5, minimum=1)
# A pending or failed delivery neither enqueued nor attempted for this long lost its task
# (broker restart, purge); the beat job requeue_stalled_deliveries enqueues it again.
NOTIFY_STALLED_AFTER = envint("NOTIFY_STALLED_AFTER", 3600, minimum=60)

# A channel test sends a message now: at most this many per user and, separately, per team
# (notifications/throttles.py), counted in the shared cache.
CHANNEL_TEST_THROTTLE_RATE = envrate("CHANNEL_TEST_THROTTLE_RATE", "5/min")
# Email channels send only to members of the channel's team unless this is true (an install
# whose users are all trusted): otherwise any user could relay mail to arbitrary addresses.
EMAIL_RECIPIENTS_ANY = envbool("EMAIL_RECIPIENTS_ANY", False)

# --- Logging -------------------------------------------------------------------------------
# One JSON object per line (json) or readable lines (console); both carry the request id.
LOG_LEVEL = envstr("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = envstr("LOG_FORMAT", "console" if DEBUG else "json").lower()
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be json or console")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

# --- Operations: probes, metrics, heartbeats, Sentry, Flower ---------------------------------
# Seconds a probe waits for the database or the broker.
PROBE_TIMEOUT = envfloat("PROBE_TIMEOUT", 2.0)
# Beat and each worker record a heartbeat every HEARTBEAT_INTERVAL seconds (a worker's is
# rounded up to Celery's own 2 s heart); /health reports beat, or a queue's workers, down
# after about three missed heartbeats, so a killed process shows within ~15 s, not 30.
HEARTBEAT_INTERVAL = envint("HEARTBEAT_INTERVAL", 5, minimum=1)
HEALTH_BEAT_MAX_AGE = envint("HEALTH_BEAT_MAX_AGE", 15, minimum=1)
HEALTH_WORKER_MAX_AGE = envint("HEALTH_WORKER_MAX_AGE", 15, minimum=1)
# The notifications component of /health and healthmon_status: a channel is failing when
# its last HEALTH_CHANNEL_FAILURES attempted deliveries all failed, or when one of its alerts
# was dead-lettered in the last hour; undelivered alerts older than
# HEALTH_UNDELIVERED_MAX_AGE seconds make the component degraded too.
HEALTH_CHANNEL_FAILURES = envint("HEALTH_CHANNEL_FAILURES", 3, minimum=1)
HEALTH_UNDELIVERED_MAX_AGE = envint("HEALTH_UNDELIVERED_MAX_AGE", 900, minimum=1)
# Where beat and the workers leave their heartbeats: the broker if it is Redis, else files.
HEARTBEAT_URL = envstr("HEARTBEAT_URL") or default_heartbeat_url(CELERY_BROKER_URL, VAR_DIR)
# A file beat and workers touch on each heartbeat, for exec liveness probes (unset: none).
HEARTBEAT_FILE = envstr("HEARTBEAT_FILE")
# /metrics access: a bearer token and/or the addresses or networks Prometheus scrapes from.
METRICS_TOKEN = envsecret("METRICS_TOKEN")
METRICS_ALLOWED_IPS = envlist("METRICS_ALLOWED_IPS")
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_network!r} is not a network") from None
# Per-monitor gauges on /metrics for at most this many monitors (down ones first); 0 = none.
METRICS_MONITOR_LIMIT = envint("METRICS_MONITOR_LIMIT", 1000, minimum=0)

SENTRY_DSN = envsecret("SENTRY_DSN")
SENTRY_ENVIRONMENT = envstr("SENTRY_ENVIRONMENT", "development" if DEBUG else "production")
SENTRY_RELEASE = envstr("SENTRY_RELEASE")
SENTRY_TRACES_SAMPLE_RATE = envfloat("SENTRY_TRACES_SAMPLE_RATE", 0.0)
init_sentry(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    release=SENTRY_RELEASE,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
)
