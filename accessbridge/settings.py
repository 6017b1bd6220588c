"""AccessBridge settings: everything comes from the environment (12-factor).

Local runs need nothing set (DEBUG defaults to on, SQLite in ./data, the ORM task broker).
With DEBUG=false the production variables are required and checked by name at start.
"""

from pathlib import Path
from urllib.parse import urlsplit

from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from accessbridge.env import database_from_url, env_bool, env_fernet_keys, env_int, env_list, env_str, env_url
from spaces.cobot.features import DEFAULT_SCOPES  # plain Python: no app is loaded by this

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("ACCESSBRIDGE_DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DEBUG", True)
PRODUCTION = not DEBUG

SECRET_KEY = env_str("SECRET_KEY", "local-development-only-not-secret", required=PRODUCTION)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("local-")):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters in production.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"], required=PRODUCTION)

# Public URL of this deployment: Cobot calls our webhooks and frames our pages under it.
ACCESSBRIDGE_BASE_URL = env_url("ACCESSBRIDGE_BASE_URL", "http://127.0.0.1:8000", required=PRODUCTION)
if PRODUCTION and not ACCESSBRIDGE_BASE_URL.startswith("https://"):
    raise ImproperlyConfigured("ACCESSBRIDGE_BASE_URL must be an https:// URL in production.")

# Fernet keys, newest first; older keys only decrypt (rotation). Local runs get a fixed dev key.
ACCESSBRIDGE_ENCRYPTION_KEYS = env_fernet_keys(
    "ACCESSBRIDGE_ENCRYPTION_KEYS",
    ["bG9jYWwtZGV2ZWxvcG1lbnQta2V5LW5vdC1zZWNyZXQ="],
    required=PRODUCTION,
)

COBOT_SITE_URL = env_url("COBOT_SITE_URL", "https://www.cobot.me")
COBOT_SPACE_URL_TEMPLATE = env_str("COBOT_SPACE_URL_TEMPLATE", "https://{subdomain}.cobot.me").rstrip("/")
if "{subdomain}" not in COBOT_SPACE_URL_TEMPLATE:
    raise ImproperlyConfigured("COBOT_SPACE_URL_TEMPLATE must contain {subdomain}.")
COBOT_API2_URL = env_url("COBOT_API2_URL", "https://api.cobot.me")
COBOT_CLIENT_ID = env_str("COBOT_CLIENT_ID", "")
COBOT_CLIENT_SECRET = env_str("COBOT_CLIENT_SECRET", "")
# Scopes asked for at "Sign in with Cobot", space-separated; README "Cobot scopes" says what each
# enables. A Cobot that does not know one answers error=invalid_scope: leave that one out here.
COBOT_SCOPES = env_str("COBOT_SCOPES", " ".join(DEFAULT_SCOPES)).split()
if "read_user" not in COBOT_SCOPES:
    raise ImproperlyConfigured("COBOT_SCOPES must include read_user: signing in reads who you are.")
if any(not scope.isascii() or not scope.isprintable() or set(scope) & {'"', "\\"} for scope in COBOT_SCOPES):
    raise ImproperlyConfigured(f"COBOT_SCOPES holds a name that is no OAuth scope: {COBOT_SCOPES!r}.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "django_q",
    "django_htmx",
    "accessbridge",
    "spaces",
    "spaces.cobot",  # the "Sign in with Cobot" allauth provider
    "locks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "accessbridge.framed_cookies.FramedCookiesMiddleware",
    "accessbridge.middleware.RejectNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accessbridge.middleware.DecryptionErrorMiddleware",
]

if PRODUCTION:
    # Static files from the app server itself (after `collectstatic`); runserver serves them locally.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "accessbridge.urls"
WSGI_APPLICATION = "accessbridge.wsgi.application"

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

DATABASES = {
    "default": database_from_url(
        "DATABASE_URL", env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'accessbridge.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server and the worker share the file: wait for locks instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# allauth: email + password sign-in; the Cobot provider is added by the spaces app.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ALLOW_REGISTRATION = env_bool("ACCOUNT_ALLOW_REGISTRATION", True)
# A mail that cannot be sent is logged and shown, never a 500 (accessbridge.account_adapter).
ACCOUNT_ADAPTER = "accessbridge.account_adapter.AccountAdapter"
# Cobot confirmed the address of whoever signs in with it: no confirmation mail for a Cobot sign-in.
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = True
SOCIALACCOUNT_PROVIDERS: dict = {
    "cobot": {
        # Without a client id the provider stays hidden (no app): paste a token to connect instead.
        "APPS": [{"client_id": COBOT_CLIENT_ID, "secret": COBOT_CLIENT_SECRET}] if COBOT_CLIENT_ID else [],
        "OAUTH_PKCE_ENABLED": True,
    },
}
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "AccessBridge <noreply@localhost>")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security: strict by default; framed Cobot pages relax frame-ancestors per view, nothing else.
X_FRAME_OPTIONS = "DENY"
# A form posted without its cookie: inside Cobot's frame a framed page with the ways on, not a refused frame.
CSRF_FAILURE_VIEW = "spaces.embedded_cookies.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = [ACCESSBRIDGE_BASE_URL]
# Cookies stay SameSite=Lax (Django's default) except in answers to pages framed inside Cobot, which get
# SameSite=None; Secure; Partitioned (accessbridge.framed_cookies). Needs https, so production only.
FRAMED_COOKIES = PRODUCTION
# Off only to see how a browser without partitioned cookies fares (the framed sign-in fallback).
FRAMED_COOKIES_PARTITIONED = env_bool("FRAMED_COOKIES_PARTITIONED", True)
# Content-Security-Policy on every response (django-csp): our own scripts and styles only (an inline
# script needs `nonce="{{ request.csp_nonce }}"`), no framing except the pages framed in Cobot, which
# replace frame-ancestors with the space's Cobot origins (spaces.embedded.framed_by_cobot). Forms may
# post on to Cobot: "Sign in with Cobot" answers with a redirect to its OAuth page (site or space host).
_COBOT_ORIGINS = [
    f"{parts.scheme}://{parts.netloc}"
    for parts in (urlsplit(COBOT_SITE_URL), urlsplit(COBOT_SPACE_URL_TEMPLATE.replace("{subdomain}", "*")))
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF, *dict.fromkeys(_COBOT_ORIGINS)],
        "frame-ancestors": [NONE],
    }
}

