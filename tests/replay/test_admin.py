"""The admin as an operator sees it: every changelist opens, a backtest run shows its equity
curve, a dataset lists its symbols and gaps, and result rows cannot be added by hand.

Also the equity-curve selector behind the chart (downsampling and scaling).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
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
from replay.models import BacktestCycle, BacktestRun, Dataset, RunStatus
from replay.selectors import backtest_equity_chart
from trading.domain.orders import Side
from trading.domain.symbols import Symbol
from trading.models import (
    Candle,
    Cycle,
    Instrument,
    Order,
    PaperBalance,
    PaperOrder,
    PaperTrade,
    PaperVenue,
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
    admin_client: Client, run: BacktestRun, operations: None, label: str
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


def test_a_run_page_shows_the_equity_curve_as_an_svg_polyline(
    admin_client: Client, run: BacktestRun
) -> None:
    response = admin_client.get(admin_url("replay.backtestrun", "change", run.pk))

    assert response.status_code == 200
    html = response.content.decode()
    svg = re.search(r'<svg id="equity-curve".*?</svg>', html, re.S)
    assert svg is not None
    points = re.search(r'<polyline[^>]*points="([^"]+)"', svg.group(0))
    assert points is not None
    pairs = points.group(1).split()
    assert len(pairs) == run.cycles == 60
    assert all(re.fullmatch(r"-?\d+(\.\d+)?,-?\d+(\.\d+)?", p) for p in pairs)
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
    assert 'id="equity-curve"' not in html
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


def run_with_equity(dataset: Dataset, equity: list[str]) -> BacktestRun:
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
    start = datetime(2024, 1, 1, tzinfo=UTC)
    BacktestCycle.objects.bulk_create(
        BacktestCycle(
            run=run,
            seq=i,
            ts=start + timedelta(minutes=5 * i),
            mode="NORMAL",
            equity=D(e),
            cash=D(e),
            drawdown_pct=D(0),
        )
        for i, e in enumerate(equity)
    )
    return run


def test_the_chart_scales_the_highest_equity_to_the_top_and_the_lowest_to_the_bottom(
    dataset: Dataset,
) -> None:
    chart = backtest_equity_chart(
        run=run_with_equity(dataset, ["100", "150", "50", "100"]), width=300, height=110
    )

    assert chart is not None
    assert chart.points == "0.0,55.0 100.0,5.0 200.0,105.0 300.0,55.0"
    assert (chart.low, chart.high, chart.samples) == (D(50), D(150), 4)
    assert chart.first_ts == "2024-01-01T00:00:00+00:00"
    assert chart.last_ts == "2024-01-01T00:15:00+00:00"


def test_a_flat_equity_curve_draws_a_line_not_a_division_by_zero(dataset: Dataset) -> None:
    chart = backtest_equity_chart(run=run_with_equity(dataset, ["100"] * 5), height=110)

    assert chart is not None
    assert {p.split(",")[1] for p in chart.points.split()} == {"5.0"}


@pytest.mark.parametrize(("cycles", "max_points"), [(25, 10), (20, 10), (801, 800), (2000, 800)])
def test_the_chart_keeps_at_most_max_points_including_the_last_cycle(
    dataset: Dataset, cycles: int, max_points: int
) -> None:
    run = run_with_equity(dataset, [str(1000 + i % 17) for i in range(cycles)])

    chart = backtest_equity_chart(run=run, max_points=max_points)

    assert chart is not None
    assert chart.samples <= max_points
    assert chart.samples >= max_points // 2
    last = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * (cycles - 1))
    assert chart.last_ts == last.isoformat()
    assert chart.points.split()[-1].startswith(f"{chart.width}.0,")


def test_a_run_without_cycles_has_no_chart(dataset: Dataset) -> None:
    empty = run_with_equity(dataset, ["100"])
    BacktestCycle.objects.filter(run=empty).delete()

    assert backtest_equity_chart(run=empty) is None
