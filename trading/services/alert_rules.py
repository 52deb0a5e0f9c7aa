"""Alert rules evaluated where the facts appear (README "Observability and alerts").

Every rule raises through :func:`trading.services.alerts.alert_raise`, so a condition that
persists bumps one open alert per ``(account, kind, key)`` instead of opening new ones.

At each cycle's end (:func:`cycle_rules_evaluate`, called once by the cycle service):

==================  =========  ==============  ============================================
kind                severity   key             raised when
==================  =========  ==============  ============================================
``LOCK_LOST``       critical   ``cycle_run``   the cycle's lock was no longer ours at its
                                               end (expired or taken over: another worker
                                               may run the account)
``CYCLE_FAILURES``  critical   ``""``          the last ``ALERT_CYCLE_FAILURES`` cycles
                                               that ran (skips ignored) all failed
``STALE_DATA``      warning    symbol          a symbol's last closed bar is older than
                                               ``RISK_MAX_DATA_AGE_SECONDS`` (not traded)
``RISK_MODE``       by mode    the new mode    the risk mode differs from the previous
                                               completed cycle's (``NORMAL`` info,
                                               ``REDUCE_RISK_ONLY`` warning,
                                               ``OBSERVE_ONLY`` critical)
``REJECT_SPIKE``    warning    reject code     this cycle had rejects and at least
                                               ``ALERT_REJECT_SPIKE_COUNT`` orders of the
                                               account were rejected with one code in the last
                                               ``ALERT_REJECT_SPIKE_WINDOW_SECONDS``
``CLOCK_SKEW``      warning    ``""``          ``|health.clock_offset_ms|`` is above
                                               ``ALERT_CLOCK_SKEW_MS`` (critical from BTCTurk's
                                               5 s stamp tolerance on)
==================  =========  ==============  ============================================

Already raised elsewhere and reused, not duplicated: ``CYCLE_FAILED`` (each failed cycle,
:mod:`.cycle`), ``RECONCILE_FAILED``, ``UNKNOWN_ORDER_UNRESOLVED`` (an ``UNKNOWN`` order past
``RECONCILE_MAX_PROBES``), ``FOREIGN_ORDER``/``FOREIGN_TRADE`` and ``BALANCE_DRIFT``
(:mod:`.reconcile`). At the periodic reconciliation (:func:`reconcile_rules_evaluate`):
``CYCLES_STALLED`` (warning) when an enabled account's last completed cycle is older than
``ALERT_CYCLE_STALL_INTERVALS`` of its cycle intervals (or it never completed one in that
long since it was created).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from trading.domain.orders import OrderStatus
from trading.exchange.btcturk.auth import STAMP_TOLERANCE_MS
from trading.models import Account, AlertSeverity, Cycle, CycleStatus, Order
from trading.services.alerts import alert_raise

logger = logging.getLogger(__name__)

MODE_SEVERITY = {
    "NORMAL": AlertSeverity.INFO,
    "REDUCE_RISK_ONLY": AlertSeverity.WARNING,
    "OBSERVE_ONLY": AlertSeverity.CRITICAL,
}
_RAN = (CycleStatus.COMPLETED, CycleStatus.FAILED)


def cycle_rules_evaluate(*, cycle: Cycle, lock_owned: bool, actor: str) -> list[str]:
    """Evaluate the cycle-end rules (module table) for ``cycle`` (its row as ended, with
    ``health``); ``lock_owned`` whether its lock was still ours at the end. Returns the kinds
    raised. A skipped cycle raises nothing."""
    if cycle.status not in _RAN:
        return []
    raised: list[str] = []
    if not lock_owned:
        raised += _lock_lost(cycle, actor)
    if cycle.status == CycleStatus.FAILED:
        raised += _cycle_failures(cycle, actor)
    else:
        raised += _stale_data(cycle, actor)
        raised += _risk_mode(cycle, actor)
        if (cycle.counts or {}).get("rejected"):
            raised += _reject_spike(cycle, actor)
    raised += _clock_skew(cycle, actor)
    return raised


def _lock_lost(cycle: Cycle, actor: str) -> list[str]:
    alert_raise(
        kind="LOCK_LOST",
        severity=AlertSeverity.CRITICAL,
        account=cycle.account,
        key="cycle_run",
        message=f"cycle {cycle.pk} no longer held the account's cycle_run lock when it ended "
        "(expired or taken over): another worker may be running this account; check the "
        "worker's time limits and Redis",
        actor=actor,
    )
    return ["LOCK_LOST"]


def _cycle_failures(cycle: Cycle, actor: str) -> list[str]:
    limit = settings.ALERT_CYCLE_FAILURES
    last = list(
        Cycle.objects.filter(account=cycle.account, status__in=_RAN, id__lte=cycle.pk)
        .order_by("-id")
        .values_list("status", flat=True)[:limit]
    )
    if len(last) < limit or any(status != CycleStatus.FAILED for status in last):
        return []
    alert_raise(
        kind="CYCLE_FAILURES",
        severity=AlertSeverity.CRITICAL,
        account=cycle.account,
        message=f"the last {limit} cycles failed; latest (cycle {cycle.pk}): "
        f"{(cycle.error or cycle.no_trade_reason)[:300]}",
        actor=actor,
    )
    return ["CYCLE_FAILURES"]


def _stale_data(cycle: Cycle, actor: str) -> list[str]:
    limit_ms = settings.RISK_MAX_DATA_AGE_SECONDS * 1000
    raised = []
    for symbol, seen in sorted((cycle.market or {}).items()):
        age_ms = seen.get("age_ms") if isinstance(seen, dict) else None
        if age_ms is None or age_ms <= limit_ms:
            continue
        alert_raise(
            kind="STALE_DATA",
            severity=AlertSeverity.WARNING,
            account=cycle.account,
            key=symbol,
            message=f"{symbol}: the last closed bar is {age_ms / 1000:.0f} s old (limit "
            f"{settings.RISK_MAX_DATA_AGE_SECONDS} s) at cycle {cycle.pk}; not traded",
            actor=actor,
        )
        raised.append("STALE_DATA")
    return raised


def _risk_mode(cycle: Cycle, actor: str) -> list[str]:
    previous = (
        Cycle.objects.filter(account=cycle.account, status=CycleStatus.COMPLETED, id__lt=cycle.pk)
        .order_by("-id")
        .values_list("risk_mode", flat=True)
        .first()
    )
    new = cycle.risk_mode
    if not previous or not new or previous == new:
        return []
    reasons = ", ".join(cycle.mode_reasons or []) or "no reason recorded"
    alert_raise(
        kind="RISK_MODE",
        severity=MODE_SEVERITY.get(new, AlertSeverity.WARNING),
        account=cycle.account,
        key=new,
        message=f"risk mode {previous} -> {new} at cycle {cycle.pk} ({reasons})",
        actor=actor,
    )
    return ["RISK_MODE"]


def _reject_spike(cycle: Cycle, actor: str) -> list[str]:
    window_s = settings.ALERT_REJECT_SPIKE_WINDOW_SECONDS
    since = timezone.now() - timedelta(seconds=window_s)
    rows = (
        Order.objects.filter(
            account=cycle.account, status=OrderStatus.REJECTED.value, created_at__gte=since
        )
        .values("reject_code")
        .annotate(n=Count("id"))
    )
    raised = []
    for row in rows:
        if row["n"] < settings.ALERT_REJECT_SPIKE_COUNT:
            continue
        code = row["reject_code"] or "unknown"
        alert_raise(
            kind="REJECT_SPIKE",
            severity=AlertSeverity.WARNING,
            account=cycle.account,
            key=code,
            message=f"{row['n']} orders rejected with code {code} in the last {window_s} s "
            f"(threshold {settings.ALERT_REJECT_SPIKE_COUNT}; latest at cycle {cycle.pk})",
            actor=actor,
        )
        raised.append("REJECT_SPIKE")
    return raised


def _clock_skew(cycle: Cycle, actor: str) -> list[str]:
    offset = (cycle.health or {}).get("clock_offset_ms")
    if offset is None or abs(offset) <= settings.ALERT_CLOCK_SKEW_MS:
        return []
    severity = (
        AlertSeverity.CRITICAL if abs(offset) >= STAMP_TOLERANCE_MS else AlertSeverity.WARNING
    )
    alert_raise(
        kind="CLOCK_SKEW",
        severity=severity,
        account=cycle.account,
        message=f"this host's clock is {offset} ms off BTCTurk's (limit "
        f"{settings.ALERT_CLOCK_SKEW_MS} ms; BTCTurk refuses stamps {STAMP_TOLERANCE_MS} ms "
        "off): fix NTP on the host",
        actor=actor,
    )
    return ["CLOCK_SKEW"]


def reconcile_rules_evaluate(*, account: Account, actor: str) -> list[str]:
    """Rules of the periodic reconciliation (module docstring): ``CYCLES_STALLED``. Returns
    the kinds raised."""
    if not account.enabled:
        return []
    stall_s = settings.ALERT_CYCLE_STALL_INTERVALS * account.cycle_interval_s
    now = timezone.now()
    last = (
        Cycle.objects.filter(account=account.name, status=CycleStatus.COMPLETED)
        .order_by("-id")
        .values_list("finished_at", flat=True)
        .first()
    )
    since = last or account.created_at
    if since is None or (now - since).total_seconds() <= stall_s:
        return []
    what = (
        f"the last completed cycle ended at {last:%Y-%m-%d %H:%M:%S} UTC"
        if last
        else ("no cycle has completed since the account was created")
    )
    alert_raise(
        kind="CYCLES_STALLED",
        severity=AlertSeverity.WARNING,
        account=account.name,
        message=f"{what}, more than {stall_s} s ago ({settings.ALERT_CYCLE_STALL_INTERVALS} "
        "cycle intervals): is the worker and beat running?",
        actor=actor,
    )
    return ["CYCLES_STALLED"]


def balances_observed(*, account: str, rows: dict[str, tuple[str, str, str]]) -> None:
    """Publish a balance check's differences (asset -> (ledger, exchange, difference) strings)
    as the ``meva_balance_drift`` gauge (exchange - ledger, asset units). Never raises."""
    from meva.metrics import BALANCE_DRIFT

    for asset, (_ours, _theirs, diff) in rows.items():
        try:
            BALANCE_DRIFT.labels(account, asset).set(float(diff))
        except Exception:
            logger.debug("balance drift metric failed", exc_info=True)
