"""A running backtest's progress as the run page reads it: the engine reports about every 1 % of
its cycles, the service stores ``progress_pct`` at a bounded rate, a completed run is at 100."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig, run_backtest
from replay.models import BacktestRun, Dataset, RunStatus
from replay.services.backtests import BacktestRequest, ProgressRecorder, backtest_run
from replay.services.datasets import dataset_import
from trading.domain.risk import RiskLimits
from trading.domain.strategies.registry import build_strategy
from trading.domain.venue import FillModel
from trading.exchange.simulated import SimulatedExchange
from trading.services.execution import plan_execute

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
END = datetime.fromisoformat("2024-01-08T00:00:00Z")  # 2,016 cycles

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset() -> Dataset:
    return dataset_import(path=SAMPLE, name="usdt").dataset


def running_run(dataset: Dataset) -> BacktestRun:
    return BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(1000),
        status=RunStatus.RUNNING,
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_engine_reports_about_every_percent_by_default() -> None:
    config = BacktestConfig(
        strategy=build_strategy("sma_cross", {}),
        limits=RiskLimits(),
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(100_000),
        fill_model=FillModel.BAR,
        end_ms=int(END.timestamp() * 1000),
        account="backtest",
    )
    calls: list[tuple[int, int]] = []

    run_backtest(
        load_dataset(SAMPLE),
        config,
        execute=plan_execute,
        port=SimulatedExchange,
        progress=lambda done, total: calls.append((done, total)),
    )

    assert {total for _, total in calls} == {2016}
    assert calls[0][0] == 0 and calls[-1][0] == 2016
    assert 10 <= len(calls) <= 102  # quiet stretches are skipped in one step
    steps = [b - a for (a, _), (b, _) in zip(calls, calls[1:-1], strict=False)]
    assert min(steps) >= 20  # 2016 // 100 cycles apart at least


def test_the_recorder_writes_each_new_percent_at_most_every_interval(dataset: Dataset) -> None:
    run = running_run(dataset)
    clock = FakeClock()
    seen: list[tuple[int, int]] = []
    recorder = ProgressRecorder(
        run.pk, forward=lambda d, t: seen.append((d, t)), min_interval_s=0.5, clock=clock
    )

    def stored() -> int:
        return BacktestRun.objects.get(pk=run.pk).progress_pct

    recorder(0, 1000)
    assert stored() == 0  # nothing done yet: no write
    clock.now = 0.3
    recorder(10, 1000)
    assert stored() == 0  # the first percent, but too soon after the start
    clock.now = 0.5
    recorder(20, 1000)
    assert stored() == 2  # an interval after the start
    clock.now = 0.7
    recorder(500, 1000)
    assert stored() == 2  # too soon after the last write
    clock.now = 1.0
    recorder(510, 1000)
    assert stored() == 51
    clock.now = 1.1
    recorder(1000, 1000)
    assert stored() == 100  # the end is always written
    assert seen == [(0, 1000), (10, 1000), (20, 1000), (500, 1000), (510, 1000), (1000, 1000)]


def test_the_recorder_leaves_a_run_that_is_no_longer_running(dataset: Dataset) -> None:
    run = running_run(dataset)
    BacktestRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)

    ProgressRecorder(run.pk)(50, 100)

    assert BacktestRun.objects.get(pk=run.pk).progress_pct == 0


def test_a_completed_run_is_at_100_percent(dataset: Dataset) -> None:
    run = backtest_run(
        request=BacktestRequest(
            dataset=dataset,
            strategy="sma_cross",
            params={},
            risk={},
            fill_model=FillModel.BAR,
            fee_maker_bps=Decimal(10),
            fee_taker_bps=Decimal(20),
            initial_cash=Decimal(100_000),
            end=END,
        )
    )

    run.refresh_from_db()
    assert (run.status, run.progress_pct) == (RunStatus.COMPLETED, 100)
