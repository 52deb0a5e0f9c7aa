"""Celery tasks of the trading app: interfaces only (load, call one service, report).

Each task carries an explicit ``name``, takes plain ids (the account's name), calls one service
and returns a small JSON-able summary. The services take their single-flight locks themselves
(``meva.locks``), so ``manage.py`` commands share the lock with the tasks; every hard time
limit here is below its lock's TTL (tested), so a running task never outlives its lock. Nothing
is retried: a cycle is not idempotent across clocks, and beat runs reconciliation again anyway.
The cycle and reconciliation services are imported inside the task bodies, so this module
(and the worker) import without them. The tasks belong to Meva's Celery application
(``meva.celery.app``), so a process that sends one uses its broker even where the application
is not loaded at start-up (the batch commands, ``meva.startup.BATCH_COMMANDS``).
"""

from __future__ import annotations

import logging

from meva.celery import app
from meva.locks import single_flight
from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.services.instruments import instruments_sync

logger = logging.getLogger(__name__)

# Hard time limits in seconds, each below its lock's TTL in meva.locks (300 s for the account
# locks, 600 s for instruments_sync); the soft limit (raised inside the task, so the service can
# record the failure) comes SOFT_MARGIN_S earlier. Enforced by the prefork pool, not by --pool=solo.
CYCLE_RUN_TIME_LIMIT_S = 180
ORDERS_RECONCILE_TIME_LIMIT_S = 180
BALANCES_CHECK_TIME_LIMIT_S = 120
INSTRUMENTS_SYNC_TIME_LIMIT_S = 300
SOFT_MARGIN_S = 30


@app.task(
    name="trading.cycle_run",
    soft_time_limit=CYCLE_RUN_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=CYCLE_RUN_TIME_LIMIT_S,
)
def cycle_run_task(account: str) -> dict[str, object]:
    """Run one trading cycle for account ``account`` (its name); never retried.

    Returns ``{"cycle_id": int, "status": str}`` of the Cycle row the service wrote (status
    ``skipped`` when another cycle of the account holds the lock). Errors propagate.
    """
    from trading.services.cycle import cycle_run

    cycle = cycle_run(account_name=account, actor="task:trading.cycle_run")
    return {"cycle_id": cycle.id, "status": str(cycle.status)}


@app.task(
    name="trading.orders_reconcile",
    soft_time_limit=ORDERS_RECONCILE_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=ORDERS_RECONCILE_TIME_LIMIT_S,
)
def orders_reconcile_task(account: str) -> dict[str, object]:
    """Reconcile the open and uncertain orders of account ``account`` with the exchange.

    Returns the service result's ``as_dict()``. Not retried: beat runs it again.
    """
    from trading.services.reconcile import orders_reconcile

    result = orders_reconcile(account_name=account, actor="task:trading.orders_reconcile")
    return result.as_dict()


@app.task(
    name="trading.balances_check",
    soft_time_limit=BALANCES_CHECK_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=BALANCES_CHECK_TIME_LIMIT_S,
)
def balances_check_task(account: str) -> dict[str, object]:
    """Compare account ``account``'s ledger balances with the exchange's and alert on drift.

    Returns the service result's ``as_dict()``. Not retried: beat runs it again.
    """
    from trading.services.reconcile import balances_check

    result = balances_check(account_name=account, actor="task:trading.balances_check")
    return result.as_dict()


@app.task(
    name="trading.instruments_sync",
    soft_time_limit=INSTRUMENTS_SYNC_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=INSTRUMENTS_SYNC_TIME_LIMIT_S,
)
def instruments_sync_task() -> dict[str, object]:
    """Refresh Instrument rows from ``exchangeinfo`` under the ``instruments_sync`` lock.

    Returns the counts, or ``{"skipped": "busy"}`` when another sync holds the lock. Exchange
    errors propagate (the task fails and is logged); nothing is retried: the next beat runs it.
    """
    with single_flight("instruments_sync") as acquired:
        if not acquired:
            return {"skipped": "busy"}
        with btcturk_client_from_settings() as client:
            result = instruments_sync(client=client)
    summary = {action: result.count(action) for action in ("created", "updated", "delisted")}
    summary |= {"unchanged": result.unchanged, "skipped": len(result.skipped)}
    logger.info("instruments synced", extra={"instruments": summary})
    return summary


ALERT_DELIVER_TIME_LIMIT_S = 120


@app.task(
    name="trading.alert_deliver",
    bind=True,
    soft_time_limit=ALERT_DELIVER_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=ALERT_DELIVER_TIME_LIMIT_S,
)
def alert_deliver_task(self, alert_id: int) -> dict[str, object]:
    """POST alert ``alert_id`` to ``ALERT_WEBHOOK_URL`` (trading.services.alert_delivery).

    A 429, 5xx, timeout or connection error is retried by Celery with exponential backoff
    (1, 2, 4, ... s, at most 300 s) up to ``ALERT_WEBHOOK_MAX_ATTEMPTS`` attempts in all; the
    last attempt records ``failed`` instead. Returns ``{"alert_id", "status"}``.
    """
    from django.conf import settings

    from trading.services.alert_delivery import DeliveryRetry, alert_deliver_once, backoff_s

    attempts = settings.ALERT_WEBHOOK_MAX_ATTEMPTS
    try:
        status = alert_deliver_once(alert_id, final=self.request.retries + 1 >= attempts)
    except DeliveryRetry as exc:
        raise self.retry(
            exc=exc,
            countdown=backoff_s(self.request.retries + 1, exc.retry_after),
            max_retries=attempts - 1,
        ) from None
    return {"alert_id": alert_id, "status": status}


@app.task(name="trading.beat_heartbeat", time_limit=30, ignore_result=True)
def beat_heartbeat_task() -> float:
    """Record that beat is scheduling and a worker consumes (trading.services.process_health);
    returns the epoch seconds recorded."""
    from trading.services.process_health import beat_heartbeat_record

    return beat_heartbeat_record()


@app.task(name="trading.stale_work_sweep", time_limit=120, ignore_result=True)
def stale_work_sweep_task() -> dict[str, int]:
    """Mark cycles and backtest runs left running by a dead process failed
    (trading.services.stale_work); returns the counts swept."""
    from trading.services.stale_work import stale_work_sweep

    return stale_work_sweep()
