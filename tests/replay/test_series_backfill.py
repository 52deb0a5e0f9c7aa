"""Migration ``replay.0005``: runs stored before it (one cycle row per cycle, no series) get
their series from their rows, so their curves read the same way as new runs'."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.apps import apps

from replay.models import BacktestCycle, BacktestRun, BacktestSeries, Dataset, RunStatus
from replay.selectors import backtest_curve

pytestmark = pytest.mark.django_db
migration = importlib.import_module("replay.migrations.0005_backtest_series")
START = datetime(2024, 1, 1, tzinfo=UTC)


def old_run(dataset: Dataset, status: str, equity: list[str]) -> BacktestRun:
    run = BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=D(10),
        fee_taker_bps=D(10),
        initial_cash=D(equity[0]) if equity else D(1),
        status=status,
        cycles=len(equity),
    )
    BacktestCycle.objects.bulk_create(
        BacktestCycle(
            run=run,
            seq=i,
            ts=START + timedelta(minutes=i),
            mode="OBSERVE_ONLY" if i == 2 else "NORMAL",
            equity=D(e),
            cash=D(1),
            drawdown_pct=D(i),
        )
        for i, e in enumerate(equity)
    )
    return run


def test_completed_runs_get_a_series_from_their_cycle_rows() -> None:
    dataset = Dataset.objects.create(
        name="old",
        path="/nowhere",
        fingerprint="f" * 64,
        quote_asset="USDT",
        interval_ms=60_000,
        first_ts=START,
        last_ts=START + timedelta(minutes=3),
        bar_count=4,
        rules_source="defaults",
    )
    done = old_run(dataset, RunStatus.COMPLETED, ["100", "101.5", "99.25", "102"])
    failed = old_run(dataset, RunStatus.FAILED, ["100"])

    migration.series_backfill(apps, None)

    assert not BacktestSeries.objects.filter(run=failed).exists()
    curve = backtest_curve(run=done, max_points=10)
    assert [p.equity for p in curve] == [D("100"), D("101.5"), D("99.25"), D("102")]
    assert [p.drawdown_pct for p in curve] == [D(0), D(1), D(2), D(3)]
    first = int(START.timestamp() * 1000)
    assert [p.ts_ms for p in curve] == [first + i * 60_000 for i in range(4)]
    assert BacktestSeries.objects.get(run=done).mode_names == ["NORMAL", "OBSERVE_ONLY"]
