"""Read-side queries for replay results: a run's curve, its metrics at display precision, and
several runs side by side (the console's run and comparison pages).

Percentages are percent (``12.5`` = 12.5 %); money in the run's quote currency; times in epoch
milliseconds (UTC) where a chart needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from replay.domain.series import CurvePoint, series_curve
from replay.models import BacktestCycle, BacktestRun, BacktestSeries
from trading.models import ParamSet
from trading.templatetags.meva_numbers import DASH, format_money, format_qty

CURVE_POINTS = 1000
EVENTS_SHOWN = 500
COMPARE_MAX_RUNS = 10


def backtest_title(run: BacktestRun) -> str:
    """``Backtest #12 · sample-usdt-5m · sma_cross`` (reads ``run.dataset``)."""
    return f"Backtest #{run.pk} · {run.dataset.name} · {run.strategy}"


def backtest_quote(run: BacktestRun) -> str:
    """The run's quote currency (from its summary, else its dataset's)."""
    return str(run.summary.get("quote_asset") or run.dataset.quote_asset)


def backtest_curve(*, run: BacktestRun, max_points: int = CURVE_POINTS) -> list[CurvePoint]:
    """Equity and drawdown of ``run`` per cycle, evenly downsampled to at most ``max_points``
    (>= 2) points, first and last cycle kept, each point with the worst drawdown of the cycles
    it stands for (:func:`~replay.domain.series.series_curve`); ``[]`` when the run has no
    stored series (not completed). Reads the run's one :class:`~replay.models.BacktestSeries`
    row. Raises ``ValueError`` for ``max_points < 2`` and
    :class:`~replay.domain.series.SeriesError` for a corrupt series."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    series = BacktestSeries.objects.filter(run=run).first()
    if series is None:
        return []
    return series_curve(series.encoded(), max_points)


@dataclass(frozen=True, slots=True)
class Metric:
    """One summary metric of a run: ``value`` for comparing (``None`` when unknown), ``text``
    at display precision (no unit for counts), ``better`` ``"high"``, ``"low"`` or ``None``
    (not a quality: sizes, counts, speed)."""

    key: str
    label: str
    value: Decimal | float | int | None
    text: str
    better: str | None = None


def _number(value: object, places: int, unit: str = "") -> str:
    text = format_money(value, places)
    return text if text == DASH or not unit else f"{text} {unit}"


def _signed(value: object, places: int, unit: str = "") -> str:
    text = _number(value, places, unit)
    return f"+{text}" if value is not None and value > 0 else text


def backtest_metrics(run: BacktestRun) -> list[Metric]:
    """The run's summary at meaningful precision: money 2 places with the quote currency,
    percentages 2 places, Sharpe 2 places, counts as integers, timings in seconds.
    Metrics of a run that has not completed are ``None`` (shown as a dash)."""
    quote = backtest_quote(run)
    done = run.final_equity is not None
    pnl = run.final_equity - run.initial_cash if done else None
    win = None if run.win_rate is None else Decimal(str(run.win_rate)) * 100
    metrics = [
        Metric("net_pnl", "Net PnL", pnl, _signed(pnl, 2, quote), "high"),
        Metric("return_pct", "Return", run.return_pct, _signed(run.return_pct, 2, "%"), "high"),
        Metric(
            "max_drawdown_pct",
            "Max drawdown",
            run.max_drawdown_pct,
            _number(run.max_drawdown_pct, 2, "%"),
            "low",
        ),
        Metric("sharpe", "Sharpe (annualized)", run.sharpe, _number(run.sharpe, 2), "high"),
        Metric("win_rate", "Win rate", win, _number(win, 2, "%"), "high"),
        Metric("initial_cash", "Initial cash", run.initial_cash, _number(run.initial_cash, 2, quote)),
        Metric("final_equity", "Final equity", run.final_equity, _number(run.final_equity, 2, quote)),
        Metric("fees", "Fees paid", run.fees if done else None, _number(run.fees if done else None, 2, quote), "low"),
        Metric("trades", "Round trips", run.trades if done else None, _count(run.trades, done)),
        Metric("fills", "Fills", run.fills if done else None, _count(run.fills, done)),
        Metric("cycles", "Cycles", run.cycles if done else None, _count(run.cycles, done)),
        Metric("bars", "Bars (all symbols)", run.bars if done else None, _count(run.bars, done)),
        Metric("elapsed_s", "Engine time", run.elapsed_s, _number(run.elapsed_s, 2, "s")),
        Metric("persist_s", "Storing time", run.persist_s, _number(run.persist_s, 2, "s")),
        Metric("cycles_per_s", "Cycles per second", run.cycles_per_s, _number(run.cycles_per_s, 0)),
    ]  # fmt: skip
    return metrics


def _count(value: int, known: bool) -> str:
    return f"{value:,}" if known else DASH


@dataclass(frozen=True, slots=True)
class CompareCell:
    text: str
    best: bool = False


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One metric across runs: a cell per run, in the runs' order; ``best`` marks the best
    value(s) when the metric has a direction and at least two runs differ on it."""

    label: str
    cells: list[CompareCell]


