"""Settings for Smart Credit Risk.

One settings module for every environment: production behaviour follows from
``DJANGO_DEBUG=0`` alone, so there is no second module an operator could forget
to select. Everything environment-specific is read from environment variables
(see README.md, "Configuration").
"""

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# A development key is only acceptable while DEBUG is on; production refuses to
# start without a real one rather than sign sessions with a published secret.
if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-insecure-key-for-local-use-only-" + "x" * 32)
else:
    try:
        SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG off (production) the product refuses to start "
            "without a real key: set DJANGO_SECRET_KEY to 50 or more random characters, the same on every "
            "server and worker; for local development use `make run`, which turns DEBUG on."
        ) from None

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Ours, lowest layer first (see README, "Layers").
    "scoring",
    "accounts",
    "audit",
    "governance",
    "applications",
    "reviews",
    "staff",
    "monitoring",
    "operations",
    "batches",
    "api",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The task queue (README, "Background jobs"): tasks, schedules and results in the database.
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every response below (pages, exports, error pages) is no-store: they
    # carry applicants' personal data. Static files are answered above.
    "creditsite.middleware.NoStoreMiddleware",
    # Header middleware sit outside everything that can fail, so error pages
    # (500/503, CSRF 403, lockout 429) carry the same headers as any page.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Loads the user: a database that is down gives the 503 page, not a stack trace.
    "operations.faults.DatabaseUnavailableMiddleware",
    # Logs every 403 (CSRF, admin, PermissionDenied) a view did not log itself.
    "audit.middleware.AccessDeniedLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session timeouts (writes the session at most once a minute).
    "accounts.sessions.SessionTimeoutMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "creditsite.urls"

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

