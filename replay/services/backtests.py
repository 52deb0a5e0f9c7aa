"""Backtest service: run the engine over a registered dataset and store the results.

``backtest_run`` creates the :class:`~replay.models.BacktestRun` row (pending), marks it
running, runs :func:`replay.domain.engine.run_backtest` entirely in memory (no ORM call in the
loop; orders go through :func:`trading.services.execution.plan_execute` and the
:class:`~trading.exchange.simulated.SimulatedExchange` port, as paper cycles'), then writes,
in bulk and in one transaction, fills, round trips, a row per cycle worth one
(:meth:`~replay.domain.cycle_log.CycleLog.rows`: decisions, mode and universe changes) and
every cycle's equity curve in one compact :class:`~replay.models.BacktestSeries` row, and marks
the run completed. Any error, including an interrupt, marks the run failed with its error
text before it propagates: a run is never left ``running``.

The same run in two steps, for callers that must not wait (the reports API, the console):
:func:`backtest_queue` validates and creates the ``pending`` row and enqueues the Celery task
``replay.backtest_run`` once the transaction commits; the task calls :func:`backtest_execute`,
which takes the row from ``pending`` to ``running`` by compare-and-set, so a task delivered
twice runs the backtest once.

While a run is ``running`` its ``progress_pct`` (percent of cycles simulated) is written about
every 1 % of its cycles and at most every :data:`PROGRESS_MIN_INTERVAL_S` seconds (one small
UPDATE outside the results' transaction), so the console can show it; 100 while the results are
stored.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from meva.bulk_write import JsonText, rows_write
from meva.errors import ApplicationError
from replay import numpy_series
from replay.domain.cycle_log import CycleLog
from replay.domain.engine import (
    BacktestConfig,
    BacktestResult,
    ProgressFn,
    collector_paused,
    run_backtest,
)
from replay.domain.series import series_encode
from replay.models import (
    BacktestCycle,
    BacktestFill,
    BacktestRun,
    BacktestSeries,
    BacktestTrade,
    Dataset,
    RunStatus,
)
from replay.numpy_signals import NUMPY_SIGNALS
from replay.services.datasets import dataset_load
from trading.domain.adaptation_bounds import adaptable_bounds
from trading.domain.decimals import decimal_trim
from trading.domain.strategies.base import StrategyParamError
from trading.domain.strategies.registry import build_strategy
from trading.domain.venue import FillModel
from trading.exchange.simulated import SimulatedExchange
from trading.models import ParamSet
from trading.services.adaptive import adaptation_initial_params
from trading.services.adaptive_config import (
    adaptation_config_clean,
    adaptation_policy_build,
    reject_window_ms,
    universe_config_clean,
    universe_governance_build,
)
from trading.services.execution import plan_execute
from trading.services.risk import risk_limits_from_settings

PROGRESS_MIN_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """Validated inputs of a backtest (fees in bps, cash in quote, times UTC)."""

    dataset: Dataset
    strategy: str
    params: Mapping[str, object]
    risk: Mapping[str, object]
    fill_model: FillModel
    fee_maker_bps: Decimal
    fee_taker_bps: Decimal
    initial_cash: Decimal
    max_volume_share: Decimal | None = None
    start: datetime | None = None
    end: datetime | None = None
    fast_path: bool = True  # False plans every cycle in full (same results; debugging, benchmarks)
    # Issue 11 (README "Universe governance and adaptation in backtests"): the settings an
    # account takes (``trading.services.adaptive_config``); empty = off, the run unchanged.
    universe: Mapping[str, object] = field(default_factory=dict)
    adaptation: Mapping[str, object] = field(default_factory=dict)


def backtest_run(*, request: BacktestRequest, progress: ProgressFn | None = None) -> BacktestRun:
    """Run and persist one backtest; returns the completed run.

    Raises :class:`ApplicationError` for invalid strategy parameters or risk overrides (no
    row is created then) and re-raises any engine error after recording the run as failed.
    """
    run = backtest_create(request=request)
    return backtest_execute(
        run_id=run.pk,
        max_volume_share=request.max_volume_share,
        progress=progress,
        fast_path=request.fast_path,
    )


def backtest_create(*, request: BacktestRequest) -> BacktestRun:
    """Validate ``request`` and create its run row (``pending``); nothing runs yet.

    The row keeps everything the engine needs except ``max_volume_share`` (pass it to
    :func:`backtest_execute`). Raises :class:`ApplicationError` for invalid strategy
    parameters, risk overrides or a non-positive initial cash (no row is created then).
    """
    try:
        strategy = build_strategy(request.strategy, request.params)
    except StrategyParamError as exc:
        raise ApplicationError(f"strategy {request.strategy}: {exc}") from None
    limits = risk_limits_from_settings(request.risk)
    if request.initial_cash <= 0:
        raise ApplicationError("initial cash must be positive")
    universe = universe_config_clean(dict(request.universe)) if request.universe else {}
    adaptation = adaptation_config_clean(dict(request.adaptation)) if request.adaptation else {}
    return BacktestRun.objects.create(
        universe=universe,
        adaptation=adaptation,
        dataset=request.dataset,
        dataset_fingerprint=request.dataset.fingerprint,
        strategy=strategy.name,
        params=strategy.params_json(),
        risk_limits=limits.as_json(),
        fill_model=request.fill_model.value,
        fee_maker_bps=request.fee_maker_bps,
        fee_taker_bps=request.fee_taker_bps,
        initial_cash=request.initial_cash,
        start=request.start,
        end=request.end,
    )


@transaction.atomic
def backtest_queue(*, request: BacktestRequest) -> BacktestRun:
    """Create the run (:func:`backtest_create`) and enqueue ``replay.backtest_run`` for it once
    the surrounding transaction commits; returns the ``pending`` row. Raises as
    :func:`backtest_create`."""
    from replay.tasks import backtest_run_task  # the task module imports this one

    run = backtest_create(request=request)
    share = None if request.max_volume_share is None else str(request.max_volume_share)
    transaction.on_commit(lambda: backtest_run_task.delay(run.pk, share))
    return run


def backtest_execute(
    *,
    run_id: int,
    max_volume_share: Decimal | None = None,
    progress: ProgressFn | None = None,
    fast_path: bool = True,
) -> BacktestRun:
    """Run the ``pending`` run ``run_id`` created by :func:`backtest_create` and store its
    results (``fast_path=False``: every cycle planned in full, the same results); returns the
    run (completed, or as it was when it is not ``pending`` any more: another worker took it,
    and nothing runs twice).

    Raises ``BacktestRun.DoesNotExist`` for an unknown id; re-raises any engine error (the
    dataset changed on disk, an invalid stored parameter...) after recording the run failed.
    """
    run = BacktestRun.objects.select_related("dataset").get(pk=run_id)
    if not _mark_running(run):
        return run
    try:
        config = BacktestConfig(
            strategy=build_strategy(run.strategy, run.params),
            limits=risk_limits_from_settings(run.risk_limits),
            fee_maker_bps=decimal_trim(run.fee_maker_bps),
            fee_taker_bps=decimal_trim(run.fee_taker_bps),
            initial_cash=decimal_trim(run.initial_cash),
            fill_model=FillModel(run.fill_model),
            max_volume_share=max_volume_share,
            start_ms=_ms(run.start),
            end_ms=_ms(run.end),
            account="backtest",
            fast_path=fast_path,
            signal_kernels=NUMPY_SIGNALS,
        )
        config = _with_governance_and_adaptation(config, run)
        dataset = dataset_load(run.dataset)
        # The result holds a tracked object or more per deciding cycle; with the cyclic
        # collector on, storing it would rescan them all again and again (about a tenth of a
        # second for a year of 1-minute cycles). Nothing here makes reference cycles to free.
        with collector_paused():
            result = run_backtest(
                dataset,
                config,
                execute=plan_execute,
                port=SimulatedExchange,
                progress=ProgressRecorder(run.pk, forward=progress),
            )
            _store(run, result)
    except BaseException as exc:
        _mark_failed(run, exc)
        raise
    return run


def _with_governance_and_adaptation(config: BacktestConfig, run: BacktestRun) -> BacktestConfig:
    """``config`` with the run's universe governance and adaptation (stored cleaned), built
    as for an account (``trading.services.adaptive_config``): the first parameter version
    is what the settings and limits give (``trading.services.adaptive``)."""
    quote = run.dataset.quote_asset
    governance = universe_governance_build(run.universe or {}, config.limits, quote=quote)
    policy = None
    params = bounds = None
    if (run.adaptation or {}).get("enabled"):
        policy = adaptation_policy_build(run.adaptation)
        # a universe never grows past the pairs the dataset has
        bounds = adaptable_bounds(
            turnover_cap_max=config.limits.max_cycle_notional,
            pairs=run.dataset.series.count(),
        )
        params = adaptation_initial_params(governance, config.limits)
    return replace(
        config,
        universe_governance=governance,
        adaptation=policy,
        adaptation_params=params,
        adaptation_bounds=bounds,
        reject_window_ms=reject_window_ms(run.universe or {}),
    )


class ProgressRecorder:
    """The engine's ``progress(done, total)`` callback that stores ``progress_pct`` on the run.

    Writes only when the whole percent grew and at least ``min_interval_s`` seconds (of
    ``clock``, ``time.monotonic`` by default) passed since the last write or, for the first,
    since the recorder was made (the engine's start), or when the run's last cycle is done; so
    at most 101 writes, at most ``1 / min_interval_s`` per second, and none but the last for a
    run shorter than the interval (a write costs the engine about 1 % of a one-second run).
    ``forward`` (optional) is called with every report, e.g. a terminal progress bar.
    """

    def __init__(
        self,
        run_id: int,
        *,
        forward: ProgressFn | None = None,
        min_interval_s: float = PROGRESS_MIN_INTERVAL_S,
        clock=time.monotonic,
    ) -> None:
        self.forward = forward
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.pct = 0
        self.written_at = clock()
        # built once: the filter is half of what a write costs Django
        self.running = BacktestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING)

    def __call__(self, done: int, total: int) -> None:
        if self.forward is not None:
            self.forward(done, total)
        pct = 100 if total <= 0 else min(100, done * 100 // total)
        if pct <= self.pct:
            return
        now = self.clock()
        if now - self.written_at < self.min_interval_s and pct < 100:
            return
        self.running.update(progress_pct=pct, heartbeat_at=timezone.now())
        self.pct, self.written_at = pct, now


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _mark_running(run: BacktestRun) -> bool:
    """``pending -> running`` by compare-and-set; ``False`` when the run was not pending."""
    started = timezone.now()
    moved = BacktestRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=started, heartbeat_at=started
    )
    if moved:
        run.status, run.started_at, run.heartbeat_at = RunStatus.RUNNING, started, started
    else:
        run.refresh_from_db()
    return bool(moved)


def _mark_failed(run: BacktestRun, exc: BaseException) -> None:
    run.status = RunStatus.FAILED
    run.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])


def _store(run: BacktestRun, result: BacktestResult) -> None:
    started = timezone.now()
    with transaction.atomic():
        # streamed (COPY on PostgreSQL, chunked executemany on SQLite): no model instances
        rows_write(BacktestFill, FILL_FIELDS, _fill_rows(run, result))
        rows_write(BacktestTrade, TRADE_FIELDS, _trade_rows(run, result))
        rows_write(BacktestCycle, CYCLE_FIELDS, _cycle_rows(run, result))
        backtest_series_store(run=run, log=result.cycles)
        _param_sets_store(run, result)
        run.persist_s = (timezone.now() - started).total_seconds()
        _apply_summary(run, result)
        run.save()


def _apply_summary(run: BacktestRun, result: BacktestResult) -> None:
    run.status = RunStatus.COMPLETED
    run.progress_pct = 100
    run.finished_at = timezone.now()
    run.elapsed_s = result.elapsed_s
    run.cycles = len(result.cycles)
    run.symbols = [str(s) for s in result.symbols]
    run.bars = result.bars
    run.trades = len(result.trades)
    run.fills = len(result.fills)
    run.fees = result.fees
    run.final_equity = result.final_equity
    run.return_pct = result.return_pct.quantize(Decimal("0.000001"))
    run.max_drawdown_pct = result.drawdown.max_drawdown_pct.quantize(Decimal("0.000001"))
    run.sharpe = result.sharpe
    run.win_rate = result.win_rate
    run.cycles_per_s = result.cycles_per_s
    run.fingerprint = result.fingerprint
    run.summary = backtest_summary(run, result)


def backtest_summary(run: BacktestRun, result: BacktestResult) -> dict[str, object]:
    """The run summary: the keys of ``backtest --json`` (money as decimal strings)."""
    return {
        "run_id": run.pk,
        "fingerprint": result.fingerprint,
        "strategy": run.strategy,
        "quote_asset": result.quote_asset,
        "bars": result.bars,
        "cycles": len(result.cycles),
        "symbols": [str(s) for s in result.symbols],
        "trades": len(result.trades),
        "fills": len(result.fills),
        "fees": str(result.fees.quantize(Decimal("0.01"))),
        "initial_equity": str(result.initial_equity),
        "final_equity": str(result.final_equity.quantize(Decimal("0.01"))),
        "return_pct": str(result.return_pct.quantize(Decimal("0.0001"))),
        "max_drawdown_pct": str(result.drawdown.max_drawdown_pct.quantize(Decimal("0.0001"))),
        "sharpe": None if result.sharpe is None else round(result.sharpe, 4),
        "win_rate": None if result.win_rate is None else round(result.win_rate, 4),
        "elapsed_s": round(result.elapsed_s, 3),
        "cycles_per_s": round(result.cycles_per_s, 1),
    }


FILL_FIELDS = (
    "run_id", "trade_id", "client_order_id", "symbol", "side", "price", "quantity", "fee",
    "fee_asset", "liquidity", "ts",
)  # fmt: skip
TRADE_FIELDS = (
    "run_id", "symbol", "opened_at", "closed_at", "quantity", "entry_price", "exit_price", "pnl",
    "fees",
)  # fmt: skip
CYCLE_FIELDS = (
    "run_id", "seq", "ts", "mode", "mode_reasons", "equity", "cash", "drawdown_pct", "universe",
    "intents", "orders", "denials", "fills", "events",
)  # fmt: skip
SIX_PLACES = Decimal("0.000001")


def _fill_rows(run: BacktestRun, result: BacktestResult) -> Iterator[tuple]:
    """Rows of :data:`FILL_FIELDS`, one per fill."""
    for f in result.fills:
        yield (
            run.pk, f.trade_id, f.client_order_id, str(f.symbol), f.side.value, f.price,
            f.quantity, f.fee, f.fee_asset, f.liquidity.value, _dt(f.ts_ms),
        )  # fmt: skip


def _trade_rows(run: BacktestRun, result: BacktestResult) -> Iterator[tuple]:
    """Rows of :data:`TRADE_FIELDS`, one per round trip."""
    for t in result.trades:
        yield (
            run.pk, str(t.symbol), _dt(t.opened_ms), _dt(t.closed_ms), t.quantity, t.entry_price,
            t.exit_price, t.pnl, t.fees,
        )  # fmt: skip


def backtest_series_store(*, run: BacktestRun, log: CycleLog) -> BacktestSeries:
    """Store every cycle's time, equity, cash, drawdown and mode of ``log`` as ``run``'s
    compact series (``replay.domain.series``); returns the row."""
    encoded = series_encode(
        log.now_ms,
        log.equity,
        log.cash,
        log.drawdown_pct,
        log.modes,
        time_deltas=numpy_series.little_endian_deltas,
    )
    return BacktestSeries.objects.create(
        run=run,
        points=encoded.points,
        now_ms=encoded.now_ms,
        equity=encoded.equity,
        cash=encoded.cash,
        drawdown_pct=encoded.drawdown_pct,
        modes=encoded.modes,
        mode_names=encoded.mode_names,
    )


def _cycle_rows(run: BacktestRun, result: BacktestResult) -> Iterator[tuple]:
    """Rows of :data:`CYCLE_FIELDS`, one per cycle worth a row (decisions as JSON lists):
    :meth:`~replay.domain.cycle_log.CycleLog.rows`; the series holds the other cycles."""
    universes: dict[tuple | None, JsonText] = {None: JsonText("[]")}
    run_id = run.pk
    for c in result.cycles.rows():
        universe_json = universes.get(c.universe)
        if universe_json is None:  # encoded once per distinct universe, not per row
            universe_json = JsonText(json.dumps([str(s) for s in c.universe]))
            universes[c.universe] = universe_json
        orders = [_order_json(o) for o in c.orders] + [_cancel_json(x) for x in c.cancels]
        yield (
            run_id, c.seq, _dt(c.now_ms), c.mode, list(c.mode_reasons), c.equity, c.cash,
            c.drawdown_pct.quantize(SIX_PLACES), universe_json,
            [_intent_json(i) for i in c.intents], orders, [d.as_dict() for d in c.denials],
            c.fills, list(c.events),
        )  # fmt: skip


def _param_sets_store(run: BacktestRun, result: BacktestResult) -> None:
    """One ``ParamSet`` row per parameter version of an adapting run (final statuses)."""
    rows: dict[int, ParamSet] = {}
    for version in result.param_versions:
        rows[version.number] = ParamSet.objects.create(
            backtest_run=run,
            version=version.number,
            params={name: str(version.params[name]) for name in sorted(version.params)},
            parent=rows.get(version.parent) if version.parent is not None else None,
            status=version.status.value,
            reason=version.reason,
            created_ms=version.created_ms,
        )


def _intent_json(intent) -> dict[str, object]:
    return {
        "strategy": intent.strategy,
        "symbol": str(intent.symbol),
        "side": intent.side.value,
        "policy": intent.price_policy.value,
        "reason": intent.reason,
        "quantity": _s(intent.quantity),
        "notional": _s(intent.notional),
        "limit_price": _s(intent.limit_price),
    }


def _order_json(order) -> dict[str, object]:
    return {
        "action": "submit",
        "client_order_id": order.client_order_id,
        "symbol": str(order.symbol),
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": _s(order.quantity),
        "price": _s(order.price),
        "quote_amount": _s(order.quote_amount),
        "reason": order.reason,
    }


def _cancel_json(cancel) -> dict[str, object]:
    return {
        "action": "cancel",
        "client_order_id": cancel.order.client_order_id,
        "symbol": str(cancel.order.symbol),
        "side": cancel.order.side.value,
        "reason": cancel.reason,
    }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