@dataclass(frozen=True, slots=True)
class Comparison:
    runs: list[BacktestRun]
    rows: list[CompareRow]


def backtest_compare(*, ids: Sequence[int]) -> Comparison:
    """``ids`` (distinct, at most :data:`COMPARE_MAX_RUNS`) side by side, in that order:
    identity rows (dataset, strategy, parameters, fill model, fees, window) then every
    :func:`backtest_metrics` row. Raises ``BacktestRun.DoesNotExist`` naming missing ids."""
    found = BacktestRun.objects.select_related("dataset").in_bulk(list(ids))
    missing = [i for i in ids if i not in found]
    if missing:
        raise BacktestRun.DoesNotExist(f"no backtest runs {missing}")
    runs = [found[i] for i in ids]
    rows = [
        _text_row("Dataset", runs, lambda r: r.dataset.name),
        _text_row("Strategy", runs, lambda r: r.strategy),
        _text_row("Parameters", runs, lambda r: _params_text(r.params)),
        _text_row("Status", runs, lambda r: r.status),
        _text_row("Fill model", runs, lambda r: r.fill_model),
        _text_row(
            "Fees maker / taker",
            runs,
            lambda r: (
                f"{format_money(r.fee_maker_bps, 1)} / {format_money(r.fee_taker_bps, 1)} bps"
            ),
        ),
        _text_row("Window (UTC)", runs, window_text),
    ]
    per_run = [backtest_metrics(r) for r in runs]
    for index, first in enumerate(per_run[0]):
        metrics = [m[index] for m in per_run]
        rows.append(CompareRow(first.label, _best_cells(metrics, first.better)))
    return Comparison(runs=runs, rows=rows)


def _best_cells(metrics: list[Metric], better: str | None) -> list[CompareCell]:
    values = [m.value for m in metrics if m.value is not None]
    best = None
    if better is not None and len(values) >= 2 and len(set(values)) > 1:
        best = max(values) if better == "high" else min(values)
    return [CompareCell(m.text, best is not None and m.value == best) for m in metrics]


def _text_row(
    label: str, runs: list[BacktestRun], text: Callable[[BacktestRun], str]
) -> CompareRow:
    return CompareRow(label, [CompareCell(text(r)) for r in runs])


def _params_text(params: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items()) or DASH


def window_text(run: BacktestRun) -> str:
    """``first bar → 2024-01-08 00:00`` (UTC), or ``whole dataset``."""
    if run.start is None and run.end is None:
        return "whole dataset"
    start = "first bar" if run.start is None else f"{run.start:%Y-%m-%d %H:%M}"
    end = "last bar" if run.end is None else f"{run.end:%Y-%m-%d %H:%M}"
    return f"{start} → {end}"


@dataclass(frozen=True, slots=True)
class ParamVersionRow:
    """One parameter version of an adapting run, for the run page: ``changes`` the fields
    that differ from its parent as ``(name, before, after)`` texts."""

    version: int
    parent: int | None
    status: str
    reason: str
    created: str
    changes: list[tuple[str, str, str]]


def backtest_param_versions(run: BacktestRun) -> list[ParamVersionRow]:
    """The run's ``ParamSet`` rows, oldest first, each with its diff from its parent."""
    sets = list(ParamSet.objects.filter(backtest_run=run).order_by("version"))
    by_id = {p.pk: p for p in sets}
    rows = []
    for p in sets:
        parent = by_id.get(p.parent_id)
        before = parent.params if parent is not None else {}
        changes = [
            (name, format_qty(before.get(name)), format_qty(value))
            for name, value in sorted(p.params.items())
            if parent is not None and before.get(name) != value
        ]
        created = datetime.fromtimestamp(p.created_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        rows.append(
            ParamVersionRow(
                p.version,
                None if parent is None else parent.version,
                p.status,
                p.reason,
                created,
                changes,
            )  # fmt: skip
        )
    return rows


def backtest_events(run: BacktestRun, limit: int = EVENTS_SHOWN) -> list[tuple[str, int, str]]:
    """The first ``limit`` governed universe and adaptation events of the run as
    ``(time UTC, cycle, event text)``, in order."""
    rows = (
        BacktestCycle.objects.filter(run=run)
        .exclude(events=[])
        .order_by("seq")
        .values_list("ts", "seq", "events")
    )
    out: list[tuple[str, int, str]] = []
    for ts, seq, events in rows.iterator(chunk_size=500):
        for event in events:
            out.append((ts.strftime("%Y-%m-%d %H:%M"), seq, event))
            if len(out) >= limit:
                return out
    return out
