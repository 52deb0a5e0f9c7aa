"""Django settings for Meva, read from the environment (django-environ).

Every variable is listed, with one comment each, in ``.env.example`` and the README's
configuration table. Defaults are the embedded ones (SQLite file, no Redis) and every safety
default blocks live side effects (DESIGN.md section 4). A malformed value raises
``ImproperlyConfigured`` naming the variable, which stops start-up.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from meva.envconfig import StrictEnv
from trading.domain.bounds import risk_limits_problems
from trading.domain.risk import RiskLimits
from trading.domain.symbols import SymbolError, parse_symbol
from trading.exchange.btcturk.auth import decode_secret
from trading.exchange.errors import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"
if ENV_FILE.exists():
    environ.Env.read_env(str(ENV_FILE))

env = StrictEnv()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
# Off unless asked for (make admin turns it on for the development server); never with live trading.
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in env.str("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

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
    "django_celery_beat",
    "trading",
    "ledger",
    "replay",
    "api",
]
# `batch`: only the apps whose models the batch commands (backtest, backtest_sweep,
# import_dataset) use; manage.py starts those commands so (meva.startup.BATCH_COMMANDS).
# Importing the admin, the API and Celery's scheduler cost each of them about 0.2 s of
# start-up for nothing. No migrations run in a batch process.
BATCH_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "trading", "ledger", "replay"]
APP_SET = env.choice("MEVA_APP_SET", "all", ("all", "batch"))
if APP_SET == "batch":
    INSTALLED_APPS = BATCH_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # static files (the admin's, the console's vendored Chart.js) from gunicorn, no web server
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # a NUL (%00) in the path or query is a 400 before any lookup (PostgreSQL cannot hold it)
    "meva.middleware.RejectNulCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "meva.urls"
WSGI_APPLICATION = "meva.wsgi.application"

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

# --- database: SQLite file by default, DATABASE_URL selects PostgreSQL -------------------
DEFAULT_SQLITE = f"sqlite:///{BASE_DIR / 'var' / 'meva.sqlite3'}"
DATABASES = {"default": env.db_url("DATABASE_URL", DEFAULT_SQLITE)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Write-ahead log: readers (web, API) do not block the writer (worker, beat) and a commit
    # appends to the log with one fsync instead of a rollback journal's several (about 0.2
    # instead of 4 ms a commit here); synchronous=FULL keeps every commit durable, since an
    # order's row commits before its exchange call. An init_command in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "init_command", "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL"
    )
    # A writer waits up to 30 s for another's transaction (a backtest's result rows, a sweep
    # worker's) instead of Python's default 5 s before "database is locked".
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 30)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Celery ------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Installed into the database schedule when beat starts; editable in the admin afterwards.
CELERY_BEAT_SCHEDULE = {
    # beat's liveness: a worker records each one (manage.py healthcheck beat reads its age)
    "beat-heartbeat": {"task": "trading.beat_heartbeat", "schedule": 15.0},
    # cycles and backtests left running by a dead process become failed (INTERRUPTED)
    "stale-work-sweep": {"task": "trading.stale_work_sweep", "schedule": 300.0},
    "instruments-sync-hourly": {"task": "trading.instruments_sync", "schedule": 3600.0},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
TRADING_DAY_TIME_ZONE = "Europe/Istanbul"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Project-wide static files: vendored front-end libraries from the npm registry (README "Static
# files"), never a CDN.
STATICFILES_DIRS = [BASE_DIR / "meva" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # compressed copies at collectstatic; no manifest, so pages render before collectstatic
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Reports API (/api/v1/, README "API"): token (``Authorization: Token ...``, the first scheme,
# so a missing credential is a 401) or session; staff only unless a view says otherwise.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Meva API",
    "DESCRIPTION": "Reports and operator controls of Meva (README, section API).",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from this host (drf-spectacular-sidecar's static files), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "trading.domain.orders.OrderStatus",
        "CycleStatusEnum": "trading.models.orders.CycleStatus",
        "RunStatusEnum": "replay.models.RunStatus",
        "CycleModeEnum": "trading.models.orders.CycleMode",
    },
}

# --- safety gate (DESIGN.md section 4); every default blocks -----------------------------
DRY_RUN = env.bool("DRY_RUN", True)
KILL_SWITCH = env.bool("KILL_SWITCH", True)
LIVE_TRADING = env.bool("LIVE_TRADING", False)
LIVE_TRADING_ACK = env.str("LIVE_TRADING_ACK", "")
if DEBUG and LIVE_TRADING:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG=true with LIVE_TRADING=true: debug pages show internals; turn one off"
    )
BTCTURK_API_KEY = env.str("BTCTURK_API_KEY", "")
BTCTURK_API_SECRET = env.str("BTCTURK_API_SECRET", "")
if BTCTURK_API_SECRET:  # a secret that is not base64 stops start-up (the value is never shown)
    try:
        decode_secret(BTCTURK_API_SECRET)
    except ConfigurationError as _exc:
        raise ImproperlyConfigured(str(_exc)) from None
# The key's permissions as shown on BTCTurk's API Access page; BTCTurk has no endpoint that
# reports them. "withdraw" here blocks live trading; empty = unknown (doctor warns).
BTCTURK_API_PERMISSIONS = env.csv(
    "BTCTURK_API_PERMISSIONS", "", choices=("funds", "trade", "account", "websocket", "withdraw")
)
# Symbols the live and paper cycles trade (BASE_QUOTE); doctor checks their exchange rules.
# Cycle clock of paper and live accounts: "wall" (this host's clock, the default) or
# "exchange" (the newest ticker time the venue reports: for the sandbox exchange, whose market
# runs on replay time). Either is floored to the account's bar interval.
TRADING_CLOCK = env.choice("TRADING_CLOCK", "wall", ("wall", "exchange"))
# Reconciliation: an order still UNKNOWN after this many probes raises an alert and puts its
# account in OBSERVE_ONLY; a ledger balance further than this from the exchange's (in units of
# the asset) raises a drift alert and switches the account to REDUCE_RISK_ONLY.
RECONCILE_MAX_PROBES = env.int("RECONCILE_MAX_PROBES", 5, minimum=1)
# An order whose answer was lost and that the exchange's open and all-orders lists still lack at
# this many probes, sent at least this long ago, was never accepted: REJECTED (NOT_FOUND).
# A running backtest whose heartbeat (each progress write) is older than this is swept to failed.
BACKTEST_STALE_AFTER_S = env.int("BACKTEST_STALE_AFTER_S", 1800, minimum=60)
RECONCILE_ABSENT_PROBES = env.int("RECONCILE_ABSENT_PROBES", 3, minimum=1)
RECONCILE_ABSENT_MIN_AGE_S = env.decimal("RECONCILE_ABSENT_MIN_AGE_S", "30", minimum=Decimal(0))
# Seconds between the in-cycle re-probes of an order whose submit answer was lost.
RECONCILE_PROBE_DELAYS_S = env.decimals("RECONCILE_PROBE_DELAYS_S", "1,2,4", maximum=Decimal(30))
BALANCE_DRIFT_TOLERANCE = env.decimal("BALANCE_DRIFT_TOLERANCE", "0.00000001")
TRADING_SYMBOLS = env.csv("TRADING_SYMBOLS", "BTC_TRY,ETH_TRY,USDT_TRY,AVAX_TRY")
for _symbol in TRADING_SYMBOLS:
    try:
        parse_symbol(_symbol)
    except SymbolError as _exc:
        raise ImproperlyConfigured(f"TRADING_SYMBOLS: {_exc}") from None

# --- BTCTurk endpoints (reference/btcturk_api.md section 1); point all three at the sandbox
# exchange (``manage.py sandbox_exchange``) for offline paper trading and demos ------------
BTCTURK_BASE_URL = env.url("BTCTURK_BASE_URL", "https://api.btcturk.com", schemes=("https", "http"))
BTCTURK_GRAPH_URL = env.url(
    "BTCTURK_GRAPH_URL", "https://graph-api.btcturk.com", schemes=("https", "http")
)
BTCTURK_WS_URL = env.url("BTCTURK_WS_URL", "wss://ws-feed-pro.btcturk.com", schemes=("wss", "ws"))
BTCTURK_TIMEOUT_SECONDS = env.decimal("BTCTURK_TIMEOUT_SECONDS", "10", minimum=Decimal("0.1"))
if RECONCILE_ABSENT_MIN_AGE_S <= BTCTURK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"RECONCILE_ABSENT_MIN_AGE_S={RECONCILE_ABSENT_MIN_AGE_S} must exceed "
        f"BTCTURK_TIMEOUT_SECONDS={BTCTURK_TIMEOUT_SECONDS}: an answer may still be on its way"
    )
# Top of book for paper and live cycles from the public websocket feed on BTCTURK_WS_URL when
# it is fresh (received within MARKET_WS_MAX_AGE_SECONDS), REST tickers otherwise. The feed
# starts with the first cycle of a process and never delays one: until it is connected, and
# whenever it is down or stale, REST answers (trading.services.market_feed).
MARKET_WS_ENABLED = env.bool("MARKET_WS_ENABLED", True)
MARKET_WS_MAX_AGE_SECONDS = env.decimal("MARKET_WS_MAX_AGE_SECONDS", "10", minimum=Decimal("0.1"))

# --- risk limits (quote currency or fractions of equity); read by trading.services.risk ---
RISK_CASH_RESERVE_PCT = env.decimal("RISK_CASH_RESERVE_PCT", "0.05", maximum=Decimal(1))
RISK_MAX_ORDER_PCT = env.decimal("RISK_MAX_ORDER_PCT", "0.10", maximum=Decimal(1))
RISK_MAX_CYCLE_PCT = env.decimal("RISK_MAX_CYCLE_PCT", "0.20", maximum=Decimal(1))
RISK_MAX_POSITION_PCT = env.decimal("RISK_MAX_POSITION_PCT", "0.25", maximum=Decimal(1))
RISK_MAX_ORDER_NOTIONAL = env.decimal("RISK_MAX_ORDER_NOTIONAL", "10000")
RISK_MAX_CYCLE_NOTIONAL = env.decimal("RISK_MAX_CYCLE_NOTIONAL", "20000")
RISK_MAX_POSITION_NOTIONAL = env.decimal("RISK_MAX_POSITION_NOTIONAL", "25000")
RISK_MAX_ORDERS_PER_CYCLE = env.int("RISK_MAX_ORDERS_PER_CYCLE", 4, minimum=1)
RISK_COOLDOWN_SECONDS = env.int("RISK_COOLDOWN_SECONDS", 300)
RISK_REDUCE_DRAWDOWN_PCT = env.decimal("RISK_REDUCE_DRAWDOWN_PCT", "0.10", maximum=Decimal(1))
RISK_OBSERVE_DRAWDOWN_PCT = env.decimal("RISK_OBSERVE_DRAWDOWN_PCT", "0.20", maximum=Decimal(1))
RISK_DAILY_LOSS_PCT = env.decimal("RISK_DAILY_LOSS_PCT", "0.05", maximum=Decimal(1))
RISK_MAX_DATA_AGE_SECONDS = env.int("RISK_MAX_DATA_AGE_SECONDS", 900, minimum=1)
# The same validator as risk overrides, account forms and flags (trading.domain.bounds), field
# by field and across fields, so a setting accepts exactly what a flag or a form would.
_risk_problems = risk_limits_problems(
    RiskLimits(
        cash_reserve_pct=RISK_CASH_RESERVE_PCT,
        max_order_pct=RISK_MAX_ORDER_PCT,
        max_cycle_pct=RISK_MAX_CYCLE_PCT,
        max_position_pct=RISK_MAX_POSITION_PCT,
        max_order_notional=RISK_MAX_ORDER_NOTIONAL,
        max_cycle_notional=RISK_MAX_CYCLE_NOTIONAL,
        max_position_notional=RISK_MAX_POSITION_NOTIONAL,
        max_orders_per_cycle=RISK_MAX_ORDERS_PER_CYCLE,
        cooldown_ms=RISK_COOLDOWN_SECONDS * 1000,
        reduce_drawdown_pct=RISK_REDUCE_DRAWDOWN_PCT,
        observe_drawdown_pct=RISK_OBSERVE_DRAWDOWN_PCT,
        daily_loss_pct=RISK_DAILY_LOSS_PCT,
        max_data_age_ms=RISK_MAX_DATA_AGE_SECONDS * 1000,
    ),
    {
        "cash_reserve_pct": "RISK_CASH_RESERVE_PCT",
        "max_order_pct": "RISK_MAX_ORDER_PCT",
        "max_cycle_pct": "RISK_MAX_CYCLE_PCT",
        "max_position_pct": "RISK_MAX_POSITION_PCT",
        "max_order_notional": "RISK_MAX_ORDER_NOTIONAL",
        "max_cycle_notional": "RISK_MAX_CYCLE_NOTIONAL",
        "max_position_notional": "RISK_MAX_POSITION_NOTIONAL",
        "max_orders_per_cycle": "RISK_MAX_ORDERS_PER_CYCLE",
        "cooldown_ms": "RISK_COOLDOWN_SECONDS (as ms)",
        "reduce_drawdown_pct": "RISK_REDUCE_DRAWDOWN_PCT",
        "observe_drawdown_pct": "RISK_OBSERVE_DRAWDOWN_PCT",
        "daily_loss_pct": "RISK_DAILY_LOSS_PCT",
        "max_data_age_ms": "RISK_MAX_DATA_AGE_SECONDS (as ms)",
    },
)
if _risk_problems:
    raise ImproperlyConfigured("; ".join(_risk_problems))

# --- backtest defaults (each overridable on the command line) ----------------------------
# parsed dataset candle tables, by the sha256 of their CSV (replay.domain.table_cache): a
# backtest reads them back instead of parsing CSV again; empty = no cache
DATASET_CACHE_DIR = env.str("DATASET_CACHE_DIR", "var/cache/datasets")
if DATASET_CACHE_DIR:  # a relative path is under the project directory, whatever the cwd
    DATASET_CACHE_DIR = str(BASE_DIR / DATASET_CACHE_DIR)
BACKTEST_FEE_MAKER_BPS = env.bounded("BACKTEST_FEE_MAKER_BPS", "10", "fee_maker_bps")
BACKTEST_FEE_TAKER_BPS = env.bounded("BACKTEST_FEE_TAKER_BPS", "20", "fee_taker_bps")
BACKTEST_MAX_VOLUME_SHARE = env.bounded("BACKTEST_MAX_VOLUME_SHARE", "0.10", "max_volume_share")

# --- observability and alerts (README "Observability and alerts") ------------------------
# /metrics: served to loopback callers (unless METRICS_ALLOW_LOOPBACK is off, e.g. behind a
# reverse proxy on this host) and to "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
METRICS_ALLOW_LOOPBACK = env.bool("METRICS_ALLOW_LOOPBACK", True)
# Read by prometheus_client itself from the environment: a directory every process (Celery
# prefork children included) writes its metrics to, summed by /metrics. Created if missing;
# empty it before the processes start.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Alert delivery: POST each new alert (and a rise in severity) to ALERT_WEBHOOK_URL, as Meva's
# JSON or a Telegram Bot API sendMessage body; no URL = no delivery.
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", "")
if ALERT_WEBHOOK_URL and (
    urlsplit(ALERT_WEBHOOK_URL).scheme not in ("https", "http")
    or not urlsplit(ALERT_WEBHOOK_URL).netloc
):  # the value is not shown: it may hold a token
    raise ImproperlyConfigured("ALERT_WEBHOOK_URL= is not an http:// or https:// URL")
ALERT_WEBHOOK_FORMAT = env.choice("ALERT_WEBHOOK_FORMAT", "json", ("json", "telegram"))
ALERT_TELEGRAM_CHAT_ID = env.str("ALERT_TELEGRAM_CHAT_ID", "")
if ALERT_WEBHOOK_URL and ALERT_WEBHOOK_FORMAT == "telegram" and not ALERT_TELEGRAM_CHAT_ID:
    raise ImproperlyConfigured(
        "ALERT_TELEGRAM_CHAT_ID= is required with ALERT_WEBHOOK_FORMAT=telegram"
    )
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.decimal(
    "ALERT_WEBHOOK_TIMEOUT_SECONDS", "5", minimum=Decimal("0.1"), maximum=Decimal(60)
)
ALERT_WEBHOOK_MAX_ATTEMPTS = env.int("ALERT_WEBHOOK_MAX_ATTEMPTS", 5, minimum=1)
ALERT_DELIVERY_KINDS = env.csv("ALERT_DELIVERY_KINDS", "")
ALERT_DELIVERY_DISABLED_KINDS = env.csv("ALERT_DELIVERY_DISABLED_KINDS", "")
ALERT_DELIVERY_MIN_SEVERITY = env.choice(
    "ALERT_DELIVERY_MIN_SEVERITY", "info", ("info", "warning", "critical")
)
# Alert rules evaluated at each cycle's end (trading.services.alert_rules).
ALERT_REJECT_SPIKE_COUNT = env.int("ALERT_REJECT_SPIKE_COUNT", 3, minimum=1)
ALERT_REJECT_SPIKE_WINDOW_SECONDS = env.int("ALERT_REJECT_SPIKE_WINDOW_SECONDS", 900, minimum=1)
ALERT_CYCLE_FAILURES = env.int("ALERT_CYCLE_FAILURES", 3, minimum=1)
ALERT_CLOCK_SKEW_MS = env.int("ALERT_CLOCK_SKEW_MS", 2000, minimum=1)
# At the periodic reconciliation: an enabled account without a completed cycle for this many
# cycle intervals raises CYCLES_STALLED.
ALERT_CYCLE_STALL_INTERVALS = env.int("ALERT_CYCLE_STALL_INTERVALS", 5, minimum=2)

LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
# Django's error pages and reports without secrets (settings, frame locals, messages).
DEFAULT_EXCEPTION_REPORTER = "meva.error_reporting.RedactingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "meva.error_reporting.ExceptionReporterFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "meva.logging.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        # one INFO line per HTTP request is noise; the exchange client logs what matters
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
