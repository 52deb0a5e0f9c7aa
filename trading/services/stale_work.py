"""Sweep work left ``running`` by a process that died (SIGKILL, a lost machine, an OOM kill).

A ``Cycle`` row is stale when its heartbeat (``heartbeat_at``, else ``started_at``) is older
than its lock's TTL (``cycle_run:{account}`` in ``meva.locks``): the lock has expired, so no
live worker can still own the cycle. A ``BacktestRun`` is stale when its heartbeat (refreshed
with each progress write, about every 1 % of the run) is older than
``BACKTEST_STALE_AFTER_S``. Both become ``failed`` with an ``INTERRUPTED`` error, by
compare-and-set on ``status='running'``, so a row that finished meanwhile is left alone. A
cycle's orders and fills are recovered by the account's startup reconciliation; a backtest can
be run again.

Runs at worker start (``worker_ready``) and every 5 minutes (task
``trading.stale_work_sweep``); ``manage.py sweep_stale`` runs it on demand.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from meva.locks import lock_ttl
from replay.models import BacktestRun, RunStatus
from trading.models import Cycle, CycleStatus

logger = logging.getLogger(__name__)


def stale_work_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Mark stale running cycles and backtest runs failed (module docstring); returns
    ``{"cycles": n, "backtests": m}``, the rows swept."""
    now = now or timezone.now()
    cycle_cutoff = now - dt.timedelta(seconds=lock_ttl("cycle_run:{account}"))
    cycles = Cycle.objects.filter(status=CycleStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cycle_cutoff)
        | Q(heartbeat_at__isnull=True, started_at__lt=cycle_cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True)
    )
    swept_cycles = cycles.update(
        status=CycleStatus.FAILED,
        finished_at=now,
        error="INTERRUPTED: no heartbeat for longer than the cycle lock's TTL (the worker died); "
        "its orders and fills are recovered by the account's startup reconciliation",
    )
    run_cutoff = now - dt.timedelta(seconds=settings.BACKTEST_STALE_AFTER_S)
    runs = BacktestRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=run_cutoff)
        | Q(heartbeat_at__isnull=True, started_at__lt=run_cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True)
    )
    swept_runs = runs.update(
        status=RunStatus.FAILED,
        finished_at=now,
        error=f"INTERRUPTED: no heartbeat for {settings.BACKTEST_STALE_AFTER_S} s (the process "
        "running it died); run it again",
    )
    if swept_cycles or swept_runs:
        logger.warning("swept stale work: %d cycles, %d backtest runs", swept_cycles, swept_runs)
    return {"cycles": swept_cycles, "backtests": swept_runs}
