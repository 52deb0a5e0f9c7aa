"""Parameter sweep service: one backtest per combination of a grid, grouped under a
:class:`~replay.models.Sweep` row (README "Parameter sweeps").

:func:`sweep_create` writes the sweep and one ``pending`` :class:`~replay.models.BacktestRun` per
combination (a combination the strategy refuses becomes a ``failed`` run with the reason at
once). The runs are then executed either here, in this process or on a local process pool
(:func:`sweep_execute`), or by Celery workers (:func:`sweep_queue`, one ``replay.sweep_run``
task per run, sent as a group). Either way each run goes through
:func:`~replay.services.backtests.backtest_execute` in :func:`sweep_run_one`: an exception
fails that run alone (recorded with its error), and :func:`sweep_refresh` recounts the sweep and
finishes it when every run has ended. Only an interruption (Ctrl-C, SIGTERM) or a broken pool
stops a sweep early: :func:`sweep_abort` then fails the runs that had not started.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace

from django.db import connections, transaction
from django.db.models import Count
from django.utils import timezone

from meva.errors import ApplicationError
from meva.interrupts import Interrupted
from replay.domain.sweeps import SweepGridError, SweepMetric, grid_check, grid_combinations
from replay.models import BacktestRun, RunStatus, Sweep
from replay.services.backtests import BacktestRequest, backtest_create, backtest_execute
from trading.services.risk import risk_limits_from_settings

logger = logging.getLogger(__name__)

RunDone = Callable[[int, str], None]
MAX_WORKERS = 64
NOT_RUN = "interrupted: the sweep stopped before this combination ran"


@dataclass(frozen=True, slots=True)
class SweepRequest:
    """A sweep's inputs: ``base`` is every run's request (its ``params`` are the base
    parameters the grid's values are merged over); ``grid`` maps a parameter to its values."""

    base: BacktestRequest
    grid: Mapping[str, Sequence[object]]
    metric: SweepMetric
    actor: str


@transaction.atomic
def sweep_create(*, request: SweepRequest, executor: str) -> Sweep:
    """Create the sweep (``pending``) and one run per combination, in grid order.

    A combination the strategy refuses (a bad or inconsistent parameter) is stored as a
    ``failed`` run with the reason, so it fails alone. Raises :class:`ApplicationError` (and
    creates nothing) for an invalid grid, risk override or initial cash: those would fail
    every combination.
    """
    try:
        grid = grid_check(request.grid)
    except SweepGridError as exc:
        raise ApplicationError(str(exc)) from None
    risk_limits_from_settings(request.base.risk)  # raises naming a bad key or value
    if request.base.initial_cash <= 0:
        raise ApplicationError("initial cash must be positive")
    base = request.base
    combinations = grid_combinations(grid, base.params)
    sweep = Sweep.objects.create(
        dataset=base.dataset,
        strategy=base.strategy,
        grid=grid,
        base_params=dict(base.params),
        risk=dict(base.risk),
        max_volume_share=base.max_volume_share,
        metric=request.metric.value,
        executor=executor,
        total=len(combinations),
        actor=request.actor,
    )
    for params in combinations:
        _run_create(sweep, replace(base, params=params))
    return sweep


def _run_create(sweep: Sweep, request: BacktestRequest) -> BacktestRun:
    try:
        with transaction.atomic():
            run = backtest_create(request=request)
    except ApplicationError as exc:
        now = timezone.now()
        return BacktestRun.objects.create(
            sweep=sweep,
            dataset=request.dataset,
            dataset_fingerprint=request.dataset.fingerprint,
            strategy=request.strategy,
            params=dict(request.params),
            risk_limits=risk_limits_from_settings(request.risk).as_json(),
            fill_model=request.fill_model.value,
            fee_maker_bps=request.fee_maker_bps,
            fee_taker_bps=request.fee_taker_bps,
            initial_cash=request.initial_cash,
            start=request.start,
            end=request.end,
            status=RunStatus.FAILED,
            error=str(exc),
            started_at=now,
            finished_at=now,
        )
    BacktestRun.objects.filter(pk=run.pk).update(sweep=sweep)
    run.sweep = sweep
    return run


def sweep_start(*, sweep: Sweep) -> Sweep:
    """``pending -> running`` (compare-and-set; a sweep already started is left as it is),
    then recount: refused combinations are failed from the start, and a sweep whose every
    combination was refused is finished here. Returns the sweep as stored."""
    Sweep.objects.filter(pk=sweep.pk, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    return sweep_refresh(sweep_id=sweep.pk)


def sweep_pending_run_ids(*, sweep: Sweep) -> list[int]:
    """Ids of the sweep's runs still ``pending``, in grid order."""
    rows = BacktestRun.objects.filter(sweep=sweep, status=RunStatus.PENDING).order_by("pk")
    return list(rows.values_list("pk", flat=True))


def sweep_run_one(*, run_id: int) -> BacktestRun:
    """Execute the pending run ``run_id`` of a sweep and recount its sweep; returns the run.

    An ``Exception`` fails this run alone: :func:`backtest_execute` has recorded it failed with
    its error, and it is logged, not raised. An interruption (``KeyboardInterrupt``) is
    recorded the same way and propagates. A run no longer pending is left as it is (a task
    delivered twice runs once).
    """
    run = BacktestRun.objects.select_related("sweep").get(pk=run_id)
    share = None if run.sweep is None else run.sweep.max_volume_share
    try:
        run = backtest_execute(run_id=run_id, max_volume_share=share)
    except Exception as exc:
        logger.info("sweep %s: run %s failed: %s", run.sweep_id, run_id, exc)
        run.refresh_from_db()
    if run.sweep_id is not None:
        sweep_refresh(sweep_id=run.sweep_id)
    return run


def sweep_refresh(*, sweep_id: int) -> Sweep:
    """Recount the sweep's completed and failed runs; when every run has ended, finish a
    running sweep (compare-and-set): ``completed`` if any run completed, else ``failed``."""
    completed, failed = _recount(sweep_id)
    sweep = Sweep.objects.get(pk=sweep_id)
    if sweep.status == RunStatus.RUNNING and completed + failed >= sweep.total:
        finished = {"finished_at": timezone.now(), "completed": completed, "failed": failed}
        running = Sweep.objects.filter(pk=sweep_id, status=RunStatus.RUNNING)
        if completed:
            running.update(status=RunStatus.COMPLETED, **finished)
        else:
            running.update(status=RunStatus.FAILED, error="every combination failed", **finished)
        sweep.refresh_from_db()
    return sweep


def _recount(sweep_id: int) -> tuple[int, int]:
    """Store and return the sweep's (completed, failed) run counts."""
    counts = dict(
        BacktestRun.objects.filter(sweep_id=sweep_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    completed = counts.get(RunStatus.COMPLETED, 0)
    failed = counts.get(RunStatus.FAILED, 0)
    Sweep.objects.filter(pk=sweep_id).update(completed=completed, failed=failed)
    return completed, failed


def sweep_abort(*, sweep_id: int, reason: str) -> Sweep:
    """Stop a sweep early: the sweep becomes ``failed`` with ``reason`` (unless it had
    finished already), then its runs still ``pending`` become ``failed`` (:data:`NOT_RUN`; a
    queued task or pool job then finds nothing to do). Runs already running end on their own
    and are counted as they end. Returns the sweep."""
    Sweep.objects.filter(pk=sweep_id, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, error=reason, finished_at=timezone.now()
    )
    _fail_pending(sweep_id)
    _recount(sweep_id)
    return Sweep.objects.get(pk=sweep_id)


def _fail_pending(sweep_id: int) -> None:
    now = timezone.now()
    BacktestRun.objects.filter(sweep_id=sweep_id, status=RunStatus.PENDING).update(
        status=RunStatus.FAILED, error=NOT_RUN, started_at=now, finished_at=now
    )


def sweep_execute(*, sweep: Sweep, workers: int = 1, on_done: RunDone | None = None) -> Sweep:
    """Run the sweep's pending runs here: one after the other in this process when
    ``workers`` is 1, else on a pool of ``workers`` processes (forked, each with its own
    database connection). ``on_done(run_id, status)`` is called in this process as each run
    ends. Returns the finished sweep.

    An interruption or a broken pool aborts the sweep (:func:`sweep_abort`) and propagates.
    """
    sweep_workers_check(workers=workers)
    sweep = sweep_start(sweep=sweep)
    ids = sweep_pending_run_ids(sweep=sweep)
    try:
        if workers == 1 or len(ids) <= 1:
            for run_id in ids:
                run = sweep_run_one(run_id=run_id)
                if on_done is not None:
                    on_done(run.pk, run.status)
        else:
            _pool_execute(sweep.pk, ids, workers, on_done)
    except BaseException as exc:
        sweep_abort(sweep_id=sweep.pk, reason=_stopped(exc))
        raise
    return sweep_refresh(sweep_id=sweep.pk)


def sweep_workers_check(*, workers: int) -> None:
    """Raise :class:`ApplicationError` unless ``workers`` processes can run a sweep here: 1 to
    :data:`MAX_WORKERS`, and for more than one a database other processes can open (not in
    memory) and no open transaction (they could not see its rows)."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ApplicationError(f"must be 1 to {MAX_WORKERS}, got {workers}")
    if workers > 1 and any(c.vendor == "sqlite" and c.is_in_memory_db() for c in connections.all()):
        raise ApplicationError(
            "the database is in memory: worker processes cannot open it (use one worker)"
        )
    if workers > 1 and connections["default"].in_atomic_block:
        raise ApplicationError(
            "inside a transaction: worker processes could not see the sweep's rows"
        )


def _pool_execute(sweep_id: int, ids: list[int], workers: int, on_done: RunDone | None) -> None:
    # Forked workers inherit this process's state (settings, the test database's name); the
    # connections are closed first so no child shares a database session with this process.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        min(workers, len(ids)), mp_context=context, initializer=_pool_worker_init
    )
    with pool:
        pending: set[Future] = {pool.submit(_pool_run, run_id) for run_id in ids}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    run_id, status = future.result()
                    if on_done is not None:
                        on_done(run_id, status)
        except BaseException:
            # Stop now rather than after the queued jobs: each worker is sent SIGTERM, which
            # fails its current run as INTERRUPTED and ends it before it takes another job
            # (``_pool_worker_init``); the caller then fails what never started.
            for process in list(pool._processes.values()):  # the executor's only handle on them
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _stopped(exc: BaseException) -> str:
    return f"stopped: {type(exc).__name__}: {exc}"


# A pool worker's state for SIGTERM: ``busy`` while it runs a job, ``stopping`` once told to stop.
_worker = {"busy": False, "stopping": False}


def _pool_worker_init() -> None:
    """In each pool worker: the first SIGTERM stops it. During a run it raises
    ``Interrupted``, so the run is recorded failed (INTERRUPTED) before the worker exits; a
    further SIGTERM (the executor terminates every worker of a broken pool) is ignored until
    then. An idle worker exits at once."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    if _worker["stopping"]:
        return
    _worker["stopping"] = True
    if not _worker["busy"]:
        os._exit(0)
    raise Interrupted(signum)


def _pool_run(run_id: int) -> tuple[int, str]:
    """A pool worker's job: one run, then its connections closed (nothing left open when the
    pool ends the process; the next job opens its own). A stopped worker exits after it."""
    _worker["busy"] = True
    try:
        run = sweep_run_one(run_id=run_id)
        return run.pk, str(run.status)
    finally:
        _worker["busy"] = False
        connections.close_all()
        if _worker["stopping"]:
            os._exit(1)


def sweep_queue(*, sweep: Sweep) -> list[int]:
    """Start the sweep and send its pending runs to Celery as one group of ``replay.sweep_run``
    tasks once the surrounding transaction commits; returns the queued run ids. The workers
    finish the sweep (:func:`sweep_refresh` after each run)."""
    from celery import group

    from replay.tasks import sweep_run_task  # the task module imports this one

    sweep = sweep_start(sweep=sweep)
    ids = sweep_pending_run_ids(sweep=sweep)
    if ids:
        tasks = group(sweep_run_task.si(run_id) for run_id in ids)
        transaction.on_commit(tasks.apply_async)
    return ids
