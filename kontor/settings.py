"""Settings, all from the environment; the defaults give the embedded SQLite demo."""

import os
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KONTOR_VAR_DIR", BASE_DIR / "var"))
TESTING = "pytest" in sys.modules or os.environ.get("KONTOR_TESTING") == "1"


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
# The demo (`make demo`, `kontor run_demo`, the benchmarks) says so; it may then run on the public demo key.
KONTOR_DEMO = env_bool("KONTOR_DEMO")
DEMO_SECRET_KEY = "kontor-insecure-demo-key-change-me-in-production-0123456789"
# Management commands that neither serve nor run jobs sign nothing, so they run without a key (migrations,
# checks, shells of developers); the server, the worker and the listeners do not.
_SERVING_COMMANDS = {"runserver", "worker", "smpp_listen", "dispatch_pending", "deliver_webhooks"}


def _may_use_demo_key() -> bool:
    if DEBUG or TESTING or KONTOR_DEMO or "mypy" in sys.modules:
        return True
    program = Path(sys.argv[0] if sys.argv else "")
    is_cli = program.name in {"manage.py", "kontor", "django-admin"} or program.parts[-2:] == ("kontor", "__main__.py")
    return is_cli and len(sys.argv) > 1 and sys.argv[1] not in _SERVING_COMMANDS


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not _may_use_demo_key():
        from django.core.exceptions import ImproperlyConfigured

        # The demo key is public: with it anyone could forge sessions' signatures and device cookies.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random value in production (for example "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or set KONTOR_DEMO=1 to run "
            "the demo on its public key (`make demo` does)."
        )
    SECRET_KEY = DEMO_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Addresses (or CIDR subnets) of reverse proxies whose X-Forwarded-For is believed.
KONTOR_TRUSTED_PROXIES = env_list("KONTOR_TRUSTED_PROXIES")
KONTOR_BASE_URL = os.environ.get("KONTOR_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_filters",
    "django_tables2",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "kontor.core",
    "kontor.audit",
    "kontor.tenancy",
    "kontor.access",
    "kontor.ledger",
    "kontor.billing",
    "kontor.numbers",
    "kontor.contacts",
    "kontor.messaging",
    "kontor.staff",
    "kontor.web",
    "kontor.ops",
]

MIDDLEWARE = [
    "kontor.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "kontor.web.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kontor.access.middleware.TenancyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kontor.web.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "kontor.urls"
WSGI_APPLICATION = "kontor.wsgi.application"
ASGI_APPLICATION = "kontor.asgi.application"

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
                "kontor.web.context.navigation",
            ],
        },
    }
]

DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'kontor.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes; IMMEDIATE takes the write
    # lock at BEGIN so two writers queue instead of failing half way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("KONTOR_SQLITE_TEST_NAME") or None}
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, keeping the row-level security state in step (kontor/core/postgresql).
        DATABASES["default"]["ENGINE"] = "kontor.core.postgresql"
    # Persistent connections: opening one per request costs more than most requests' own work.
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("KONTOR_PG_TEST_NAME", "test_" + DATABASES["default"]["NAME"])
    }
# PostgreSQL row-level security (kontor/core/rls.py, docs/operations.md): the app switches to the role
# kontor_app, which the tenant policies bind. On by default; KONTOR_RLS=0 turns it off. Ignored on SQLite.
KONTOR_RLS = env_bool("KONTOR_RLS", True) and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "access.User"
AUTHENTICATION_BACKENDS = ["kontor.access.backends.EmailBackend"]
LOGIN_URL = "access:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "access:login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING and not env_bool("KONTOR_REAL_HASHER"):
    # Tests create hundreds of users; Argon2 stays first for production and for the login tests
    # that set KONTOR_REAL_HASHER, the rest hash with the fast MD5 hasher.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 60 * 60 * 12

