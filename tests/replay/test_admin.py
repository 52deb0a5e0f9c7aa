"""The admin as an operator sees it: every changelist opens, a backtest run shows its equity
curve, a dataset lists its symbols and gaps, and result rows cannot be added by hand.

Also the curve selector behind the run page's charts (downsampling, worst drawdown kept).
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from ledger.domain.fills import Fill
from ledger.models import EquitySnapshot
from ledger.services import fill_record
from replay.domain.cycle_log import CycleLog, CycleRecord
from replay.models import BacktestRun, BacktestSeries, Dataset, RunStatus, Sweep
from replay.selectors import backtest_curve
from replay.services.backtests import backtest_series_store
from trading.domain.orders import Side
from trading.domain.symbols import Symbol
from trading.models import (
    Account,
    Candle,
    Cycle,
    Instrument,
    Order,
    PaperBalance,
    PaperOrder,
    PaperTrade,
    PaperVenue,
    ParamSet,
    TradingControl,
)
from trading.services.accounts import account_create
from trading.services.alerts import alert_raise

pytestmark = pytest.mark.django_db

D = Decimal
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP = 300_000
APPS = ("trading", "ledger", "replay")
RESULT_MODELS = (
    "replay.backtestrun",
    "replay.backtestfill",
    "replay.backtesttrade",
    "replay.backtestcycle",
    "replay.dataset",
    "replay.sweep",
    "ledger.ledgerfill",
    "ledger.ledgerentry",
    "ledger.position",
    "ledger.equitysnapshot",
    "trading.order",
    "trading.cycle",
)


def write_dataset(root: Path) -> Path:
    """BTC_TRY with 60 bars of a saw-tooth, and ETH_TRY missing bars 20..22 (one gap of 3)."""
    for pair, base, skip in (("BTC_TRY", 1000, ()), ("ETH_TRY", 100, (20, 21, 22))):
        lines = ["ts,open,high,low,close,volume"]
        for i in range(60):
            if i in skip:
                continue
            price = base + (i % 9) * base // 100 - (i % 4) * base // 200
            lines.append(f"{T0 + i * STEP},{price},{price},{price},{price},10")
        path = root / "candles" / f"{pair}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    root = write_dataset(tmp_path / "saw")
    call_command("import_dataset", str(root), "--name", "saw", stdout=io.StringIO())
    return Dataset.objects.get(name="saw")


@pytest.fixture
def run(dataset: Dataset) -> BacktestRun:
    call_command(
        "backtest",
        "--dataset",
        "saw",
        "--strategy",
        "sma_cross",
        "--params",
        '{"fast": 2, "slow": 5}',
        "--risk",
        '{"cooldown_ms": 0}',
        "--json",
        stdout=io.StringIO(),
    )
    return BacktestRun.objects.get()


@pytest.fixture
def sweep(run: BacktestRun) -> Sweep:
    """A sweep of two combinations on the same dataset, made after ``run``."""
    call_command(
        "backtest_sweep",
        "--dataset",
        "saw",
        "--strategy",
        "sma_cross",
        "--params",
        '{"slow": 5}',
        "--grid",
        '{"fast": [2, 3]}',
        "--json",
        stdout=io.StringIO(),
    )
    return Sweep.objects.get()


@pytest.fixture
def operations() -> None:
    """One row of each trading and ledger model, so changelists render real rows."""
    Instrument.objects.create(
        symbol="BTC_TRY",
        base="BTC",
        quote="TRY",
        pair="BTCTRY",
        tick_size=D("1"),
        step_size=D("0.00000001"),
        min_notional=D("99.91"),
    )
    TradingControl.load()
    Order.objects.create(
        account="paper",
        client_order_id="mv-BTCTRY-b-1-abc",
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=D("1000000"),
        quantity=D("0.01"),
    )
    Cycle.objects.create(account="paper", mode="paper", status="completed")
    fill = Fill(
        "paper-t1", "mv-BTCTRY-b-1-abc", Symbol("BTC", "TRY"), Side.BUY,
        D("1000000"), D("0.01"), D("20"), "TRY", T0,
    )  # fmt: skip
    fill_record(account="paper", fill=fill)
    EquitySnapshot.objects.create(
        account="paper", ts=datetime(2024, 1, 1, tzinfo=UTC), equity=D(100), cash=D(80)
    )
    account_create(  # also writes an audit event
        name="paper",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": "100"},
        actor="command:test",
    )
    alert_raise(kind="BALANCE_DRIFT", severity="warning", message="drift", account="paper")
    Candle.objects.create(
        symbol="BTC_TRY", interval_s=60, ts_ms=T0, open=1, high=1, low=1, close=1, volume=1
    )
    PaperVenue.objects.create(account="paper")
    ParamSet.objects.create(
        account=Account.objects.get(name="paper"), version=1, params={"universe_size": "2"},
        status="good", reason="INITIAL",
    )  # fmt: skip
    PaperBalance.objects.create(account="paper", asset="TRY", free=D(80), locked=D(0))
    PaperOrder.objects.create(
        account="paper",
        order_id="1",
        client_order_id="mv-BTCTRY-b-1-abc",
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=D("1000000"),
        quantity=D("0.01"),
        created_ms=T0,
        status="FILLED",
    )
    PaperTrade.objects.create(
        account="paper",
        seq=1,
        trade_id="paper-t1",
        order_id="1",
        client_order_id="mv-BTCTRY-b-1-abc",
        symbol="BTC_TRY",
        side="buy",
        price=D("1000000"),
        quantity=D("0.01"),
        fee=D("20"),
        fee_asset="TRY",
        ts_ms=T0,
    )


def registered(app_labels: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{m._meta.app_label}.{m._meta.model_name}"
        for m in admin.site._registry
        if m._meta.app_label in app_labels
    )


def admin_url(label: str, view: str, *args: object) -> str:
    app, model = label.split(".")
    return reverse(f"admin:{app}_{model}_{view}", args=args)


# --- pages ---------------------------------------------------------------------------------


def test_every_trading_ledger_and_replay_model_is_registered() -> None:
    models = registered(APPS)

    assert set(RESULT_MODELS) <= set(models)
    assert "trading.tradingcontrol" in models


@pytest.mark.parametrize("label", registered(APPS))
def test_every_changelist_opens(
    admin_client: Client, run: BacktestRun, sweep: Sweep, operations: None, label: str
) -> None:
    response = admin_client.get(admin_url(label, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_the_run_changelist_shows_the_run_and_its_metrics(
    admin_client: Client, run: BacktestRun
) -> None:
    response = admin_client.get(admin_url("replay.backtestrun", "changelist"))

    assert response.status_code == 200
    assert reverse("admin:replay_backtestrun_change", args=[run.pk]) in response.content.decode()


def test_a_run_page_carries_its_equity_curve_for_the_chart(
    admin_client: Client, run: BacktestRun
) -> None:
    response = admin_client.get(admin_url("replay.backtestrun", "change", run.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<canvas id="equity-chart"' in html
    data = re.search(r'<script id="run-chart-data" type="application/json">(.*?)</script>', html)
    assert data is not None
    chart = json.loads(data.group(1))
    assert len(chart["x"]) == len(chart["equity"]) == run.cycles == 60
    assert chart["quote"] == "TRY"
    assert run.fingerprint in html


def test_a_run_without_cycles_says_so_instead_of_drawing(
    admin_client: Client, dataset: Dataset
) -> None:
    failed = BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=D(10),
        fee_taker_bps=D(20),
        initial_cash=D(1000),
        status=RunStatus.FAILED,
        error="RuntimeError: boom",
    )

    response = admin_client.get(admin_url("replay.backtestrun", "change", failed.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "No cycles recorded" in html
    assert 'id="equity-chart"' not in html
    assert "RuntimeError: boom" in html


def test_the_dataset_page_lists_its_symbols_and_gaps(
    admin_client: Client, dataset: Dataset
) -> None:
    page = admin_client.get(admin_url("replay.dataset", "change", dataset.pk))
    listing = admin_client.get(admin_url("replay.dataset", "changelist"))

    assert page.status_code == 200 and listing.status_code == 200
    html = page.content.decode()
    assert "BTC_TRY" in html and "ETH_TRY" in html
    assert "2024-01-01T01:40:00Z" in html  # ETH's first missing bar (bar 20)
    listed = listing.content.decode()
    assert "BTC_TRY, ETH_TRY" in listed
    assert "1 (3)" in listed  # one gap, three missing bars


@pytest.mark.parametrize("label", RESULT_MODELS)
def test_result_rows_cannot_be_added_by_hand(admin_client: Client, label: str) -> None:
    response = admin_client.get(admin_url(label, "add"))

    assert response.status_code == 403


def test_a_run_cannot_be_edited_through_its_page(admin_client: Client, run: BacktestRun) -> None:
    response = admin_client.post(
        admin_url("replay.backtestrun", "change", run.pk), {"status": "running"}
    )

    run.refresh_from_db()
    assert response.status_code == 403
    assert run.status == RunStatus.COMPLETED


# --- the equity-curve selector ----------------------------------------------------------------


def run_with_equity(
    dataset: Dataset, equity: list[str], drawdown: list[str] | None = None
) -> BacktestRun:
    """A completed run whose cycles ``STEP`` apart from ``T0`` have these equities and
    drawdowns (percent; zero when not given)."""
    run = BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=D(10),
        fee_taker_bps=D(20),
        initial_cash=D(equity[0]),
        status=RunStatus.COMPLETED,
        cycles=len(equity),
    )
    log = CycleLog()
    for i, e in enumerate(equity):
        log.append(
            CycleRecord(
                i,
                T0 + i * STEP,
                "NORMAL",
                (),
                D(e),
                D(e),
                D(drawdown[i] if drawdown else 0),
                None,
                (),
                (),
                (),
                (),
                0,
            )  # fmt: skip
        )
    backtest_series_store(run=run, log=log)
    return run


def test_the_curve_keeps_every_cycle_when_it_fits(dataset: Dataset) -> None:
    run = run_with_equity(dataset, ["100", "150", "50", "100"], drawdown=["0", "0", "66.6", "33.3"])

    curve = backtest_curve(run=run, max_points=10)

    assert [(p.ts_ms - T0) // STEP for p in curve] == [0, 1, 2, 3]
    assert [p.equity for p in curve] == [D(100), D(150), D(50), D(100)]
    assert [p.drawdown_pct for p in curve] == [D(0), D(0), D("66.6"), D("33.3")]


@pytest.mark.parametrize(("cycles", "max_points"), [(25, 10), (20, 10), (801, 800), (2000, 800)])
def test_the_curve_keeps_at_most_max_points_including_the_last_cycle(
    dataset: Dataset, cycles: int, max_points: int
) -> None:
    run = run_with_equity(dataset, [str(1000 + i % 17) for i in range(cycles)])

    curve = backtest_curve(run=run, max_points=max_points)

    assert max_points // 2 <= len(curve) <= max_points
    assert curve[0].ts_ms == T0
    assert curve[-1].ts_ms == T0 + (cycles - 1) * STEP
    assert [p.ts_ms for p in curve] == sorted({p.ts_ms for p in curve})


def test_a_downsampled_curve_keeps_the_worst_drawdown_between_its_points(
    dataset: Dataset,
) -> None:
    drawdown = ["0"] * 30
    drawdown[7] = "12.5"  # not a sampled cycle (0, 2, 5, 8, 11, ...: 29 * i // 10)
    run = run_with_equity(dataset, ["100"] * 30, drawdown=drawdown)

    curve = backtest_curve(run=run, max_points=11)

    assert [(p.ts_ms - T0) // STEP for p in curve][:5] == [0, 2, 5, 8, 11]
    assert [p.drawdown_pct for p in curve][:5] == [D(0), D(0), D(0), D("12.5"), D(0)]
    assert max(p.drawdown_pct for p in curve) == D("12.5")


def test_a_run_without_cycles_has_no_curve(dataset: Dataset) -> None:
    empty = run_with_equity(dataset, ["100"])
    BacktestSeries.objects.filter(run=empty).delete()  # as a run that never completed

    assert backtest_curve(run=empty) == []
