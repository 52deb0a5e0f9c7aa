"""What the exchange clients report about themselves: request latency and errors, rate-limit
waits and websocket quote ages (README "Observability and alerts").

The REST transport, the rate limiter and the market feed call the ``*_observed`` hooks here.
Each hook feeds the Prometheus metrics defined here (served by :mod:`meva.metrics`) and, when a cycle is collecting
(:func:`exchange_stats_collect`, a context variable, so only the calls made by the collecting
thread count), that cycle's :class:`ExchangeStats`. :func:`last_ok_at` is the time of the last
successful request of this process. Hooks never raise.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

# Seconds; the exchange's metrics (served by meva.metrics' /metrics).
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
EXCHANGE_REQUEST_SECONDS = Histogram(
    "meva_exchange_request_seconds",
    "BTCTurk REST request latency (one HTTP exchange, retries counted separately), seconds",
    ["endpoint"],
    buckets=REQUEST_BUCKETS,
)
EXCHANGE_ERRORS = Counter(
    "meva_exchange_errors",
    "Failed BTCTurk REST requests by endpoint and code (BTCTurk code, http_<status> or the "
    "error class)",
    ["endpoint", "code"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "meva_rate_limit_wait_seconds",
    "Time spent waiting for client-side rate-limit tokens, seconds",
    ["rule"],
)


@dataclass(slots=True)
class ExchangeStats:
    """One cycle's exchange traffic: HTTP ``requests`` sent and ``errors`` among them,
    ``rate_limit_wait_s`` seconds spent waiting for tokens, ``ws_age_s`` the oldest websocket
    quote used (seconds; ``None`` when none was used)."""

    requests: int = 0
    errors: int = 0
    rate_limit_wait_s: float = 0.0
    ws_age_s: float | None = None


_current: ContextVar[ExchangeStats | None] = ContextVar("meva_exchange_stats", default=None)
_last_ok_s: float | None = None
_guard = threading.Lock()


@contextmanager
def exchange_stats_collect() -> Iterator[ExchangeStats]:
    """Count this thread's exchange traffic into a fresh :class:`ExchangeStats` until exit."""
    stats = ExchangeStats()
    token = _current.set(stats)
    try:
        yield stats
    finally:
        _current.reset(token)


def error_code(error: BaseException) -> str:
    """A bounded label for a failed request: BTCTurk's numeric code (not 0), else
    ``http_<status>``, else the error's class name (``RetryableError`` for a timeout)."""
    code = getattr(error, "code", None)
    if code:  # BTCTurk's envelope says 0 when it has no specific code
        return str(code)
    status = getattr(error, "http_status", None)
    if status is not None:
        return f"http_{status}"
    return type(error).__name__


def request_observed(endpoint: str, seconds: float, error: BaseException | None) -> None:
    """One HTTP exchange with ``endpoint`` (``"GET /api/v2/ticker"``) that took ``seconds``;
    ``error`` is what it raised (``None``: it succeeded)."""
    global _last_ok_s
    try:
        EXCHANGE_REQUEST_SECONDS.labels(endpoint).observe(seconds)
        stats = _current.get()
        if stats is not None:
            stats.requests += 1
        if error is None:
            with _guard:
                _last_ok_s = time.time()
            return
        EXCHANGE_ERRORS.labels(endpoint, error_code(error)).inc()
        if stats is not None:
            stats.errors += 1
    except Exception:  # telemetry must never break a request
        logger.debug("request telemetry failed", exc_info=True)


@contextmanager
def request_timed(endpoint: str) -> Iterator[None]:
    """Time the block as one HTTP exchange with ``endpoint`` (:func:`request_observed`);
    what it raises is recorded and re-raised."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        request_observed(endpoint, time.perf_counter() - started, exc)
        raise
    request_observed(endpoint, time.perf_counter() - started, None)


def rate_limit_waited(rule: str, seconds: float) -> None:
    """The rate limiter is about to sleep ``seconds`` for a token of ``rule``."""
    try:
        RATE_LIMIT_WAIT_SECONDS.labels(rule).inc(max(0.0, seconds))
        stats = _current.get()
        if stats is not None:
            stats.rate_limit_wait_s += max(0.0, seconds)
    except Exception:
        logger.debug("rate limit telemetry failed", exc_info=True)


def ws_quotes_used(ages_s: Iterable[float]) -> None:
    """The cycle uses websocket quotes of these ages (seconds)."""
    stats = _current.get()
    ages = list(ages_s)
    if stats is None or not ages:
        return
    oldest = max(ages)
    stats.ws_age_s = oldest if stats.ws_age_s is None else max(stats.ws_age_s, oldest)


def last_ok_at() -> datetime | None:
    """When a request of this process last succeeded (UTC), ``None`` if none has."""
    with _guard:
        seconds = _last_ok_s
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def _forget_after_fork() -> None:
    # A forked child (Celery prefork) has made no request yet, and must not inherit a held lock.
    global _guard, _last_ok_s
    _guard = threading.Lock()
    _last_ok_s = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