# HTTPS: off by default (the demo is plain http on loopback); turn on behind TLS (docs/operations.md).
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
# "HTTP_X_FORWARDED_PROTO,https": the header a trusted TLS-terminating proxy sets, and its value for https.
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is a header and a value, e.g. HTTP_X_FORWARDED_PROTO,https.")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1]) if _proxy_ssl_header else None
# Scripts only from our own origin (kontor/web/csp.py); empty turns the header off.
KONTOR_CONTENT_SECURITY_POLICY = os.environ.get(
    "KONTOR_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start when it is missing
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Mail: SMTP when EMAIL_HOST is set, otherwise one file per message under var/mail/.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Kontor <no-reply@kontor.local>")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

TASKS = {
    "default": {
        "BACKEND": os.environ.get("KONTOR_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
if TESTING:
    TASKS["default"] = {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}

# The sender of accounts without an activated MO number; it cannot receive replies.
KONTOR_DEFAULT_SENDER = os.environ.get("KONTOR_DEFAULT_SENDER", "Kontor")
# Messages per second an account's messages are handed to the connector (staff override per account).
# Single sends of concurrent requests share one commit (kontor/messaging/bulk/groupcommit.py); off in tests,
# whose transactions another thread could not see.
KONTOR_GROUP_COMMIT = env_bool("KONTOR_GROUP_COMMIT") and not TESTING
# POST /api/v1/messages answered before Django's middleware when it is a plain send (messaging/api/fastlane.py).
KONTOR_FAST_LANE = env_bool("KONTOR_FAST_LANE") and not TESTING
# How long a server process reuses an API key's scope, the rate card, a sender number (core/hotcache.py).
KONTOR_HOT_CACHE_SECONDS = 0.0 if TESTING else float(os.environ.get("KONTOR_HOT_CACHE_SECONDS", "2"))
KONTOR_DEFAULT_SEND_RATE = int(os.environ.get("KONTOR_DEFAULT_SEND_RATE", "50"))
# Shared secret of POST /api/v1/messages/inbound (providers, connectors); empty: the endpoint is off.
KONTOR_INBOUND_TOKEN = os.environ.get("KONTOR_INBOUND_TOKEN", "")
# Webhooks may target private/loopback addresses (and plain http): only for tests and local set-ups.
KONTOR_WEBHOOK_ALLOW_PRIVATE = env_bool("KONTOR_WEBHOOK_ALLOW_PRIVATE") or TESTING

# Login throttling: failures allowed per window before further attempts are refused.
KONTOR_LOGIN_WINDOW_SECONDS = int(os.environ.get("KONTOR_LOGIN_WINDOW_SECONDS", "900"))
KONTOR_LOGIN_MAX_PER_USER = int(os.environ.get("KONTOR_LOGIN_MAX_PER_USER", "10"))
KONTOR_LOGIN_MAX_PER_ADDRESS = int(os.environ.get("KONTOR_LOGIN_MAX_PER_ADDRESS", "30"))
KONTOR_ONE_TIME_LINK_HOURS = int(os.environ.get("KONTOR_ONE_TIME_LINK_HOURS", "72"))
# Password-reset requests mailed per email and per address in a window; more get the same answer, no mail.
KONTOR_RESET_WINDOW_SECONDS = int(os.environ.get("KONTOR_RESET_WINDOW_SECONDS", "3600"))
KONTOR_RESET_MAX_PER_EMAIL = int(os.environ.get("KONTOR_RESET_MAX_PER_EMAIL", "3"))
KONTOR_RESET_MAX_PER_ADDRESS = int(os.environ.get("KONTOR_RESET_MAX_PER_ADDRESS", "10"))

# The seller on tax invoices (snapshotted into each invoice when it is issued).
KONTOR_PROVIDER_NAME = os.environ.get("KONTOR_PROVIDER_NAME", "Kontor Telecom AB")
KONTOR_PROVIDER_ADDRESS = os.environ.get("KONTOR_PROVIDER_ADDRESS", "Sveavägen 1\n111 57 Stockholm\nSweden")
KONTOR_PROVIDER_VAT_NUMBER = os.environ.get("KONTOR_PROVIDER_VAT_NUMBER", "SE556000000001")
KONTOR_PROVIDER_EMAIL = os.environ.get("KONTOR_PROVIDER_EMAIL", "billing@kontor.local")
# Invoice numbers are PREFIX-YEAR-NNNNNN, the year taken in this time zone.
KONTOR_INVOICE_PREFIX = os.environ.get("KONTOR_INVOICE_PREFIX", "KON")
KONTOR_INVOICE_TIME_ZONE = os.environ.get("KONTOR_INVOICE_TIME_ZONE", "Europe/Stockholm")

DJANGO_TABLES2_TEMPLATE = "web/table.html"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# Email uniqueness is a case-insensitive UniqueConstraint (Lower("email")), which this check cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
