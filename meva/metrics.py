"""Prometheus metrics of Meva and the protected ``/metrics`` endpoint (README "Observability").

Two sources make up a scrape:

- **Events counted in the process that saw them** (workers, the web process, commands): cycle
  step durations, cycles by status, exchange request latency and errors, rate-limit waits,
  lock skips and lost locks, balance drift, the measured clock offset, alert deliveries.
  They are prometheus_client metrics defined here. With ``PROMETHEUS_MULTIPROC_DIR`` set (the
  environment variable prometheus_client reads when it is first imported; it must name an
  existing, writable directory, emptied before the processes start) every process, Celery
  prefork children included, writes its values to files there and the web process serves the
  sum over all of them (:class:`~prometheus_client.multiprocess.MultiProcessCollector`).
  Without it each process keeps its own values and ``/metrics`` shows the web process's.
- **State read from the database at scrape time** (:class:`DatabaseCollector`): orders by
  account and status, rejected orders by BTCTurk code, ``UNKNOWN`` orders (and those past
  ``RECONCILE_MAX_PROBES``), each account's risk mode, the time of its last completed cycle,
  open alerts by kind and severity. Always current, whichever process did the work.

Access (:func:`metrics_view`): a request from loopback (``127.0.0.1``/``::1``, when
``METRICS_ALLOW_LOOPBACK`` is on) or one carrying ``Authorization: Bearer <METRICS_TOKEN>``;
anything else gets 403 (no token configured) or 401 (wrong or missing token). Behind a reverse
proxy on the same host every request comes from loopback: turn ``METRICS_ALLOW_LOOPBACK`` off
and set a token there.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

# The exchange clients' metrics are defined next to their hooks (importing this package would
# start Celery's app in a plain exchange client); re-exported here.
from trading.exchange.telemetry import (  # noqa: F401
    EXCHANGE_ERRORS,
    EXCHANGE_REQUEST_SECONDS,
    RATE_LIMIT_WAIT_SECONDS,
)

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds; a cycle step spans a few ms (plan) to tens of seconds (re-probes).
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

CYCLE_STEP_SECONDS = Histogram(
    "meva_cycle_step_seconds",
    "Duration of a cycle step (Cycle.timings_ms; step 'total' is the whole cycle), seconds",
    ["account", "step"],
    buckets=STEP_BUCKETS,
)
CYCLES = Counter("meva_cycles", "Cycles ended, by account and status", ["account", "status"])
LOCK_SKIPS = Counter(
    "meva_lock_skips", "Work skipped because its single-flight lock was busy", ["lock"]
)
LOCK_LOST = Counter(
    "meva_lock_lost", "Locks found lost while the work ran (extend failed or not owned)", ["lock"]
)
BALANCE_DRIFT = Gauge(
    "meva_balance_drift",
    "Exchange minus ledger balance at the last balance check, asset units",
    ["account", "asset"],
    multiprocess_mode="mostrecent",
)
CLOCK_OFFSET_SECONDS = Gauge(
    "meva_exchange_clock_offset_seconds",
    "Offset of BTCTurk's clock to this host's (server - local) at the last cycle, seconds",
    ["account"],
    multiprocess_mode="mostrecent",
)
ALERT_DELIVERIES = Counter(
    "meva_alert_deliveries",
    "Alert webhook deliveries by kind and outcome (sent, retry, failed, disabled)",
    ["kind", "outcome"],
)


def multiprocess_dir() -> str:
    """The multiprocess directory in use, ``""`` when each process keeps its own values."""
    return os.environ.get(MULTIPROC_ENV, "")


class DatabaseCollector:
    """Metrics read from the database at scrape time (module docstring); one query each.
    ``meva_database_up`` is 1 when they could be read, 0 (and the error logged) when not: a
    database outage shows in the scrape instead of failing it."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("meva_database_up", "1 if the database metrics could be read")
        try:
            families = list(self._families())
        except Exception:
            logger.exception("reading the database metrics failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        from django.conf import settings
        from django.db.models import Count, Max

        from trading.domain.orders import OrderStatus
        from trading.models import Account, Alert, Cycle, CycleStatus, Order

        orders = GaugeMetricFamily(
            "meva_orders", "Order rows by account and status", labels=["account", "status"]
        )
        for row in Order.objects.values("account", "status").annotate(n=Count("id")):
            orders.add_metric([row["account"], row["status"]], row["n"])
        yield orders

        rejects = CounterMetricFamily(
            "meva_order_rejects",
            "Rejected orders by account and reject code (BTCTurk's code, or ours)",
            labels=["account", "code"],
        )
        rejected = Order.objects.filter(status=OrderStatus.REJECTED.value)
        for row in rejected.values("account", "reject_code").annotate(n=Count("id")):
            rejects.add_metric([row["account"], row["reject_code"] or "unknown"], row["n"])
        yield rejects

        unknown = GaugeMetricFamily(
            "meva_orders_unknown",
            "Orders in UNKNOWN (outcome of a send not known)",
            labels=["account"],
        )
        escalated = GaugeMetricFamily(
            "meva_orders_unknown_escalated",
            "UNKNOWN orders past RECONCILE_MAX_PROBES (the account observes only)",
            labels=["account"],
        )
        unknown_rows = Order.objects.filter(status=OrderStatus.UNKNOWN.value)
        for row in unknown_rows.values("account").annotate(n=Count("id")):
            unknown.add_metric([row["account"]], row["n"])
        past = unknown_rows.filter(probe_count__gte=settings.RECONCILE_MAX_PROBES)
        for row in past.values("account").annotate(n=Count("id")):
            escalated.add_metric([row["account"]], row["n"])
        yield unknown
        yield escalated

        modes = GaugeMetricFamily(
            "meva_risk_mode",
            "1 for each account's current risk mode (NORMAL, REDUCE_RISK_ONLY, OBSERVE_ONLY)",
            labels=["account", "mode"],
        )
        enabled = GaugeMetricFamily(
            "meva_account_enabled", "1 if beat runs the account", labels=["account"]
        )
        accounts = list(Account.objects.values_list("name", "enabled", "risk_state"))
        for name, is_enabled, state in accounts:
            current = (state or {}).get("mode") or "NORMAL"
            for mode in ("NORMAL", "REDUCE_RISK_ONLY", "OBSERVE_ONLY"):
                modes.add_metric([name, mode], 1 if mode == current else 0)
            enabled.add_metric([name], 1 if is_enabled else 0)
        yield modes
        yield enabled

        last = GaugeMetricFamily(
            "meva_last_successful_cycle_timestamp_seconds",
            "When each account's last completed cycle finished, epoch seconds",
            labels=["account"],
        )
        done = Cycle.objects.filter(status=CycleStatus.COMPLETED, finished_at__isnull=False)
        for row in done.values("account").annotate(at=Max("finished_at")):
            last.add_metric([row["account"]], row["at"].timestamp())
        yield last

        alerts = GaugeMetricFamily(
            "meva_alerts_open", "Open (unacknowledged) alerts", labels=["kind", "severity"]
        )
        open_alerts = Alert.objects.filter(acknowledged_at__isnull=True)
        for row in open_alerts.values("kind", "severity").annotate(n=Count("id")):
            alerts.add_metric([row["kind"], row["severity"]], row["n"])
        yield alerts


class _Union:
    """A collector over other collectors (the process registry and the database)."""

    def __init__(self, *sources: object) -> None:
        self._sources = sources

    def collect(self) -> Iterable[Metric]:
        for source in self._sources:
            yield from source.collect()


def metrics_registry() -> CollectorRegistry:
    """A registry for one scrape: every process's events (multiprocess directory) or this
    process's (:data:`~prometheus_client.REGISTRY`), plus :class:`DatabaseCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
        registry.register(DatabaseCollector())
    else:
        registry.register(_Union(REGISTRY, DatabaseCollector()))
    return registry


def metrics_text() -> bytes:
    """The Prometheus text exposition of :func:`metrics_registry`."""
    return generate_latest(metrics_registry())


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_access(request: object) -> int:
    """HTTP status deciding a scrape: 200 allowed, 401 bad or missing token, 403 refused
    (module docstring)."""
    from django.conf import settings

    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        given = header.removeprefix("Bearer ").strip()
        return 200 if hmac.compare_digest(given.encode(), token.encode()) else 401
    if settings.METRICS_ALLOW_LOOPBACK and _loopback(request.META.get("REMOTE_ADDR", "")):
        return 200
    return 401 if token else 403


def metrics_view(request):
    """``GET /metrics``: the text exposition (:func:`metrics_text`) to an allowed caller."""
    from django.http import HttpResponse

    status = metrics_access(request)
    if status != 200:
        response = HttpResponse("metrics: not allowed\n", status=status, content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


def _urlpatterns() -> list:
    from django.urls import path

    return [path("", metrics_view, name="metrics")]


# meva/urls.py mounts this module: path("metrics", include("meva.metrics")).
urlpatterns = _urlpatterns()
