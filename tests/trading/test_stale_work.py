"""Interrupted work (meva.interrupts, trading.services.stale_work): SIGTERM and Ctrl-C record a
running cycle or backtest as failed; rows a dead process left running are swept by age."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from meva.interrupts import Interrupted, terminate_interrupts
from replay.models import BacktestRun, RunStatus
from replay.services.backtests import BacktestRequest, backtest_run
from replay.services.datasets import dataset_import
from trading.domain.venue import FillModel
from trading.models import Cycle, CycleStatus
from trading.services.stale_work import stale_work_sweep

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def test_sigterm_inside_the_block_raises_interrupted_and_outside_it_does_not() -> None:
    with (
        pytest.raises(Interrupted, match="INTERRUPTED: received SIGTERM"),
        terminate_interrupts(),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts the sleep
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert issubclass(Interrupted, KeyboardInterrupt)


@pytest.fixture
def dataset():
    return dataset_import(path=SAMPLE, name="usdt").dataset


def _request(dataset) -> BacktestRequest:
    return BacktestRequest(
        dataset=dataset,
        strategy="sma_cross",
        params={"fast": 5, "slow": 20},
        risk={},
        fill_model=FillModel.BAR,
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(10_000),
    )


@pytest.mark.django_db
def test_a_backtest_interrupted_by_sigterm_is_recorded_failed(dataset) -> None:
    def progress(done: int, total: int) -> None:
        if done * 2 >= total:
            raise Interrupted(signal.SIGTERM)

    with pytest.raises(Interrupted):
        backtest_run(request=_request(dataset), progress=progress)

    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED and "INTERRUPTED: received SIGTERM" in run.error
    assert run.finished_at is not None and run.heartbeat_at is not None


def _cycle(status: str, heartbeat: dt.datetime | None, started: dt.datetime | None) -> Cycle:
    return Cycle.objects.create(
        account="a", mode="paper", status=status, heartbeat_at=heartbeat, started_at=started
    )


@pytest.mark.django_db
def test_cycles_running_past_their_lock_ttl_are_swept_and_live_ones_kept() -> None:
    dead = _cycle(CycleStatus.RUNNING, NOW - dt.timedelta(seconds=301), NOW - dt.timedelta(hours=1))
    no_heartbeat = _cycle(CycleStatus.RUNNING, None, NOW - dt.timedelta(minutes=10))
    alive = _cycle(CycleStatus.RUNNING, NOW - dt.timedelta(seconds=100), NOW)
    done = _cycle(CycleStatus.COMPLETED, NOW - dt.timedelta(hours=2), NOW - dt.timedelta(hours=2))

    assert stale_work_sweep(now=NOW) == {"cycles": 2, "backtests": 0}

    for row in (dead, no_heartbeat, alive, done):
        row.refresh_from_db()
    assert dead.status == no_heartbeat.status == CycleStatus.FAILED
    assert dead.error.startswith("INTERRUPTED: no heartbeat") and dead.finished_at == NOW
    assert alive.status == CycleStatus.RUNNING and done.status == CycleStatus.COMPLETED
    assert stale_work_sweep(now=NOW) == {"cycles": 0, "backtests": 0}  # idempotent


@pytest.mark.django_db
def test_backtests_without_a_recent_heartbeat_are_swept(dataset, settings) -> None:
    settings.BACKTEST_STALE_AFTER_S = 1800

    def run(status: str, heartbeat_age_s: float | None) -> BacktestRun:
        row = BacktestRun.objects.create(
            dataset=dataset,
            dataset_fingerprint=dataset.fingerprint,
            strategy="sma_cross",
            fill_model="bar",
            fee_maker_bps=10,
            fee_taker_bps=20,
            initial_cash=10_000,
            status=status,
            started_at=NOW - dt.timedelta(hours=3),
        )
        if heartbeat_age_s is not None:
            BacktestRun.objects.filter(pk=row.pk).update(
                heartbeat_at=NOW - dt.timedelta(seconds=heartbeat_age_s)
            )
        return row

    stale, fresh, pending = run("running", 1801), run("running", 60), run("pending", None)
    out = StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: NOW)
        call_command("sweep_stale", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {"backtests": 1, "cycles": 0}
    for row in (stale, fresh, pending):
        row.refresh_from_db()
    assert stale.status == RunStatus.FAILED and "INTERRUPTED" in stale.error
    assert fresh.status == RunStatus.RUNNING and pending.status == RunStatus.PENDING


@pytest.mark.django_db
def test_a_cycle_interrupted_by_sigterm_is_recorded_failed_and_the_signal_propagates(
    monkeypatch,
) -> None:
    from django.test import override_settings

    from replay.domain.dataset import load_dataset
    from trading.exchange.sandbox import start_sandbox
    from trading.services import cycle as cycle_module
    from trading.services.accounts import account_create

    sandbox = start_sandbox(
        load_dataset(SAMPLE.parent / "try-1m"),
        balances={"TRY": Decimal(100_000)},
        warmup_steps=40,
        publish_interval_s=3600.0,
    )
    try:
        with override_settings(
            BTCTURK_BASE_URL=sandbox.base_url,
            BTCTURK_GRAPH_URL=sandbox.graph_url,
            TRADING_CLOCK="exchange",
        ):
            account_create(
                name="cut",
                mode="paper",
                strategy="sma_cross",
                symbols=["BTC_TRY"],
                balances={"TRY": 1000},
                actor="test",
            )

            def interrupted(inputs):
                raise Interrupted(signal.SIGTERM)

            monkeypatch.setattr(cycle_module, "plan_cycle", interrupted)
            cycle_module.reconciled_accounts_forget()
            with pytest.raises(Interrupted):
                cycle_module.cycle_run(account_name="cut", actor="test")
    finally:
        sandbox.stop(wait=False)
        cycle_module.reconciled_accounts_forget()

    cycle = Cycle.objects.get(account="cut")
    assert cycle.status == CycleStatus.FAILED
    assert "INTERRUPTED: received SIGTERM" in cycle.error and cycle.finished_at is not None
