"""Read-side queries for parameter sweeps: a sweep's runs ranked by its metric (the command's
table, the admin page and the API share them).

Percentages are percent (``12.5`` = 12.5 %); Sharpe is annualized as the run stores it.
"""

from __future__ import annotations

from dataclasses import dataclass

from replay.domain.sweeps import RankedRow, SweepMetric, rank
from replay.models import BacktestRun, Sweep


@dataclass(frozen=True, slots=True)
class RankedRun:
    """One combination of a sweep in ranking order: ``rank`` from 1; ``params`` only the
    grid's parameters (what varies), as the run stored them."""

    rank: int
    params: dict[str, object]
    run: BacktestRun


def sweep_ranking(*, sweep: Sweep, metric: SweepMetric | str | None = None) -> list[RankedRun]:
    """Every run of ``sweep``, best first by ``metric`` (default: the sweep's own). Max
    drawdown ranks lowest first, return and Sharpe highest first; runs without a value
    (failed, not finished, a Sharpe over too few returns) come last; ties by run id."""
    chosen = SweepMetric(metric or sweep.metric)
    runs = {run.pk: run for run in BacktestRun.objects.filter(sweep=sweep)}
    rows = [
        RankedRow(
            run_id=run.pk,
            return_pct=run.return_pct,
            sharpe=run.sharpe,
            max_drawdown_pct=run.max_drawdown_pct,
        )
        for run in runs.values()
    ]
    return [
        RankedRun(rank=index, params=sweep_point(sweep, runs[row.run_id]), run=runs[row.run_id])
        for index, row in enumerate(rank(rows, chosen), start=1)
    ]


def sweep_point(sweep: Sweep, run: BacktestRun) -> dict[str, object]:
    """The run's values of the sweep's grid parameters, in grid order."""
    return {key: run.params.get(key) for key in sweep.grid}
