"""Project settings, read from the environment.

DATABASE_URL   default: an SQLite file under var/ (the embedded default); postgres://... for PostgreSQL
SECRET_KEY     required unless DEBUG is on
DEBUG          "1"/"true"/"yes" or "0"/"false"/"no"; default off
ALLOWED_HOSTS  comma-separated; default localhost names when DEBUG is on
REGISTRY_API_RATE_USER, REGISTRY_API_RATE_ANON, REGISTRY_API_RATE_TOKEN, REGISTRY_API_RATE_TOKEN_USERNAME
               API throttle rates such as 100/hour: per signed-in user (5000/hour), per anonymous client
               (100/hour), token requests, i.e. password attempts, per client (10/min) and per username from
               any client (30/hour)
REGISTRY_NUM_PROXIES  proxies in front that append to X-Forwarded-For; default 0 (the client is REMOTE_ADDR)
REDIS_URL      redis://host:6379/0: the cache (throttle counts) and the task queue in Redis; default: cache files
               under var/cache/, long jobs inline
REGISTRY_DB_POOL_MAX, REGISTRY_DB_POOL_TIMEOUT  PostgreSQL connection pool per server process: at most this many
               connections (default REGISTRY_THREADS, 4), and seconds to wait for one (10) before a 503
REGISTRY_FOUR_EYES  boolean, default on: a reviewer cannot publish a case whose content they created or last
               edited; off only for a one-person installation
REGISTRY_WORKERS, REGISTRY_THREADS  gunicorn processes (default the CPU count, at least 2) and threads (4), read by
               registry/gunicorn_conf.py

HTTPS (what `manage.py check --deploy` asks for). Secure by default when DEBUG is off; with DEBUG on (bin/serve,
plain http://127.0.0.1:8000) all off:
SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE  boolean; default on without DEBUG: the cookies travel over HTTPS only
SECURE_HSTS_SECONDS            integer; default 31536000 (one year) without DEBUG, 0 (no HSTS) with it. Browsers then
                               refuse plain HTTP to this host for that long: use a small value (3600) while first
                               trying HTTPS. Django sends the header on HTTPS responses only.
SECURE_HSTS_INCLUDE_SUBDOMAINS boolean; default off (it binds every subdomain too: set it when they all use HTTPS)
SECURE_HSTS_PRELOAD            boolean; default off (only for a domain submitted to the browsers' preload list)
SECURE_SSL_REDIRECT            boolean; default off: usually the TLS proxy in front redirects http to https. Set it
                               when Django receives plain HTTP from clients. Not on by default because the test
                               suite runs with DEBUG off over plain http, where every request would become a
                               redirect.
SECURE_PROXY_SSL_HEADER        the header a TLS-terminating proxy sets to "https", e.g. X-Forwarded-Proto; unset by
                               default. Set it only behind a proxy that always sets (or strips) that header.
CSRF_TRUSTED_ORIGINS           comma-separated origins (https://registry.example) allowed to POST forms, for admin
                               sign-in behind a proxy that changes the host; default none
"""

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number of 0 or more")
    return value


def env_rate(name: str, default: str) -> str:
    """A throttle rate such as 100/hour (per second, minute, hour or day)."""
    raw = os.environ.get(name, default).strip()
    if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", raw):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate such as 100/hour (per second, minute, hour or day)")
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)

# Without DEBUG there is no default: the server refuses to start (registry/wsgi.py, asgi.py), and Django refuses
# any use of the empty key. Management commands that need no key (makemigrations, check) still run.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "development-only-insecure-key"  # noqa: S105 - used only with DEBUG on

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])

# HTTPS (see the list above). Secure unless DEBUG is on, except the redirect, which a proxy usually does.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header and not all(part.isalnum() for part in _proxy_header.split("-")):
    raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER={_proxy_header!r} is not a header name (X-Forwarded-Proto)")
SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https") if _proxy_header else None
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# `check --deploy` warns about three of these defaults; each is a decision for whoever runs the site, documented
# above and in the README, so the warnings are silenced rather than the settings forced on:
# W005 HSTS for subdomains binds hosts this application does not serve; W021 preloading is a domain owner's
# irreversible submission; W008 the TLS proxy in front redirects http to https (SECURE_SSL_REDIRECT when it does not).
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W008", "security.W021"]

VAR_DIR = BASE_DIR / "var"
DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'registry.sqlite3'}"
DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
if DATABASE_URL.startswith("sqlite:///"):
    VAR_DIR.mkdir(exist_ok=True)
try:
    # CONN_MAX_AGE=0: PostgreSQL connections come from a pool (below), which Django's pool requires; SQLite opens a
    # file, which is cheap.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] not in (
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
):
    raise ImproperlyConfigured("DATABASE_URL must name SQLite or PostgreSQL")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    # W040: SQLite has no covering index; the one index with included columns (Intervention's
    # intervention_first_calcium, for PostgreSQL's COPY exports) is built there without them, as intended.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