WSGI_APPLICATION = "creditsite.wsgi.application"

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "infrastructure.sqlite_backend"
    DATABASES["default"]["OPTIONS"] = {
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers
        # queue on the busy timeout instead of failing with "database is
        # locked" when a read transaction tries to upgrade to a write.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # WAL lets readers run beside the writer; synchronous=FULL fsyncs the
        # WAL on every commit, so a decision shown to an officer survives a
        # power cut.
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;PRAGMA foreign_keys=ON;PRAGMA busy_timeout=20000;"
        ),
    }
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses sign-in attempts while locked out, before any
# password is checked. The model backend refuses demo accounts when DEBUG is off.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LoginThrottleBackend",
    "accounts.backends.ProductionModelBackend",
]
# Login throttling (django-axes): 5 failures for one username from one
# address lock that pair for 15 minutes. Locking by the pair (not by username
# alone) keeps an attacker from locking a known officer out from elsewhere;
# a successful sign-in clears the count.
AXES_FAILURE_LIMIT = env.int("DJANGO_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DJANGO_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "errors/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip"
# Failed logins are in the audit access log already; axes keeps its own
# attempt rows, and its per-success access log is not needed.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Number of trusted proxies (load balancers) that append to X-Forwarded-For.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
# Demo accounts (make run) cannot sign in and fail the deploy check when DEBUG is off.
DEMO_ACCOUNT_USERNAMES = ["demo-officer"]

# --- Sessions -----------------------------------------------------------------
# Database-backed sessions: shared by every worker and server. Idle and
# absolute timeouts are enforced by accounts.sessions.SessionTimeoutMiddleware.
SESSION_ENGINE = "accounts.sessions"
# Review workflow (reviews.services): how long a reviewer's claim on a case
# lasts before anyone may take it over, and the approval amount a reviewer
# may grant alone when admin has set no delegated limit for them (0: every
# approval then needs a second reviewer).
REVIEW_CLAIM_MINUTES = env.int("REVIEW_CLAIM_MINUTES", default=30)
REVIEW_DEFAULT_APPROVAL_LIMIT = env.str("REVIEW_DEFAULT_APPROVAL_LIMIT", default="0")

SESSION_IDLE_TIMEOUT = env.int("DJANGO_SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("DJANGO_SESSION_ABSOLUTE_SECONDS", default=10 * 60 * 60)
SESSION_ACTIVITY_RESOLUTION = 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

LOGIN_URL = "login"
# "/" sends each role to its own first page (accounts.roles.landing_page).
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18N -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Times are stored in UTC (USE_TZ) and shown, and date filters counted, in the
# bank's time zone (an IANA name such as "Europe/Paris"), named on every page.
TIME_ZONE = env.str("BANK_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# The bank's currency (ISO 4217 code), shown with every amount. One currency per
# installation: the inputs carry no currency of their own.
BANK_CURRENCY = env.str("BANK_CURRENCY", default="USD").strip().upper()
if not re.fullmatch(r"[A-Z]{3}", BANK_CURRENCY):
    raise ImproperlyConfigured(f"BANK_CURRENCY must be a three-letter ISO 4217 code, not {BANK_CURRENCY!r}")

# The creditor named on adverse-action notices, and the consumer reporting
# agency whose file supplied the credit-history inputs (FCRA paragraph).
# Each notice records the values it was made with; see docs/deploy-checks.md.
BANK_CREDITOR_NAME = env.str("BANK_CREDITOR_NAME", default="Smart Credit Bank")
BANK_CREDITOR_ADDRESS = env.str("BANK_CREDITOR_ADDRESS", default="1 Example Plaza, Springfield, IL 62701")
CREDIT_BUREAU_NAME = env.str("CREDIT_BUREAU_NAME", default="Example Consumer Reporting Agency")
CREDIT_BUREAU_ADDRESS = env.str("CREDIT_BUREAU_ADDRESS", default="P.O. Box 1000, Springfield, IL 62702")
CREDIT_BUREAU_PHONE = env.str("CREDIT_BUREAU_PHONE", default="1-800-555-0100")
# The federal agency named in the notice's ECOA paragraph (Regulation B, Appendix A).
BANK_ECOA_AGENCY = env.str(
    "BANK_ECOA_AGENCY", default="the Consumer Financial Protection Bureau, 1700 G Street NW, Washington, DC 20552"
)
# What-if answers per user per minute (applications.throttling), counted in the
# default cache: per process unless CACHES names a shared one.
WHATIF_REQUESTS_PER_MINUTE = env.int("WHATIF_REQUESTS_PER_MINUTE", default=60)

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Scoring ----------------------------------------------------------------
# Where model artifacts and their manifests live, and which version serves.
MODELS_STORE_DIR = Path(env.str("SCORING_MODELS_STORE", default=str(BASE_DIR / "models_store")))
SCORING_MODEL_VERSION = env.str("SCORING_MODEL_VERSION", default="") or None

# --- Task queue (django-q2) ---------------------------------------------------
# Background jobs (batch scoring, the periodic PENDING scorer) run on
# ``manage.py qcluster`` worker processes fed by the ORM broker: the queue is
# a table of the Django database, so the default set-up needs no extra
# server (SQLite on one machine; PostgreSQL for workers on several). A task
# taken by a worker is leased for QUEUE_RETRY_SECONDS; if the worker dies
# (kill -9) before acknowledging it, another worker takes it again after the
# lease, so a task must be safe to run twice (ours are idempotent). A task
# running longer than QUEUE_TIMEOUT_SECONDS is stopped and retried; the lease
# must outlast the timeout or a running task would be handed out twice.
QUEUE_TIMEOUT_SECONDS = env.int("QUEUE_TIMEOUT_SECONDS", default=600)
QUEUE_RETRY_SECONDS = env.int("QUEUE_RETRY_SECONDS", default=QUEUE_TIMEOUT_SECONDS + 60)
if QUEUE_RETRY_SECONDS <= QUEUE_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("QUEUE_RETRY_SECONDS must be larger than QUEUE_TIMEOUT_SECONDS")
Q_CLUSTER = {
    "name": env.str("QUEUE_NAME", default="creditsite"),
    "orm": "default",
    "workers": env.int("QUEUE_WORKERS", default=2),
    "timeout": QUEUE_TIMEOUT_SECONDS,
    "retry": QUEUE_RETRY_SECONDS,
    # A task that keeps failing (not a killed worker: that is redelivered
    # without counting) is given up after this many attempts and kept as a failure.
    "max_attempts": env.int("QUEUE_MAX_ATTEMPTS", default=5),
    # Seconds between polls of an empty queue: a poll is one indexed read.
    "poll": env.float("QUEUE_POLL_SECONDS", default=0.5),
    # One task per worker at a time: tasks are long (a chunk of a batch), and
    # a task waiting in a worker's local queue is a task another worker could run.
    "queue_limit": env.int("QUEUE_WORKERS", default=2),
    "bulk": 1,
    # Recycle a worker after this many tasks, returning its memory.
    "recycle": 200,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Task queue",
    # QUEUE_SYNC=1 runs each task in the caller's process at once (the test suite).
    "sync": env.bool("QUEUE_SYNC", default=False),
}

# Rows per chunk of a batch file: one queue task and one transaction each.
# Larger chunks spread the per-task cost (queue round trip, job counters,
# commits) over more rows; smaller ones hold SQLite's write lock for less
# time per commit. Chosen with ``make bench-batch`` (docs/performance.md).
BATCH_CHUNK_ROWS = env.int("BATCH_CHUNK_ROWS", default=2000)
if not 1 <= BATCH_CHUNK_ROWS <= 20_000:
    raise ImproperlyConfigured("BATCH_CHUNK_ROWS must be between 1 and 20000")

# --- REST API (Django REST Framework, drf-spectacular) -----------------------------
# Per-user tokens only (``Authorization: Bearer``); the schema and docs pages
# also accept a signed-in session. Errors are RFC 9457 problem details.
API_RATE_PER_TOKEN = env.str("API_RATE_PER_TOKEN", default="600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": API_RATE_PER_TOKEN},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Smart Credit Risk API",
    "DESCRIPTION": "Loan applications scored, stored and chained exactly as the officer's form does; batch files.",
    "VERSION": "1",
    # OpenAPI 3.1: its schemas are JSON Schema, so a response can be checked with jsonschema (tests/api).
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar), never a CDN: the CSP stays strict.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_AUTHENTICATION": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set (the application's and the batch job's statuses differ).
    "ENUM_NAME_OVERRIDES": {
        "DecisionEnum": "applications.models.LoanApplication.Decision",
        "ApplicationStatusEnum": "applications.models.LoanApplication.Status",
        "BatchStatusEnum": "batches.models.BatchJob.Status",
        "RiskLabelEnum": "applications.models.LoanApplication.RiskLabel",
    },
}
# Django's cache holds the API's rate and failed-sign-in counters: per
# process by default; name a shared cache (e.g. redis://, or dbcache:// after
# `manage.py createcachetable`) when several processes serve the API.
CACHES = {"default": env.cache_url("DJANGO_CACHE_URL", default="locmemcache://")}

# --- Logging ----------------------------------------------------------------
# Production logs JSON lines to stdout (one record per line, for a log
# shipper); development logs readable lines. DJANGO_LOG_FORMAT overrides.
# The same builder configures gunicorn's own logs (gunicorn.conf.py).
from operations.logging import json_logs_from_env, stdout_logging  # noqa: E402

LOGGING = stdout_logging(
    json_lines=json_logs_from_env(),
    level=env.str("DJANGO_LOG_LEVEL", default="INFO"),
    # Sign-ins and failures are in the audit access log; axes would add four
    # INFO lines per sign-in. Lockouts (WARNING) still show.
    loggers={"axes": {"level": "WARNING"}},
)

# --- Transport security and headers ------------------------------------------
# Production (DEBUG off) is secure by default; each toggle exists for a real
# deployment shape and `manage.py check --deploy` flags any that is weakened.
# See docs/deploy-checks.md.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# The load balancer answers /healthz probes over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# The load balancer's probe (creditsite/urls.py); it never loads a session or a user.
HEALTH_CHECK_PATH = "/healthz"
# Behind a load balancer that terminates TLS: trust its X-Forwarded-Proto.
# Only turn on when the app is reachable through that balancer alone.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): everything from this origin only, no
# inline script or style, no plugins, no framing, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# Preloading HSTS is a decision for the owner of the bank's domain (see
# docs/deploy-checks.md); until it is made, the preload check is silenced.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# --- Static files in production -----------------------------------------------
# Production serves compressed files under content-hashed names that browsers
# cache forever (whitenoise; `make serve` runs collectstatic first). The test
# suite switches back to plain storage (tests/settings.py) so it needs no collectstatic.
# The manifest (original name -> hashed name) is kept outside STATIC_ROOT:
# everything in STATIC_ROOT is served to anyone, and the manifest would list
# every static file the product has.
STATIC_MANIFEST_ROOT = BASE_DIR / "staticfiles-manifest"
if not DEBUG and env.bool("DJANGO_MANIFEST_STATIC", default=True):
    from django.core.files.storage import FileSystemStorage  # noqa: E402

    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
            "OPTIONS": {"manifest_storage": FileSystemStorage(location=STATIC_MANIFEST_ROOT)},
        },
    }
