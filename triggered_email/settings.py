"""Settings for Triggered Email.

Every value comes from the environment, with a default that runs on a laptop (SQLite under var/,
django-q2's ORM broker, local file storage, the local mail catcher as the dedicated MTA). Bad
values stop start-up with a message naming the variable. README.md lists the variables.
"""

import re
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from triggered_email.environment import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_prefixed,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/ for laptops."""
    key = env_str("SECRET_KEY")
    if key:
        if len(key) < 50:
            raise ImproperlyConfigured(
                "Environment variable SECRET_KEY is too short: use at least 50 random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
            )
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Public base URL of this installation, used in links inside emails (tracking, previews).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# HTTPS=1 in production turns on everything `manage.py check --deploy` asks for.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself; otherwise clients could spoof HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and the scraper talk plain HTTP to the process from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Content-Security-Policy (django-csp 4) ------------------------------------------------------
# No inline script and no inline event handler runs on any page (admin, dashboard, API docs): a
# value that slips past escaping still cannot execute. Our scripts are static files. Inline
# styles stay allowed: the admin uses them, and email previews (srcdoc iframes, which inherit
# this policy) are HTML with inline styles and remote images. Nothing here relaxes script-src;
# operators may only add image and font sources.
_CSP_SOURCE = re.compile(
    r"(?:[a-z][a-z0-9+.-]*:"  # a scheme source: https:
    r"|(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::(?:\d+|\*))?"
    r"(?:/[^\s;,'\"]*)?)",  # a host source: https://cdn.example.com/fonts/
    re.IGNORECASE,
)


def _csp_extra_sources(name: str) -> list[str]:
    sources = env_list(name, [])
    bad = [source for source in sources if not _CSP_SOURCE.fullmatch(source)]
    if bad:
        raise ImproperlyConfigured(
            f"Environment variable {name} holds {', '.join(map(repr, bad))}, which is not a "
            "CSP host or scheme source: give a comma-separated list such as "
            "'https://cdn.example.com, fonts.example.net' (keywords like 'unsafe-inline' and '*' "
            "are refused)."
        )
    return sources


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:", "http:", *_csp_extra_sources("CSP_EXTRA_IMG_SRC")],
        "font-src": ["'self'", "data:", "https:", *_csp_extra_sources("CSP_EXTRA_FONT_SRC")],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # The trigger API's OpenAPI schema (/api/schema/) and its offline docs (/api/docs/).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "django_q",
    # HTTP and database metrics for /metrics (the product's own come from triggered_email.metrics).
    "django_prometheus",
    # Admin login throttling: failed logins are counted in the database every web host shares.
    "axes",
    "triggered_email",
    "events",
    "delivery",
    "streams",
    "senders",
    "dashboard",
    # Status webhooks to client systems (outgoing; delivery/webhooks.py is the incoming ESP ones).
    "status_webhooks",
]

MIDDLEWARE = [
    # First and last: django-prometheus times the whole request, every other middleware included.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /api/v2/… with a trailing or repeated slash reaches the same view, without a redirect.
    "triggered_email.api_paths.ApiPathMiddleware",
    # Content-Security-Policy on every response (see CONTENT_SECURITY_POLICY above).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
    "triggered_email.request_metrics.RequestMetricsAfterMiddleware",
]

ROOT_URLCONF = "triggered_email.urls"
WSGI_APPLICATION = "triggered_email.wsgi.application"

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

# --- Database ---------------------------------------------------------------------------------

# Persistent connections instead of psycopg's pool: django-q2 forks its workers, and forked
# processes sharing pooled connections corrupt each other's results (DESIGN.md, pitfalls).
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(
            DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable DATABASE_URL is invalid: {exc}") from exc
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "triggered_email.sqlite3",
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
    }
# Parameters bound by the server and statements PostgreSQL keeps prepared after five uses on a
# connection: the trigger path's and the lanes' statements repeat thousands of times, and parsing
# them anew was a quarter of PostgreSQL's CPU per single trigger (docs/performance.md, *Settings
# that matter*). Off: Django's default (values quoted into the text), which a pooler in
# transaction mode without prepared-statement support (PgBouncer before 1.21) needs.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
if _database["ENGINE"] == "django.db.backends.postgresql" and DB_PREPARED_STATEMENTS:
    _database.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["OPTIONS"] = {
        # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock at
        # BEGIN so concurrent writers wait (timeout) instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so a real qcluster process started by a test sees the test data.
    _database["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "triggered_email",
        }
    }
else:
    # One cache every web process shares, so the API's rate limit (and anything else counted in
    # the cache) holds across all workers of an installation, not per process. The table is
    # created by a migration (events 0004), so `migrate` is all a setup needs.
    CACHES = {
        "default": {
            "BACKEND": "triggered_email.shared_cache.SharedDatabaseCache",
            "LOCATION": "triggered_email_cache",
            "KEY_PREFIX": "triggered_email",
        }
    }

# --- Task queue (django-q2): two lanes ----------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
Q_TASK_TIMEOUT = env_int("Q_TASK_TIMEOUT", 120, minimum=5)
# The status webhook lane's task timeout (its ALT_CLUSTER below); WEBHOOKS_TIMEOUT_SECONDS must
# fit in half of it.
Q_WEBHOOK_TASK_TIMEOUT = env_int("Q_WEBHOOK_TASK_TIMEOUT", 120, minimum=5)
Q_CLUSTER = {
    # Shared by both lanes: it is the signing salt, so every process must agree on it.
    "name": "triggered_email",
    # The main cluster serves the transactional lane; `Q_CLUSTER_NAME=bulk` starts the bulk lane.
    "cluster_name": "transactional",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": Q_TASK_TIMEOUT,
    # Must exceed the timeout, or a slow task is handed to a second worker while still running.
    "retry": Q_TASK_TIMEOUT + 60,
    # A task whose worker died is redelivered once; the periodic sweep recovers anything else.
    "max_attempts": 2,
    # A task that raised is acknowledged: the Message row's status decides what happens next.
    "ack_failures": True,
    "save_limit": -1,
    "catch_up": False,
    "poll": env_float("Q_POLL", 0.05, minimum=0.01),
    "bulk": 10,
    "label": "Task queue",
    "log_level": env_choice("Q_LOG_LEVEL", "WARNING", {"DEBUG", "INFO", "WARNING", "ERROR"}),
    # A worker process is replaced after this many tasks (django-q2's default, 500, restarted a
    # busy time-critical worker every few seconds: new connections, cold caches, a latency spike).
    "recycle": env_int("Q_RECYCLE", 10_000, minimum=1),
    "ALT_CLUSTERS": {
        "bulk": {"workers": env_int("Q_BULK_WORKERS", 2, minimum=1)},
        # Status webhooks to client systems: their own lane, so a slow endpoint holds only
        # these workers, never a send lane's (status_webhooks).
        # Its own task timeout: a send lane's (Q_TASK_TIMEOUT) need not fit an endpoint's.
        "webhooks": {
            "workers": env_int("Q_WEBHOOK_WORKERS", 2, minimum=1),
            "timeout": Q_WEBHOOK_TASK_TIMEOUT,
            "retry": Q_WEBHOOK_TASK_TIMEOUT + 60,
        },
    },
}
# Nice level of the bulk lane's workers (0-19): on shared cores a broadcast yields the CPU to
# the transactional lane and the web server.
Q_BULK_NICE = env_int("Q_BULK_NICE", 10, minimum=0)
# On Linux the bulk lane's workers run under SCHED_IDLE: only on CPU time nothing else wants, so
# their own work never delays a password reset (docs/performance.md, *Settings that matter*). A
# host that is busy with other work for long starves the broadcast meanwhile; 0 falls back to
# Q_BULK_NICE.
Q_BULK_SCHED_IDLE = env_bool("Q_BULK_SCHED_IDLE", True)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- The dedicated sending path -----------------------------------------------------------------

_BACKEND_ALIASES = {
    # Django's SMTP backend with command pipelining (RFC 2920) where the MTA offers it.
    "smtp": "delivery.smtp_backend.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
# Never Django's EMAIL_BACKEND: that one stays for the site's own mail (password resets of staff).
TRIGGERED_EMAIL_BACKEND = env_str("TRIGGERED_EMAIL_BACKEND", "smtp")
TRIGGERED_EMAIL_BACKEND = _BACKEND_ALIASES.get(TRIGGERED_EMAIL_BACKEND, TRIGGERED_EMAIL_BACKEND)
if "." not in TRIGGERED_EMAIL_BACKEND:
    raise ImproperlyConfigured(
        "Environment variable TRIGGERED_EMAIL_BACKEND must be 'smtp', 'console' or a dotted path "
        "such as 'anymail.backends.postmark.EmailBackend'."
    )
TRIGGERED_EMAIL_SMTP = {
    "host": env_str("TRIGGERED_EMAIL_SMTP_HOST", "127.0.0.1"),
    "port": env_int("TRIGGERED_EMAIL_SMTP_PORT", 1025, minimum=1),
    "username": env_str("TRIGGERED_EMAIL_SMTP_USER"),
    "password": env_str("TRIGGERED_EMAIL_SMTP_PASSWORD"),
    "use_tls": env_bool("TRIGGERED_EMAIL_SMTP_USE_TLS", False),
    "use_ssl": env_bool("TRIGGERED_EMAIL_SMTP_USE_SSL", False),
    "timeout": env_int("TRIGGERED_EMAIL_SMTP_TIMEOUT", 10, minimum=1),
}
# A worker keeps its SMTP connection open across tasks for at most this long (0: a connection
# per task). Connecting, EHLO and QUIT cost more than sending one message.
TRIGGERED_EMAIL_SMTP_KEEP_OPEN_SECONDS = env_int(
    "TRIGGERED_EMAIL_SMTP_KEEP_OPEN_SECONDS", 300, minimum=0
)
if TRIGGERED_EMAIL_SMTP["use_tls"] and TRIGGERED_EMAIL_SMTP["use_ssl"]:
    raise ImproperlyConfigured(
        "TRIGGERED_EMAIL_SMTP_USE_TLS and TRIGGERED_EMAIL_SMTP_USE_SSL are exclusive: set one."
    )
# A private CA that signed the dedicated MTA's certificate (PEM), trusted in addition to the
# system's CAs for STARTTLS (TRIGGERED_EMAIL_SMTP_USE_TLS) and implicit TLS (…_USE_SSL).
# Certificates are always verified, host name included.
TRIGGERED_EMAIL_SMTP_CA_FILE = env_str("TRIGGERED_EMAIL_SMTP_CA_FILE")
if TRIGGERED_EMAIL_SMTP_CA_FILE and not Path(TRIGGERED_EMAIL_SMTP_CA_FILE).is_file():
    raise ImproperlyConfigured(
        f"Environment variable TRIGGERED_EMAIL_SMTP_CA_FILE={TRIGGERED_EMAIL_SMTP_CA_FILE!r} is "
        "not a readable file: give the path of the CA certificate (PEM)."
    )
# Sender addresses of mail streams must be on a verified sender domain (Admin → Sender domains).
# Who DKIM-signs: "app" signs at the end of the SMTP lane with the domains' keys; "mta" leaves it
# to the dedicated MTA (OpenDKIM). The ESP path never signs: the ESP does.
TRIGGERED_EMAIL_DKIM_SIGNING = env_choice("TRIGGERED_EMAIL_DKIM_SIGNING", "app", {"app", "mta"})
# The keys a new sender domain gets; RSA-2048 always, Ed25519 in addition where listed.
TRIGGERED_EMAIL_DKIM_ALGORITHMS = env_list("TRIGGERED_EMAIL_DKIM_ALGORITHMS", ["rsa-sha256"])
if "rsa-sha256" not in TRIGGERED_EMAIL_DKIM_ALGORITHMS or not set(
    TRIGGERED_EMAIL_DKIM_ALGORITHMS
) <= {"rsa-sha256", "ed25519-sha256"}:
    raise ImproperlyConfigured(
        "Environment variable TRIGGERED_EMAIL_DKIM_ALGORITHMS must be 'rsa-sha256' or "
        "'rsa-sha256,ed25519-sha256': receivers that do not know Ed25519 need the RSA signature."
    )
# A lane worker reads a domain's keys at most this often: a rotation reaches it within this.
TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS = env_int(
    "TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS", 60, minimum=1
)
# SPF: "include:<this>" in the record each sender domain publishes (your MTA's or relay's SPF
# domain); empty: "mx" (the domain's MX hosts send).
TRIGGERED_EMAIL_SPF_INCLUDE = env_str("TRIGGERED_EMAIL_SPF_INCLUDE")
# The MX host of the return-path (bounce) domains; empty: the host of SITE_URL.
TRIGGERED_EMAIL_RETURN_PATH_MX = env_str("TRIGGERED_EMAIL_RETURN_PATH_MX").rstrip(".")
# Every sender domain's DNS records are checked this often (schedule sender-dns-checks).
TRIGGERED_EMAIL_DNS_CHECK_EVERY_MINUTES = env_int(
    "TRIGGERED_EMAIL_DNS_CHECK_EVERY_MINUTES", 60, minimum=5
)
# Bounces on the SMTP path (docs/deliverability.md). Each message goes out with a signed VERP
# return path, bounces+<message id>-<signature>@<domain>, so a delivery status notification
# names the message it is about; `manage.py receive_bounces` takes them in. The domain is this,
# or when empty the return-path domain of the sender's SenderDomain (bounces.<domain>). Off:
# the sender address is the return path, as without this feature.
TRIGGERED_EMAIL_VERP = env_bool("TRIGGERED_EMAIL_VERP", True)
TRIGGERED_EMAIL_BOUNCE_DOMAIN = env_str("TRIGGERED_EMAIL_BOUNCE_DOMAIN").strip().lower()
if TRIGGERED_EMAIL_BOUNCE_DOMAIN and not re.fullmatch(
    r"[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+", TRIGGERED_EMAIL_BOUNCE_DOMAIN
):
    raise ImproperlyConfigured(
        "Environment variable TRIGGERED_EMAIL_BOUNCE_DOMAIN must be a domain name "
        "(ASCII letters, digits and hyphens, e.g. bounces.shop.example)."
    )
# The bounce listener refuses a notification larger than this (SMTP 552): DSNs that carry the
# whole original message with its attachments can be large, the parser holds one in memory.
TRIGGERED_EMAIL_BOUNCE_MAX_BYTES = env_int(
    "TRIGGERED_EMAIL_BOUNCE_MAX_BYTES", 10_000_000, minimum=10_000
)
# Anymail path: broadcast streams go out on the ESP's broadcast message stream where the ESP
# has one (Postmark: MessageStream; a server's default broadcast stream is "broadcast"). A
# stream's own `esp_message_stream` overrides it; empty sends broadcasts on the ESP's default.
TRIGGERED_EMAIL_ESP_BROADCAST_STREAM = env_str("TRIGGERED_EMAIL_ESP_BROADCAST_STREAM", "broadcast")
TRIGGERED_EMAIL_MAX_ATTEMPTS = env_int("TRIGGERED_EMAIL_MAX_ATTEMPTS", 8, minimum=1)
TRIGGERED_EMAIL_RETRY_BASE_SECONDS = env_int("TRIGGERED_EMAIL_RETRY_BASE_SECONDS", 60, minimum=1)
TRIGGERED_EMAIL_RETRY_MAX_SECONDS = env_int("TRIGGERED_EMAIL_RETRY_MAX_SECONDS", 3600, minimum=1)
# Messages per queued task: one SMTP connection serves a whole chunk.
TRIGGERED_EMAIL_CHUNK_SIZE = env_int("TRIGGERED_EMAIL_CHUNK_SIZE", 100, minimum=1)
# The bulk lane holds back while time-critical mail was triggered within this many milliseconds
# (delivery.lane_priority; needs the Redis broker, REDIS_URL), each time for at most
# TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS, so a steady stream of it slows a broadcast but never
# stops it. 0 turns it off.
TRIGGERED_EMAIL_BULK_YIELD_MS = env_int("TRIGGERED_EMAIL_BULK_YIELD_MS", 50, minimum=0)
TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS = env_float(
    "TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS", 0.5, minimum=0.0
)
# A message still `queued` this long after it was handed to the broker is handed over again
# (the Redis broker loses in-flight tasks when it restarts). Shorter re-hands a backlog (a
# broadcast queued on the bulk lane) to the broker again for nothing.
TRIGGERED_EMAIL_REQUEUE_AFTER_SECONDS = env_int(
    "TRIGGERED_EMAIL_REQUEUE_AFTER_SECONDS", 600, minimum=30
)
# The same on the transactional lane while its queue holds no task: a lost task is re-handed
# within this plus TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS. Shorter: a task that waits in a busy
# worker meanwhile gets a spare twin (claimed once, so it costs only work).
TRIGGERED_EMAIL_TRANSACTIONAL_REQUEUE_AFTER_SECONDS = env_int(
    "TRIGGERED_EMAIL_TRANSACTIONAL_REQUEUE_AFTER_SECONDS", 20, minimum=5
)
# The sweep (dead workers' messages, due retries, lost tasks) runs this often in each
# transactional lane (delivery.pacemaker): retries go out within this of their backoff time.
# 0 leaves it to django-q2's schedule, about once a minute.
TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS = env_float(
    "TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS", 2.0, minimum=0.0
)
# The lease of a worker on the messages it claimed: renewed while it works on them; when it
# runs out (the worker died) the sweep queues them again. It must outlast a database restart
# (a worker cannot renew or record then); longer delays the recovery of a dead worker's
# messages.
TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS = env_int(
    "TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS", 30, minimum=3
)
# A task starts no new send after this long and hands what it has not started back to its
# lane: it must end well before django-q2 kills it (Q_TASK_TIMEOUT) with outcomes unrecorded.
TRIGGERED_EMAIL_TASK_SECONDS = env_float(
    "TRIGGERED_EMAIL_TASK_SECONDS", max(1.0, Q_TASK_TIMEOUT / 4), minimum=0.1
)
# After its time is up a task may still finish the message in flight and, on the bulk lane,
# give way twice (before its last record and its hand-back): that must fit in the timeout too.
if TRIGGERED_EMAIL_TASK_SECONDS + 2 * TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS > Q_TASK_TIMEOUT / 2:
    raise ImproperlyConfigured(
        f"TRIGGERED_EMAIL_TASK_SECONDS ({TRIGGERED_EMAIL_TASK_SECONDS:g}) plus twice "
        f"TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS ({TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS:g}) "
        f"must be at most half of Q_TASK_TIMEOUT ({Q_TASK_TIMEOUT}): a task that overruns it "
        "is killed with outcomes unrecorded. Lower them or raise Q_TASK_TIMEOUT."
    )
# Outcomes are recorded after at most this many messages, or once the MTA has answered for this
# long, whichever comes first: a worker killed mid-task leaves at most these with an unknown
# outcome (sent again). Fewer: more database writes per message. At full speed the count ends a
# window (50 messages take 12-50 ms); under a slow MTA the time does, so the answers of a slow MTA
# are recorded one by one.
TRIGGERED_EMAIL_RECORD_EVERY = env_int("TRIGGERED_EMAIL_RECORD_EVERY", 50, minimum=1)
TRIGGERED_EMAIL_RECORD_WITHIN_MS = env_int("TRIGGERED_EMAIL_RECORD_WITHIN_MS", 100, minimum=1)
# Bounds on one message's render (streams.template_sandbox): a template that loops or grows
# past them fails permanently ("template exceeded its render limit") instead of holding its lane
# worker; the admin preview uses the same bounds. The time is the render's CPU time (a busy
# machine does not count against it); the output cap counts characters of all parts.
TRIGGERED_EMAIL_RENDER_SECONDS = env_float("TRIGGERED_EMAIL_RENDER_SECONDS", 0.25, minimum=0.01)
TRIGGERED_EMAIL_RENDER_MAX_CHARS = env_int(
    "TRIGGERED_EMAIL_RENDER_MAX_CHARS", 2_000_000, minimum=10_000
)
# --- Pausing and resuming streams (marketers' workflow) -------------------------------------------
# A message held while its stream was paused and older than this when the stream resumes is
# recorded as expired instead of sent: a password reset or a shipping notice that arrives days
# late does more harm than good.
TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS = env_int("TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS", 24, minimum=1)

# Tests run queued work in-process right after commit; never set this in production.
TRIGGERED_EMAIL_RUN_TASKS_INLINE = env_bool("TRIGGERED_EMAIL_RUN_TASKS_INLINE", False)

# Anymail reads its ESP settings from here: ANYMAIL_POSTMARK_SERVER_TOKEN=… becomes
# ANYMAIL["POSTMARK_SERVER_TOKEN"]; ANYMAIL_WEBHOOK_SECRET protects the tracking webhooks.
ANYMAIL = env_prefixed("ANYMAIL_")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "triggered-email@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- The trigger API ----------------------------------------------------------------------------

API_MAX_REQUEST_BYTES = env_int("API_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
API_MAX_EVENT_BYTES = env_int("API_MAX_EVENT_BYTES", 1024 * 1024, minimum=1024)
API_MAX_BATCH = 1000
API_WSSE_WINDOW_SECONDS = env_int("API_WSSE_WINDOW_SECONDS", 300, minimum=30)
# Requests per credential, e.g. "1000/s", "50000/min"; counted in the default cache, which every
# web process shares (the database, or Redis with CACHE_URL).
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1000/s")
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(
        f"Environment variable API_RATE_LIMIT={API_RATE_LIMIT!r} is invalid: expected "
        "requests per period such as 1000/s, 50000/min or 1000000/day."
    )
API_IDEMPOTENCY_TTL_HOURS = env_int("API_IDEMPOTENCY_TTL_HOURS", 24, minimum=1)
# DRF applies this to JSON bodies too (DESIGN.md): room for the 10 MB requests the API accepts.
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_REQUEST_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "events.api.authentication.WSSEAuthentication",
        "events.api.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["events.api.throttling.CredentialRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "events.api.envelope.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# The OpenAPI schema of the trigger API (events/api/schema.py describes the views from outside).
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "Triggered Email API",
    "DESCRIPTION": (
        "Emarsys v2 compatible trigger API: every answer is the envelope "
        "`{replyCode, replyText, data}`, replyCode 0 on success. Authenticate with an X-WSSE "
        "UsernameToken header or `Authorization: Token <token>`."
    ),
    "VERSION": "2",
    # Clients and tools read the schema without credentials; the API itself still needs them.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package's static files: the docs work offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl null: Swagger UI would otherwise send the schema to an online validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "events.api.schema.add_components",
    ],
}

# --- Integrations (inbound webhooks) and automation programs ----------------------------------

# Webhook bodies larger than this are refused (413) before their signature is checked.
INTEGRATION_MAX_BODY_BYTES = env_int("INTEGRATION_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Days the call log of each integration is kept (anyone can post to a hook URL).
INTEGRATION_CALL_LOG_DAYS = env_int("INTEGRATION_CALL_LOG_DAYS", 30, minimum=1)
# A run claimed longer than this belongs to a worker that died; another worker continues it.
PROGRAM_RUN_CLAIM_TIMEOUT_SECONDS = env_int(
    "PROGRAM_RUN_CLAIM_TIMEOUT_SECONDS", Q_TASK_TIMEOUT + 60, minimum=Q_TASK_TIMEOUT + 1
)
# Claims without progress (errors, dead workers) before a run is marked failed.
PROGRAM_RUN_MAX_ATTEMPTS = env_int("PROGRAM_RUN_MAX_ATTEMPTS", 5, minimum=1)
# Runs per queued task, and the most due runs one pick-up (every minute) hands to the workers.
PROGRAM_RUNS_PER_TASK = env_int("PROGRAM_RUNS_PER_TASK", 100, minimum=1)
PROGRAM_PICKUP_LIMIT = env_int("PROGRAM_PICKUP_LIMIT", 10_000, minimum=1)

# --- Status webhooks to client systems (status_webhooks) ----------------------------------------

# One POST to an endpoint may take this long, connecting and answering included (then: retry).
WEBHOOKS_TIMEOUT_SECONDS = env_float("WEBHOOKS_TIMEOUT_SECONDS", 10.0, minimum=0.1)
if WEBHOOKS_TIMEOUT_SECONDS > Q_WEBHOOK_TASK_TIMEOUT / 2:
    raise ImproperlyConfigured(
        f"WEBHOOKS_TIMEOUT_SECONDS ({WEBHOOKS_TIMEOUT_SECONDS:g}) must be at most half of "
        f"Q_WEBHOOK_TASK_TIMEOUT ({Q_WEBHOOK_TASK_TIMEOUT}): django-q2 would kill the attempt "
        "unrecorded."
    )
# Seconds before each retry after a failed attempt (Svix's schedule: 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h, 10 h); after the last one the delivery has failed.
WEBHOOKS_RETRY_SECONDS = [
    int(value) if value.isdigit() else -1
    for value in env_list(
        "WEBHOOKS_RETRY_SECONDS", ["5", "300", "1800", "7200", "18000", "36000", "36000"]
    )
]
if any(value < 0 for value in WEBHOOKS_RETRY_SECONDS):
    raise ImproperlyConfigured(
        "Environment variable WEBHOOKS_RETRY_SECONDS must be a comma-separated list of whole "
        "seconds, such as 5,300,1800."
    )
# An endpoint whose deliveries have failed for this many days (no success in between) is
# disabled, and the admin says why.
WEBHOOKS_DISABLE_AFTER_DAYS = env_int("WEBHOOKS_DISABLE_AFTER_DAYS", 5, minimum=1)
# The webhook lane looks for new delivery events and due retries this often.
WEBHOOKS_BEAT_SECONDS = env_float("WEBHOOKS_BEAT_SECONDS", 1.0, minimum=0.05)
# Delivery events read per look; deliveries handed to the lane's workers and not yet answered.
WEBHOOKS_DISPATCH_BATCH = env_int("WEBHOOKS_DISPATCH_BATCH", 1000, minimum=1)
WEBHOOKS_IN_FLIGHT = env_int("WEBHOOKS_IN_FLIGHT", 20, minimum=1)
# While the transactional lane sends (or triggers arrive), the webhook lane waits up to this long
# before turning new delivery events into deliveries: webhooks lag behind a burst of sending by
# at most this, and sending keeps the database to itself meanwhile (docs/webhooks.md).
WEBHOOKS_YIELD_MAX_SECONDS = env_float("WEBHOOKS_YIELD_MAX_SECONDS", 10.0, minimum=0.0)
# PostgreSQL makes ids visible out of order: an id below the highest seen is looked for again
# this long (a transaction that recorded an event and commits later) before it counts as
# rolled back.
WEBHOOKS_OUTBOX_LAG_SECONDS = env_int("WEBHOOKS_OUTBOX_LAG_SECONDS", 300, minimum=1)
# The webhook lane's workers run under SCHED_IDLE on Linux (as the bulk lane's), else at nice
# Q_WEBHOOK_NICE: their work never takes CPU the send lanes need; a host kept busy for long
# delays webhooks meanwhile (docs/webhooks.md).
Q_WEBHOOK_SCHED_IDLE = env_bool("Q_WEBHOOK_SCHED_IDLE", True)
Q_WEBHOOK_NICE = env_int("Q_WEBHOOK_NICE", 10, minimum=0)

# --- Files --------------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app folders: no collectstatic step between a checkout and a server.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            # Attachments are never overwritten: two files called invoice.pdf are two objects.
            "file_overwrite": False,
            "default_acl": None,
            # Presigned URLs live at most 7 days on S3.
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 3600, minimum=1),
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
# Defining STORAGES replaces Django's defaults, so staticfiles is named again.
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Locale, auth, logging ----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Admin login throttling (django-axes) ---------------------------------------------------------

# Axes first: it refuses a locked-out login before the password is even checked. The trigger
# API authenticates with its own DRF classes (X-WSSE, Token), which never call these backends.
AUTHENTICATION_BACKENDS = [
    "triggered_email.login_throttling.LoginThrottlingBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins before a lock, counted per username and, separately, per client address: a spray
# across usernames from one address and a distributed attack on one username both stop.
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_CALLABLE = "triggered_email.login_throttling.lockout_response"
# Number of reverse proxies in front of the web server that append to X-Forwarded-For; 0 means
# clients connect directly and REMOTE_ADDR is their address. Too high a number lets clients pick
# their own address (and escape the lock); too low locks out the proxy for everyone.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "triggered_email.login_throttling.client_ip_address"

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
# "json": one JSON object per line, with trigger_id, message_id, stream and lane on every delivery
# line (triggered_email.log_format), for a log pipeline; "plain" (the default) is for people.
TRIGGERED_EMAIL_LOG_FORMAT = env_choice("TRIGGERED_EMAIL_LOG_FORMAT", "plain", {"plain", "json"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"delivery_context": {"()": "triggered_email.log_format.DeliveryContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "triggered_email.log_format.JsonLinesFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": TRIGGERED_EMAIL_LOG_FORMAT,
            "filters": ["delivery_context"],
            "stream": sys.stderr,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django-q": {"level": Q_CLUSTER["log_level"]},
        # aiosmtpd (the local mail catcher) logs every connection at INFO.
        "mail.log": {"level": "WARNING"},
        # django-axes announces its configuration at INFO in every process and command.
        "axes": {"level": "WARNING"},
    },
}

# --- Operations: metrics, health, retention (issue 24) -------------------------------------------

# /metrics answers a scraper that sends `Authorization: Bearer <token>` or connects from one of
# the allowed networks (CIDR, REMOTE_ADDR); anyone else gets 401/403. Neither set: nobody.
TRIGGERED_EMAIL_METRICS_TOKEN = env_str("TRIGGERED_EMAIL_METRICS_TOKEN")
TRIGGERED_EMAIL_METRICS_NETWORKS = env_list("TRIGGERED_EMAIL_METRICS_NETWORKS", [])
try:
    import ipaddress as _ipaddress

    for _network in TRIGGERED_EMAIL_METRICS_NETWORKS:
        _ipaddress.ip_network(_network, strict=False)
except ValueError as _exc:
    raise ImproperlyConfigured(
        f"Environment variable TRIGGERED_EMAIL_METRICS_NETWORKS is invalid: {_exc} (give "
        "comma-separated networks such as 10.0.0.0/8, 127.0.0.1)."
    ) from _exc
if TRIGGERED_EMAIL_METRICS_TOKEN and len(TRIGGERED_EMAIL_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "Environment variable TRIGGERED_EMAIL_METRICS_TOKEN is too short: use at least 16 random "
        "characters."
    )
# /readyz: a lane whose workers have not beaten for this long counts as down.
TRIGGERED_EMAIL_LANE_SILENT_SECONDS = env_int("TRIGGERED_EMAIL_LANE_SILENT_SECONDS", 60, minimum=5)
# How often each lane worker records that it is alive (delivery.heartbeats).
TRIGGERED_EMAIL_HEARTBEAT_SECONDS = env_float(
    "TRIGGERED_EMAIL_HEARTBEAT_SECONDS", 10.0, minimum=0.0
)
# /readyz: the oldest queued transactional message may wait this long before the app is unready.
TRIGGERED_EMAIL_READY_MAX_QUEUED_AGE_SECONDS = env_int(
    "TRIGGERED_EMAIL_READY_MAX_QUEUED_AGE_SECONDS", 120, minimum=1
)
# Days a new stream keeps its messages, events and attachments (each stream can change it).
TRIGGERED_EMAIL_RETENTION_DAYS = env_int("TRIGGERED_EMAIL_RETENTION_DAYS", 90, minimum=1)
# Messages deleted per transaction by the purge: small, so no lock is held for long and a
# trigger meets at most a short burst of deletes (500 raised single-trigger p99 1.6-1.8-fold
# under a steady 20 a second, 100 by 1.2; docs/monitoring.md, "Purge under load").
TRIGGERED_EMAIL_PURGE_BATCH = env_int("TRIGGERED_EMAIL_PURGE_BATCH", 100, minimum=1)
# A pause between batches leaves the database to the lanes (seconds).
TRIGGERED_EMAIL_PURGE_PAUSE_SECONDS = env_float(
    "TRIGGERED_EMAIL_PURGE_PAUSE_SECONDS", 0.05, minimum=0.0
)

# --- Deliverability dashboard (issue 4) ---------------------------------------------------------

# A stream whose bounce or complaint rate (per sent message, in the range shown) is above these
# is flagged on the dashboard. Mailbox providers start filtering at about 0.3 % complaints.
DASHBOARD_BOUNCE_RATE_THRESHOLD = env_float("DASHBOARD_BOUNCE_RATE_THRESHOLD", 0.05, minimum=0)
DASHBOARD_COMPLAINT_RATE_THRESHOLD = env_float(
    "DASHBOARD_COMPLAINT_RATE_THRESHOLD", 0.003, minimum=0
)

# The message log's partial searches (part of an address, a value inside the trigger data) read
# the newest this many messages only: no index serves them, so they are bounded instead of
# scanning millions of rows. Exact searches (address, trigger id, Message-ID) cover everything.
MESSAGE_LOG_PARTIAL_SEARCH_ROWS = env_int("MESSAGE_LOG_PARTIAL_SEARCH_ROWS", 200_000, minimum=1)
