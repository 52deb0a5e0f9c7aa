"""The paper and live trading cycle: ``cycle_run(account)`` (DESIGN.md section 1).

One cycle, under the account's ``cycle_run:{account}`` lock (a busy lock gives a ``skipped``
cycle row, never an error):

0. startup reconciliation, once per account and worker process (:mod:`.reconcile`); if it
   fails the account does not trade (a ``failed`` cycle row and an alert);
1. snapshot (:mod:`.cycle_snapshot`): closed candles (stored in ``Candle``, fetched only when
   missing), top of book, the venue's balances, open orders and new fills, rules from
   ``Instrument`` rows, the ledger's portfolio and the carried risk state;
2-9. :func:`~trading.domain.planner.plan_cycle` over
   :func:`~trading.domain.cycle.cycle_inputs_build` (the functions the backtest engine calls);
10. execution: :func:`trading.services.execution.plan_execute` with the database guard
   (safety gate re-checked before each call, live accounts) and recorder (``Order`` row
   written before the call) of :mod:`.execution_records`;
11. record (:mod:`.cycle_record`): fills into the ledger, order statuses, the ``Cycle`` row
   with timings and decisions, an equity snapshot, the risk state and (paper) the venue's
   state, in one transaction. A failure anywhere makes the row ``failed`` with the error,
   never half-written.

The cycle clock is the account's bar grid: ``now`` is floored to ``bar_interval_s`` (the close
of the last closed bar), from the wall clock or, with ``TRADING_CLOCK=exchange``, from the
venue's newest ticker (the sandbox exchange replays history). A cycle whose clock has not
passed the last completed one is ``skipped`` (``CLOCK_NOT_ADVANCED``): it could only repeat
that cycle's decisions and client order ids.
"""

from __future__ import annotations

import logging
import time
import traceback

from django.db import transaction
from django.utils import timezone

from meva.locks import single_flight
from meva.logging import log_context, log_context_bind
from trading.domain.planner import plan_cycle
from trading.exchange.telemetry import exchange_stats_collect
from trading.models import Account, AlertSeverity, Cycle, CycleStatus
from trading.selectors import account_get
from trading.services.alerts import alert_raise
from trading.services.cycle_health import cycle_end_observe
from trading.services.cycle_ports import AccountPorts, account_ports, cycle_clock
from trading.services.cycle_record import cycle_record
from trading.services.cycle_snapshot import cycle_snapshot
from trading.services.execution import plan_execute
from trading.services.execution_records import ExecutionGuardDb, OrderRecorderDb
from trading.services.reconcile import startup_reconcile, unresolved_orders_probe

logger = logging.getLogger(__name__)

# Accounts whose startup reconciliation succeeded in this process (DESIGN.md section 5).
_reconciled_here: set[str] = set()


class LockLostError(RuntimeError):
    """The cycle's lock was no longer ours before its record (the cycle fails unrecorded)."""


def cycle_run(
    *, account_name: str, actor: str, now_ms: int | None = None, ports: AccountPorts | None = None
) -> Cycle:
    """Run one cycle of ``account_name`` and return its ``Cycle`` row (completed, skipped or
    failed; the row says why). ``now_ms`` overrides the cycle clock (tests, replays); ``ports``
    overrides the exchange clients (default: :func:`account_ports`). Raises
    ``ApplicationError`` for an unknown account; exchange and planning errors become a
    ``failed`` row (and a ``CYCLE_FAILED`` alert) instead of propagating.
    """
    account = account_get(name=account_name)
    with (
        log_context(account=account.name),
        single_flight("cycle_run:{account}", account=account.name) as lease,
    ):
        if not lease:
            return _cycle_skipped(account, "LOCK_BUSY: another cycle of this account is running")
        own = ports is None
        ports = ports or account_ports(account)
        try:
            with exchange_stats_collect() as stats:
                cycle = _cycle_locked(account, lease, ports, actor, now_ms)
            cycle_end_observe(cycle=cycle, ports=ports, stats=stats, lease=lease, actor=actor)
            return cycle
        finally:
            if own:
                ports.close()


