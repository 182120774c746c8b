"""Settings shared by every environment.

Everything that differs between a laptop and a utility's data centre comes from
environment variables (see `.env.example`); the defaults are the embedded ones:
SQLite under `var/`, a filesystem broker, console email, SMS kept in the outbox.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("DERMGMT_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN
    "django_celery_beat",
    "import_export",
    "phonenumber_field",
    "axes",  # login lockout: its AccessAttempt rows are the admin's list of lockouts
    "csp",
    "grid",
    "assets",
    "forecasting",
    "incidents",
    "dispatch",
    "reports",
    # Last: its post_migrate hook builds the role groups from every app's permissions.
    "dermgmt",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Admin queries with a NUL or an unusable filter value: 400, not 500.
    "dermgmt.middleware.BadQueryMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dermgmt.urls"
WSGI_APPLICATION = "dermgmt.wsgi.application"
ASGI_APPLICATION = "dermgmt.asgi.application"

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


def database_from_env() -> dict:
    """DATABASE_URL, or a SQLite file under var/ tuned so web, worker and beat share it.

    SQLite: WAL lets readers run beside the one writer; IMMEDIATE transactions take
    the write lock up front, so a transaction never fails half way with "database is
    locked", and the 20 s timeout makes a second writer wait instead of failing.
    """
    default = f"sqlite:///{VAR_DIR / 'dermgmt.sqlite3'}"
    db = env.db_url("DATABASE_URL", default=default)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        if db["NAME"] != ":memory:":
            Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
        db["CONN_HEALTH_CHECKS"] = True
        # Server-side binding with a prepare threshold: psycopg prepares a
        # statement a connection has run 5 times, so PostgreSQL stops planning the
        # cycle's queries anew every few seconds (planning cost more than running
        # them: docs/dispatch.md). Behind a transaction-mode pooler (PgBouncer
        # < 1.21) set DATABASE_PREPARE_THRESHOLD= (empty) to turn it off.
        threshold = env("DATABASE_PREPARE_THRESHOLD", default="5")
        db.setdefault("OPTIONS", {}).update(
            server_side_binding=True,
            prepare_threshold=int(threshold) if threshold else None,
        )
    return db


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first (it refuses a locked-out username+address before any password
# is checked), then Django's model permissions, read in one query
# (dermgmt/backends.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "dermgmt.backends.RoleBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
# Stored and computed in UTC; each substation carries its own zone for display.
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}

LOGIN_URL = "/admin/login/"
# After a login without a (safe) `next`: the dashboard, which sends a login that
# may not see it (owners, technicians) on to the admin (dermgmt/views.py).
LOGIN_REDIRECT_URL = "dashboard"
# A staff session lasts a working day, not Django's two weeks.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=9 * 3600)

# --- Login lockout (django-axes) -----------------------------------------------------
# A username that fails AXES_FAILURE_LIMIT logins in a row from one address is
# locked out (the right password included) for AXES_COOLOFF_MINUTES; each failure
# during the lockout starts the cool-off again, a success clears the count.
# Attempts live in the database: Admin > Axes > Access attempts lists lockouts, and
# deleting a row (or `manage.py axes_reset_username NAME`) unlocks at once.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dermgmt.views.login_locked_out"
# Behind a proxy, the client address is the proxy's: dermgmt.settings.production
# reads it from X-Forwarded-For.

# --- Content-Security-Policy (django-csp) --------------------------------------------
# Scripts only from our own origin (static files, Swagger UI from
# drf-spectacular-sidecar), no eval, and no inline script but one that carries
# this response's nonce="{{ request.csp_nonce }}" (the dashboard's two settings;
# its figures are non-executable JSON from json_script), or whose hash is listed.
# Styles may be inline: pages of django-import-export and drf-spectacular's Swagger
# page carry style attributes and blocks, and CSS runs no code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [
            SELF,
            NONCE,
            # django-celery-beat's crontab help on the periodic task form (2.9):
            # the browser test loads that page, and fails when this hash is stale.
            "'sha256-QE3U2xYF7B4J2ro1/9oxiKhaWCGW39gB7ocQ/xlD0bE='",
        ],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Celery -------------------------------------------------------------------
# Default broker: kombu's filesystem transport under var/broker, made safe for
# several processes by dermgmt.broker (atomic message files). Development only:
# it does not redeliver a message a dead worker had taken. Production sets a
# redis:// or amqp:// URL.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "dermgmt.broker:FilesystemTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
# Each worker process holds one message at a time (reports and forecasts are long;
# a cycle never waits behind one in a busy process's buffer).
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Celery's Django fix-up closes the database connection around every task, which
# costs a new PostgreSQL connection (~20 ms) per 10 ms cycle. Keep connections and
# let Django's own rule (CONN_MAX_AGE, health checks) decide, as for a request:
# dermgmt.celery hooks close_old_connections() onto every task instead.
CELERY_DB_REUSE_MAX = 1_000_000
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Shared cache ---------------------------------------------------------------


def cache_from_env() -> dict:
    """CACHE_URL, or files under var/cache that every process on this machine shares.

    What must be counted once for all web workers (the API's throttles) lives
    here. Production with more than one machine sets redis://host:6379/1 (Django's
    own RedisCache, on redis-py that celery[redis] brings).
    """
    url = env("CACHE_URL", default="")
    if not url:
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # A full cache drops a third of its entries, throttle counts included.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    backend = None
    if urlparse(url).scheme in ("redis", "rediss", "rediscache"):
        backend = "django.core.cache.backends.redis.RedisCache"
    return env.cache_url_config(url, backend=backend)


CACHES = {"default": cache_from_env()}

# --- Email --------------------------------------------------------------------
# EMAIL_URL: consolemail:// (default), filemail:///abs/path, smtp://user:pw@host:25,
# smtp+tls://..., smtp+ssl://...


def email_from_env() -> dict:
    """EMAIL_URL as Django settings. django-environ drops the leading "/" of a
    filemail:// path (filemail:///var/mail gives "var/mail", relative to wherever
    the process started): the path is kept as written, var/mail when none."""
    url = env("EMAIL_URL", default="consolemail://")
    config = env.email_url_config(url)
    if urlparse(url).scheme == "filemail":
        path = unquote(urlparse(url).path)
        config["EMAIL_FILE_PATH"] = path or str(VAR_DIR / "mail")
    return config


vars().update(email_from_env())
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="dermgmt@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Grid Operations Center: who receives intervention emails and daily reports.
GRID_OPERATIONS_EMAILS = env.list("GRID_OPERATIONS_EMAILS", default=["goc@localhost"])

# --- SMS (Twilio) ---------------------------------------------------------------
# Unset (the default): SMS are written to the outbox and the log, not sent.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", default="https://api.twilio.com")
TWILIO_TIMEOUT_S = env.float("TWILIO_TIMEOUT_S", default=10.0)
# The inbound SMS webhook's public URL as Twilio calls it (the signature covers
# it); unset: the URL of the request as Django sees it.
TWILIO_WEBHOOK_URL = env("TWILIO_WEBHOOK_URL", default="")

# --- Notification outbox (docs/notifications.md) -----------------------------------
# Links in emails point here.
DERMGMT_BASE_URL = env("DERMGMT_BASE_URL", default="http://127.0.0.1:8000")
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=6)
NOTIFICATION_BACKOFF_S = env.float("NOTIFICATION_BACKOFF_S", default=30.0)
NOTIFICATION_SWEEP_S = env.float("NOTIFICATION_SWEEP_S", default=15.0)
# A claimed row not recorded within this long is failed, never re-sent blindly.
NOTIFICATION_STUCK_S = env.float("NOTIFICATION_STUCK_S", default=300.0)
# An owner gets at most one discharge SMS in this period.
SMS_DISCHARGE_QUIET_S = env.float("SMS_DISCHARGE_QUIET_S", default=3600.0)
# Material changes of an intervention are mailed at most this often.
INTERVENTION_EMAIL_MIN_INTERVAL_S = env.float(
    "INTERVENTION_EMAIL_MIN_INTERVAL_S", default=300.0
)
# --- Daily stability report (docs/reports.md) --------------------------------------
# Who receives it; the fleet report always, each substation's when enabled.
REPORT_RECIPIENTS = env.list("REPORT_RECIPIENTS", default=GRID_OPERATIONS_EMAILS)
REPORT_EMAIL_SUBSTATIONS = env.bool("REPORT_EMAIL_SUBSTATIONS", default=False)
# The fleet report's day; empty: the zone all substations share, else TIME_ZONE.
FLEET_TIME_ZONE = env("FLEET_TIME_ZONE", default="")

PHONENUMBER_DEFAULT_REGION = env("PHONENUMBER_DEFAULT_REGION", default=None)

# --- Weather ----------------------------------------------------------------------
# simulator (default) or open-meteo (OPEN_METEO_BASE_URL).
WEATHER_PROVIDER = env("WEATHER_PROVIDER", default="simulator")
OPEN_METEO_BASE_URL = env(
    "OPEN_METEO_BASE_URL", default="https://api.open-meteo.com/v1/forecast"
)
WEATHER_TIMEOUT_S = env.float("WEATHER_TIMEOUT_S", default=10.0)
# Fetch the weather and predict generation for every substation this often.
FORECAST_PERIOD_S = env.float("DERMGMT_FORECAST_PERIOD_S", default=900.0)

# --- Dispatch ---------------------------------------------------------------------
# How often beat fans out cycles (each substation runs at its policy's cycle_s,
# claimed once per slot) and sweeps expired setpoints back to 0.
DISPATCH_FAN_OUT_S = env.float("DERMGMT_DISPATCH_FAN_OUT_S", default=5.0)
SETPOINT_SWEEP_S = env.float("DERMGMT_SETPOINT_SWEEP_S", default=5.0)
# Substations per Celery task of the fan-out: a task costs several ms of its own,
# so 1,000 substations go out as 100 tasks, each running its cycles in turn.
DISPATCH_CYCLES_PER_TASK = env.int("DERMGMT_DISPATCH_CYCLES_PER_TASK", default=10)

# --- Demo simulator ---------------------------------------------------------------
# Writes plausible readings, telemetry and weather so the demo exercises every step.
SIMULATOR_ENABLED = env.bool("DERMGMT_SIMULATOR", default=False)
SIMULATOR_PERIOD_S = env.float("DERMGMT_SIMULATOR_PERIOD_S", default=5.0)
# Beat heartbeat older than this makes /healthz answer 503.
HEARTBEAT_PERIOD_S = 15
# The operator dashboard polls its JSON this often (seconds).
DASHBOARD_REFRESH_S = env.float("DASHBOARD_REFRESH_S", default=5.0)
HEARTBEAT_MAX_AGE_S = env.int("DERMGMT_HEARTBEAT_MAX_AGE_S", default=90)

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dermgmt.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dermgmt.api.permissions.ApiPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Ingest and manual setpoints are throttled per user (docs/api.md).
    "DEFAULT_THROTTLE_RATES": {
        "ingest": env("API_THROTTLE_INGEST", default="600/min"),
        "setpoint": env("API_THROTTLE_SETPOINT", default="60/min"),
    },
}
# Ingest: the oldest timestamp an integration may send (s; docs/api.md "Too old").
# Older is a reset clock or a unit mistake; a backfill runs with a higher value.
INGEST_MAX_AGE_S = env.float("INGEST_MAX_AGE_S", default=7 * 86400)

SPECTACULAR_SETTINGS = {
    "TITLE": "dermgmt API",
    "DESCRIPTION": "Distributed Energy Resource Management. Powers in kW, energy in "
    "kWh, voltage in per unit of nominal, frequency in Hz, times in UTC.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge fetched from validator.swagger.io: the schema URL stays in house,
    # and the page makes no request its Content-Security-Policy refuses.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dermgmt.api.schema.error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint logs each rendering step at INFO; its warnings still show.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# CSV asset imports (docs/import.md): the admin's import needs assets.import_derasset,
# its export the view permission; files over this size are checked and imported by
# a Celery task whose page shows the progress.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
ASSET_IMPORT_ASYNC_BYTES = env.int("ASSET_IMPORT_ASYNC_BYTES", default=1024 * 1024)