SILENCED_SYSTEM_CHECKS = ["security.W021"] if PRODUCTION and not SECURE_HSTS_PRELOAD else []

# Task queue (django-q2). ORM broker by default; Redis when REDIS_URL is set.
# django-q2 has no backoff of its own: retry state lives in our work rows (accessbridge.work),
# so its own re-delivery is only a safety net: timeout < retry, few attempts.
REDIS_URL = env_str("REDIS_URL", "")
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "accessbridge"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT", 120),
    "retry": env_int("Q_RETRY", 180),
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 2),
    "save_limit": 1000,
    "catch_up": False,
    "ack_failures": True,
    # ORM broker: how often an idle worker asks the database for tasks (seconds). One cheap query per
    # look; 0.2 s keeps a webhook's way to the door well under half a second (issue #10).
    "poll": float(env_str("Q_POLL", "0.2")),
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_TIMEOUT must be lower than Q_RETRY, or tasks run twice.")

# Work with retries (accessbridge.work): exponential backoff with jitter, then "failed".
WORK_MAX_ATTEMPTS = env_int("WORK_MAX_ATTEMPTS", 8)
WORK_BACKOFF_BASE_SECONDS = env_int("WORK_BACKOFF_BASE_SECONDS", 30)
WORK_BACKOFF_MAX_SECONDS = env_int("WORK_BACKOFF_MAX_SECONDS", 3600)
# Each worker's due-work clock (accessbridge.work_clock) looks for rows that came due this often; 0: off.
WORK_DUE_POLL_SECONDS = float(env_str("WORK_DUE_POLL_SECONDS", "2"))

# Lock vendors' hosts entered by space admins must resolve to public addresses (The Keys gateways: no
# loopback/link-local/metadata). Local runs allow them, so stand-ins and a LAN lab work.
LOCKS_ALLOW_PRIVATE_HOSTS = env_bool("LOCKS_ALLOW_PRIVATE_HOSTS", DEBUG)

# Outbound HTTP (accessbridge.http)
HTTP_CONNECT_TIMEOUT = float(env_str("HTTP_CONNECT_TIMEOUT", "5"))
HTTP_READ_TIMEOUT = float(env_str("HTTP_READ_TIMEOUT", "20"))
HTTP_USER_AGENT = env_str("HTTP_USER_AGENT", "AccessBridge/0.1 (+https://github.com/accessbridge)")

# Webhook callback paths hold a secret (/hooks/<source>/<key>/<secret>/) and Cobot's token endpoints a
# token: the loggers that print request paths mask them (accessbridge.logging). Configuring
# django.server replaces Django's default for it, so its handler and formatter are repeated here.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "accessbridge.logging.SecretMaskingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {"level": "INFO", "class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django-q": {"level": env_str("Q_LOG_LEVEL", "WARNING")},  # django-q2's logger name has a dash
        "django.request": {"filters": ["mask_secrets"]},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False, "filters": ["mask_secrets"]},
        "urllib3.connectionpool": {"filters": ["mask_secrets"]},  # logs every URL it calls at DEBUG
    },
}

# A log file per process (`make run` sets it for its web server and worker): every line goes to the file,
# only warnings and errors to the screen; request lines and the worker's INFO lines stay in the file.
LOG_FILE = env_str("LOG_FILE", "")
if LOG_FILE:
    LOGGING["handlers"].update(
        {
            "file": {"class": "logging.FileHandler", "filename": LOG_FILE, "formatter": "plain"},
            "console_errors": {"level": "ERROR", "class": "logging.StreamHandler", "formatter": "plain"},
        }
    )
    LOGGING["handlers"]["console"]["level"] = "WARNING"
    LOGGING["root"]["handlers"] = ["console", "file"]
    LOGGING["loggers"]["django-q"]["level"] = env_str("Q_LOG_LEVEL", "INFO")
    LOGGING["loggers"]["django.server"]["handlers"] = ["file"]
    # "Not Found: /x" is a warning per request: the file has it, the screen only 5xx errors.
    LOGGING["loggers"]["django.request"].update(handlers=["file", "console_errors"], propagate=False)