def _cycle_locked(
    account: Account, lease, ports: AccountPorts, actor: str, now_ms: int | None
) -> Cycle:
    account.refresh_from_db()  # read under the lock: a cycle that just ended may have moved it
    _interrupted_cycles_fail(account)
    if account.name not in _reconciled_here:
        try:
            startup_reconcile(account=account, ports=ports, actor=actor)
        except Exception as exc:  # the account does not trade until reconciliation succeeds
            logger.exception("startup reconciliation failed", extra={"account": account.name})
            alert_raise(
                kind="RECONCILE_FAILED",
                severity=AlertSeverity.CRITICAL,
                account=account.name,
                message=f"startup reconciliation failed, the account does not trade: {exc}",
                actor=actor,
            )
            return _cycle_failed_early(account, f"STARTUP_RECONCILE_FAILED: {exc}")
        _reconciled_here.add(account.name)
        account.refresh_from_db()
    try:
        now = now_ms if now_ms is not None else cycle_clock(account, ports)
    except Exception as exc:  # like any other failure: a failed row and an alert, no raise
        logger.exception("reading the cycle clock failed", extra={"account": account.name})
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        cycle = _cycle_failed_early(account, f"CLOCK_FAILED: {error}")
        alert_raise(
            kind="CYCLE_FAILED",
            severity=AlertSeverity.WARNING,
            account=account.name,
            message=f"cycle {cycle.pk} failed: the cycle clock could not be read: {error}",
            actor=actor,
        )
        return cycle
    if account.last_cycle_ms is not None and now <= account.last_cycle_ms:
        return _cycle_skipped(
            account, f"CLOCK_NOT_ADVANCED: {now} <= last cycle {account.last_cycle_ms}", now
        )
    cycle = Cycle.objects.create(
        account=account.name,
        mode=account.mode,
        status=CycleStatus.RUNNING,
        now_ms=now,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    log_context_bind(cycle_id=cycle.pk)
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        snapshot = cycle_snapshot(account=account, ports=ports, now_ms=now)
        timings["snapshot"] = _ms_since(started)
        lease.extend()
        started = time.perf_counter()
        plan = plan_cycle(snapshot.inputs)
        timings["plan"] = _ms_since(started)
        started = time.perf_counter()
        execution = plan_execute(
            plan,
            port=ports.orders,
            now_ms=now,
            guard=ExecutionGuardDb(account, owned=lease.owned, actor=actor),
            recorder=OrderRecorderDb(account, cycle=cycle, actor=actor),
        )
        timings["execute"] = _ms_since(started)
        if not lease.extend():
            # Another worker may run this account now (the lock expired, or Redis restarted
            # and lost it): recording would move the account's cursors and risk state, and
            # the paper venue, from under it. The orders sent are rows already; the next
            # cycle's snapshot and reconciliation book their fills.
            raise LockLostError(
                "LOCK_LOST: the cycle lost its lock before recording (expired or taken over); "
                "nothing of it was recorded, the next cycle and reconciliation recover its "
                "orders and fills"
            )
        cycle_record(
            account=account,
            cycle=cycle,
            ports=ports,
            snapshot=snapshot,
            plan=plan,
            execution=execution,
            timings=timings,
            actor=actor,
        )
        _unresolved_probe(account, cycle, ports, lease, timings, actor)
    except Exception as exc:
        logger.exception("cycle failed", extra={"account": account.name, "cycle_id": cycle.pk})
        _cycle_failed(cycle, exc, timings, actor)
    except BaseException as exc:  # SIGINT/SIGTERM (meva.interrupts): record it, then stop
        logger.warning("cycle interrupted: %s", exc, extra={"cycle_id": cycle.pk})
        _cycle_failed(cycle, exc, timings, actor)
        raise
    cycle.refresh_from_db()
    return cycle


def _unresolved_probe(
    account: Account, cycle: Cycle, ports: AccountPorts, lease, timings: dict, actor: str
) -> None:
    """Re-probe this cycle's lost answers a few seconds apart while the lock is ours
    (:func:`unresolved_orders_probe`); the time it took is the ``probe`` timing."""
    started = time.perf_counter()

    def owned() -> bool:
        return bool(lease.extend())

    try:
        probes = unresolved_orders_probe(
            account=account, port=ports.orders, actor=actor, owned=owned
        )
    except Exception:  # the periodic reconciliation probes again; the cycle is recorded
        logger.exception("re-probing unresolved orders failed", extra={"account": account.name})
        probes = -1
    if probes:
        timings["probe"] = _ms_since(started)
        Cycle.objects.filter(pk=cycle.pk).update(timings_ms=timings)


def _interrupted_cycles_fail(account: Account) -> None:
    """Mark ``running`` cycles of ``account`` ``failed``: we hold its lock, so a running row
    is one whose worker died before the record (its orders are recovered by reconciliation)."""
    Cycle.objects.filter(account=account.name, status=CycleStatus.RUNNING).update(
        status=CycleStatus.FAILED,
        finished_at=timezone.now(),
        error="INTERRUPTED: the worker stopped before this cycle was recorded; its orders and "
        "fills are recovered by reconciliation",
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _cycle_skipped(account: Account, reason: str, now_ms: int | None = None) -> Cycle:
    logger.info("cycle skipped: %s", reason, extra={"account": account.name})
    moment = timezone.now()
    return Cycle.objects.create(
        account=account.name,
        mode=account.mode,
        status=CycleStatus.SKIPPED,
        now_ms=now_ms,
        started_at=moment,
        finished_at=moment,
        no_trade_reason=reason[:200],
    )


def _cycle_failed_early(account: Account, error: str) -> Cycle:
    moment = timezone.now()
    return Cycle.objects.create(
        account=account.name,
        mode=account.mode,
        status=CycleStatus.FAILED,
        started_at=moment,
        finished_at=moment,
        no_trade_reason=error.split(":", 1)[0][:200],
        error=error,
    )


def _cycle_failed(cycle: Cycle, exc: Exception, timings: dict[str, float], actor: str) -> None:
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    with transaction.atomic():
        Cycle.objects.filter(pk=cycle.pk).update(
            status=CycleStatus.FAILED,
            finished_at=timezone.now(),
            timings_ms=timings,
            error=error,
            no_trade_reason="CYCLE_FAILED",
        )
        alert_raise(
            kind="CYCLE_FAILED",
            severity=AlertSeverity.WARNING,
            account=cycle.account,
            message=f"cycle {cycle.pk} failed: {error}",
            actor=actor,
        )


def reconciled_accounts_forget() -> None:
    """Forget which accounts were reconciled in this process (tests; a worker restart)."""
    _reconciled_here.clear()