else:
    # One pool per server process (psycopg_pool through Django 5.2): at most REGISTRY_DB_POOL_MAX connections
    # however many requests arrive; a request waits up to REGISTRY_DB_POOL_TIMEOUT seconds for one (then 503).
    # With CONN_HEALTH_CHECKS (above) the pool tests each connection before handing it out
    # (ConnectionPool.check_connection), so a database restart costs no failed request.
    DATABASES["default"]["OPTIONS"] = {
        # PostgreSQL's JIT compiles a query whose estimated cost is high, which the registry's heaviest are (the
        # analytics and COPY exports at 100,000 cases) though they run for a second or a few: compiling took longer
        # than it saved (cases.csv 12 s with it, 6.5 s without; 0.1-0.3 s per analytics query). Issue 16.
        "options": "-c jit=off",
        "pool": {
            "min_size": 1,
            "max_size": env_int("REGISTRY_DB_POOL_MAX", env_int("REGISTRY_THREADS", 4)) or 1,  # a thread's each
            "timeout": env_int("REGISTRY_DB_POOL_TIMEOUT", 10) or 1,
            "max_idle": 60,
        },
    }

# Long jobs (a bulk import) go to this RQ queue on REDIS_URL, worked by `manage.py rqworker default` (bin/serve
# starts it); without REDIS_URL they run inline in the request. RQ_QUEUES is what django-rq's worker reads.
RQ_QUEUES = {"default": {"URL": os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"}}

# Caches, the API throttles' counts included. With REDIS_URL (redis://127.0.0.1:6379/0) one Redis shared by every
# server process; without it files under var/cache/, shared by the processes of one machine.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("REGISTRY_CACHE_PREFIX", "registry"),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_rq",
    "cases",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "registry.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"
ASGI_APPLICATION = "registry.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "registry" / "templates"],
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

# Django's form templates, with the plain widgets and labels written out in Python: the same HTML, a case's admin
# page in half the time (registry/renderers.py; issue 16).
FORM_RENDERER = "registry.renderers.FastTemplates"

AUTHENTICATION_BACKENDS = ["registry.auth_backends.OneQueryModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by collectstatic (bin/serve), served by WhiteNoise
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FIXTURE_DIRS = [BASE_DIR / "fixtures"]

REST_FRAMEWORK = {
    # Token first, so that an anonymous request gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.UserThrottle", "api.throttling.AnonThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.handle",
    # Proxies in front of the registry that append to X-Forwarded-For (REGISTRY_NUM_PROXIES, default 0). With 0 the
    # client is REMOTE_ADDR: a header the client writes itself cannot give it a fresh throttle identity.
    "NUM_PROXIES": env_int("REGISTRY_NUM_PROXIES", 0),
    "COERCE_DECIMAL_TO_STRING": False,
}

REGISTRY_API_RATES = {
    "user": env_rate("REGISTRY_API_RATE_USER", "5000/hour"),
    "anon": env_rate("REGISTRY_API_RATE_ANON", "100/hour"),
    # Password attempts for an API token, per client address (api.views.TokenView): slows password guessing.
    "token": env_rate("REGISTRY_API_RATE_TOKEN", "10/min"),
    # Password attempts for one username from any address.
    "token_username": env_rate("REGISTRY_API_RATE_TOKEN_USERNAME", "30/hour"),
}
# Four-eyes review: a reviewer cannot publish a case whose content they created or last edited (cases.workflow).
# Turn it off (REGISTRY_FOUR_EYES=0) only for a one-person installation.
REGISTRY_FOUR_EYES = env_bool("REGISTRY_FOUR_EYES", True)
REGISTRY_API_MAX_BODY_BYTES = int(os.environ.get("REGISTRY_API_MAX_BODY_BYTES", str(2 * 1024 * 1024)))

SPECTACULAR_SETTINGS = {
    "TITLE": "Oncology calcium-disorder case registry API",
    "DESCRIPTION": "Published case reports of calcium disorders in cancer as coded, analysable records.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served by the project itself: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One component per shared choice list (er/pr/her2/hormone_receptor; dechallenge/rechallenge).
    "ENUM_NAME_OVERRIDES": {
        "ReceptorStatusEnum": "cases.vocabularies.ReceptorStatus",
        "ChallengeResultEnum": "cases.vocabularies.ChallengeResult",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.serializers.schema_nullable_objects",
    ],
}

# Local admin login created by `manage.py bootstrap_registry` (bin/serve). Without a password one is generated
# and kept in var/admin-password.
REGISTRY_ADMIN = {
    "username": os.environ.get("REGISTRY_ADMIN_USERNAME", "admin"),
    "password": os.environ.get("REGISTRY_ADMIN_PASSWORD", ""),
}

# Base URL of the registry's own FHIR definitions (extension URLs). The default is a reserved example domain:
# set it to the registry's public address before FHIR exports leave the building.
REGISTRY_CANONICAL_URL = os.environ.get("REGISTRY_CANONICAL_URL", "https://calcium-case-registry.example")

# Logs: JSON lines on stderr. Every 500 is logged by django.request with its traceback (exc_info); a database
# that cannot be reached (503) by registry.middleware.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "traceback"},
        }
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "registry": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
