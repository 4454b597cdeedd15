"""Settings, read from environment variables and validated at start-up."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from heliograph.lib.networks import parse_networks

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("HELIOGRAPH_DATA", "var")).resolve()


# Where `run` or `demo` last served from this data folder: the public URL commands print
# (shortlinks, --json) when HELIOGRAPH_BASE_URL is not set.
SERVED_URL_FILE = DATA_DIR / "served_url"


def _read_base_url() -> str:
    served = SERVED_URL_FILE.read_text().strip() if SERVED_URL_FILE.is_file() else ""
    default = served or "http://127.0.0.1:8000"
    raw = os.environ.get("HELIOGRAPH_BASE_URL", default).rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            f"HELIOGRAPH_BASE_URL must be an http(s) URL such as https://status.example.com, "
            f"not {raw!r}"
        )
    return raw


def _secret_key() -> str:
    """Use SECRET_KEY when given, else one generated once into the data folder."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'heliograph.sqlite3'}"
    try:
        db: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        )
    except Exception as exc:  # dj_database_url raises several kinds for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from exc
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db["CONN_MAX_AGE"] = 0 if db["NAME"] == ":memory:" else 60
        db["OPTIONS"] = {
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait
            # (busy timeout) instead of failing half-way with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a sqlite:// or postgres:// URL")
    # The same backends with bounded waits (heliograph.lib.db.guard).
    db["ENGINE"] = "heliograph.lib.db." + db["ENGINE"].rsplit(".", 1)[1]
    # Lets concurrent test runs on one PostgreSQL server keep out of each other's way.
    db["TEST"] = (
        {"NAME": os.environ["HELIOGRAPH_TEST_DB_NAME"]}
        if "HELIOGRAPH_TEST_DB_NAME" in os.environ
        else {}
    )
    return db


def _seconds(name: str, default: float, low: float = 0.5) -> float:
    return _number(name, default, low, 3600, unit="seconds")


def _number(name: str, default: float, low: float, high: float, unit: str = "") -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        what = f"a number of {unit}" if unit else "a number"
        raise ImproperlyConfigured(f"{name} must be {what}, not {raw!r}") from None
    if not low <= value <= high:
        span = f"between {low:g} and {high:g} {unit}".rstrip()
        raise ImproperlyConfigured(f"{name} must be {span}, not {raw!r}")
    return value


def _networks(name: str) -> str:
    """CIDRs, checked now so that a typo stops the start rather than a request."""
    raw = os.environ.get(name, "")
    try:
        parse_networks(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    return raw


BASE_URL = _read_base_url()
SECRET_KEY = _secret_key()
DEBUG = os.environ.get("HELIOGRAPH_DEBUG", "") == "1"
ALLOWED_HOSTS = ["*"]  # public pages are served for any Host; pages map domains themselves
EXPORT_DIR = DATA_DIR / "export"
RUN_DIR = DATA_DIR / "run"  # heartbeats of this node's processes, for /healthz
POLL_INTERVAL = _seconds("HELIOGRAPH_POLL_INTERVAL", 0.1, low=0.05)

# How long one database call may wait before it is given up: a web request then answers
# 503 instead of holding a thread. Background loops (worker, publisher) allow longer.
DB_TIMEOUT = _seconds("HELIOGRAPH_DB_TIMEOUT", 5.0)
DB_BACKGROUND_TIMEOUT = max(DB_TIMEOUT, 30.0)

# Notifications (heliograph.notify validates these at start-up: `heliograph check`).
HELIOGRAPH_SMTP_URL = os.environ.get("HELIOGRAPH_SMTP_URL", "")
HELIOGRAPH_SMTP_FALLBACK_URL = os.environ.get("HELIOGRAPH_SMTP_FALLBACK_URL", "")
HELIOGRAPH_MAIL_FROM = os.environ.get("HELIOGRAPH_MAIL_FROM", "")
HELIOGRAPH_METRICS_TOKEN = os.environ.get("HELIOGRAPH_METRICS_TOKEN", "")
# SMTP connections a worker keeps open, each carrying messages one after another: sixteen
# keep a relay busy while each waits for replies, under the usual per-client limits
# (Postfix: 50, Exim: 20 in all).
HELIOGRAPH_SMTP_CONNECTIONS = int(_number("HELIOGRAPH_SMTP_CONNECTIONS", 16, 1, 100))
# Longer than a notification batch can take; a dead worker's batch is sent again after it.
HELIOGRAPH_NOTIFY_LEASE_SECONDS = _seconds("HELIOGRAPH_NOTIFY_LEASE_SECONDS", 300.0, low=1.0)
HELIOGRAPH_WORKER_INTERVAL = _seconds("HELIOGRAPH_WORKER_INTERVAL", 2.0, low=0.05)
# Automatic incident updates: a change of severity is told once it has held this long, and
# a new effect at the same severity at most once per gap (monitors.pacing).
HELIOGRAPH_NOTICE_SETTLE_SECONDS = _seconds("HELIOGRAPH_NOTICE_SETTLE_SECONDS", 120.0, low=0)
HELIOGRAPH_NOTICE_GAP_SECONDS = _seconds("HELIOGRAPH_NOTICE_GAP_SECONDS", 600.0, low=0)
# Outbound requests to user-given URLs may reach these private ranges (CIDRs).
HELIOGRAPH_ALLOW_PRIVATE_TARGETS = _networks("HELIOGRAPH_ALLOW_PRIVATE_TARGETS")
# The proxies (nginx) whose X-Forwarded-For names the visitor (CIDRs).
HELIOGRAPH_TRUSTED_PROXIES = _networks("HELIOGRAPH_TRUSTED_PROXIES")
# Manage API requests per minute per key (Statuspage allows 60; we are not multi-tenant).
HELIOGRAPH_API_RATE = _number("HELIOGRAPH_API_RATE", 600, 1, 1e9)

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "heliograph.audit",
    "heliograph.catalog",
    "heliograph.incidents",
    "heliograph.publish",
    "heliograph.accounts",
    "heliograph.api",
    "heliograph.console",
    "heliograph.notify",
    "heliograph.monitors",
    "heliograph.runtime",
    "axes",
]

MIDDLEWARE = [
    # Outermost, so every answer carries their headers: refusals and error pages too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "heliograph.lib.outage.DatabaseOutageMiddleware",
    "heliograph.lib.middleware.refuse_nul_characters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns axes' lock into the login page's 429
]

# Security headers on every answer Django gives (the read path sets its own). The console
# runs no script at all, and styles itself inline (<style> and style=""), so that is all
# the policy allows; images may come from https (markdown previews). No site may frame
# the console or the APIs: a page's own `embeddable` setting is for the read path.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'none'"],
        "style-src": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked username or address first
    "django.contrib.auth.backends.ModelBackend",
]
# Console login throttling (django-axes), counted in the database so that every process
# and node shares it: 10 failures within 15 minutes lock that username (from any address)
# and, separately, that address (for any username) for 15 minutes from the last failure.
# Failures during a lock are not counted, so the minutes the login page announces hold.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "heliograph.accounts.throttle.client_address"
AXES_LOCKOUT_CALLABLE = "heliograph.console.views.auth.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # successful logins: not axes' business here
AXES_VERBOSE = False  # no start-up banner in every command's output
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
LOGIN_URL = "/console/login"
LOGIN_REDIRECT_URL = "/console/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BASE_URL.startswith("https://")
CSRF_TRUSTED_ORIGINS = [BASE_URL]

ROOT_URLCONF = "heliograph.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False

_LOG_LEVEL = os.environ.get("HELIOGRAPH_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    # httpx logs every request at INFO: one line per probe run and per webhook delivery.
    # Probes log their requests at DEBUG themselves (monitors.probes.common).
    "loggers": {"httpx": {"level": "DEBUG" if _LOG_LEVEL == "DEBUG" else "WARNING"}},
}
