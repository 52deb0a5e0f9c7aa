"""Celery tasks of the trading app: interfaces only (load, call one service, report)."""

from __future__ import annotations

import logging

from celery import shared_task

from meva.locks import single_flight
from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.services.instruments import instruments_sync

logger = logging.getLogger(__name__)

# Below the lock's TTL (meva.locks: instruments_sync 600 s), so the lock outlives the task.
INSTRUMENTS_SYNC_TIME_LIMIT_S = 300


@shared_task(
    name="trading.instruments_sync",
    soft_time_limit=INSTRUMENTS_SYNC_TIME_LIMIT_S - 30,
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
