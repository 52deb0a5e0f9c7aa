"""Celery tasks of the replay app: interfaces only (load, call one service, report).

The tasks belong to Meva's Celery application (``meva.celery.app``), so a process that sends
one uses its broker even where the application is not loaded at start-up (the batch commands,
``meva.startup.BATCH_COMMANDS``).
"""

from __future__ import annotations

from decimal import Decimal

from meva.celery import app

# A backtest of the bundled samples takes seconds; a year of 1-minute bars over a few symbols
# minutes. The soft limit is raised inside the task, so the service records the run failed.
BACKTEST_RUN_TIME_LIMIT_S = 3600
SOFT_MARGIN_S = 30


@app.task(
    name="replay.backtest_run",
    soft_time_limit=BACKTEST_RUN_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=BACKTEST_RUN_TIME_LIMIT_S,
)
def backtest_run_task(run_id: int, max_volume_share: str | None = None) -> dict[str, object]:
    """Run the pending backtest ``run_id`` (created by ``replay.services.backtests.backtest_queue``).

    ``max_volume_share`` is the fill model's volume cap as a decimal string (``None``: no cap).
    Never retried: a run that failed stays failed with its error; a duplicate delivery finds
    the run no longer pending and does nothing. Returns ``{"run_id": int, "status": str}``.
    """
    from replay.services.backtests import backtest_execute

    share = None if max_volume_share is None else Decimal(max_volume_share)
    run = backtest_execute(run_id=run_id, max_volume_share=share)
    return {"run_id": run.pk, "status": str(run.status)}


@app.task(
    name="replay.sweep_run",
    soft_time_limit=BACKTEST_RUN_TIME_LIMIT_S - SOFT_MARGIN_S,
    time_limit=BACKTEST_RUN_TIME_LIMIT_S,
)
def sweep_run_task(run_id: int) -> dict[str, object]:
    """Run one pending combination ``run_id`` of a parameter sweep (sent as a group by
    ``replay.services.sweeps.sweep_queue``) and recount its sweep, finishing it after the last.

    A failing combination fails alone: its run is recorded failed and the task returns
    normally. Never retried; a duplicate delivery finds the run no longer pending and only
    recounts. Returns ``{"run_id": int, "sweep_id": int | None, "status": str}``.
    """
    from replay.services.sweeps import sweep_run_one

    run = sweep_run_one(run_id=run_id)
    return {"run_id": run.pk, "sweep_id": run.sweep_id, "status": str(run.status)}
