"""The end of a cycle, observed: the exchange's health on the ``Cycle`` row, metrics and the
alert rules (README "Observability and alerts").

:func:`cycle_end_observe` is the one hook the cycle service calls when a cycle that held its
lock ends (completed, failed, or skipped because its clock had not advanced). It never raises:
observing a cycle must not change what the cycle did.
"""

from __future__ import annotations

import logging

from trading.exchange.btcturk.auth import ServerClock
from trading.exchange.telemetry import ExchangeStats, last_ok_at
from trading.models import Cycle
from trading.services.alert_rules import cycle_rules_evaluate

logger = logging.getLogger(__name__)


def _server_clock(ports: object) -> ServerClock | None:
    for port in (getattr(ports, "orders", None), getattr(ports, "market", None)):
        try:
            clock = getattr(port, "clock", None)
        except Exception:  # a port proxy without it
            clock = None
        if isinstance(clock, ServerClock):
            return clock
    return None


def cycle_health(*, ports: object, stats: ExchangeStats) -> dict[str, object]:
    """``Cycle.health`` (keys fixed, read by the console): ``clock_offset_ms`` (int, server -
    local, ``None`` when the client never measured it: no signed call yet, or a paper account),
    ``last_ok_at`` (ISO 8601 UTC of this process's last successful exchange request, ``None``
    if none), ``ws_age_s`` (seconds, the oldest websocket quote the cycle used, ``None`` when
    it used none), ``rate_limit_wait_ms`` (ms waited for rate-limit tokens), ``requests`` and
    ``errors`` (HTTP requests to the exchange during the cycle, and the failed ones)."""
    clock = _server_clock(ports)
    ok = last_ok_at()
    return {
        "clock_offset_ms": clock.offset_ms if clock is not None and clock.measured else None,
        "last_ok_at": None if ok is None else ok.isoformat().replace("+00:00", "Z"),
        "ws_age_s": None if stats.ws_age_s is None else round(stats.ws_age_s, 3),
        "rate_limit_wait_ms": round(stats.rate_limit_wait_s * 1000, 3),
        "requests": stats.requests,
        "errors": stats.errors,
    }


def _metrics(cycle: Cycle, health: dict[str, object]) -> None:
    from meva.metrics import CLOCK_OFFSET_SECONDS, CYCLE_STEP_SECONDS, CYCLES

    CYCLES.labels(cycle.account, str(cycle.status)).inc()
    for step, ms in sorted((cycle.timings_ms or {}).items()):
        CYCLE_STEP_SECONDS.labels(cycle.account, step).observe(float(ms) / 1000)
    if cycle.started_at and cycle.finished_at:
        total = (cycle.finished_at - cycle.started_at).total_seconds()
        CYCLE_STEP_SECONDS.labels(cycle.account, "total").observe(max(0.0, total))
    if health["clock_offset_ms"] is not None:
        CLOCK_OFFSET_SECONDS.labels(cycle.account).set(health["clock_offset_ms"] / 1000)


def cycle_end_observe(
    *, cycle: Cycle, ports: object, stats: ExchangeStats, lease: object, actor: str
) -> None:
    """At the end of ``cycle`` (its row; refreshed here): write ``health``
    (:func:`cycle_health`), count the cycle and its step timings, then evaluate the cycle-end
    alert rules (:func:`~trading.services.alert_rules.cycle_rules_evaluate`) with whether
    ``lease`` (its ``cycle_run`` lock) is still owned. Logs and swallows any error."""
    try:
        health = cycle_health(ports=ports, stats=stats)
        Cycle.objects.filter(pk=cycle.pk).update(health=health)
        cycle.refresh_from_db()
        _metrics(cycle, health)
    except Exception:
        logger.exception("observing the cycle's end failed", extra={"cycle_id": cycle.pk})
        return
    try:
        owned = bool(lease.owned())
    except Exception:  # Redis unreachable: ownership unknown, the next cycle will tell
        logger.warning("could not check the cycle lock at the cycle's end", exc_info=True)
        owned = True
    try:
        cycle_rules_evaluate(cycle=cycle, lock_owned=owned, actor=actor)
    except Exception:
        logger.exception("alert rules at the cycle's end failed", extra={"cycle_id": cycle.pk})
