"""The backtest pages in chromium: a run's equity and drawdown charts drawn with axes, two runs
compared on one chart, the trades list without horizontal scrolling, a backtest started from the
form (Celery eager: it runs in the request), and a running run's page following its progress.

Runs come from the real backtest service over a week of ``data/sample/usdt-5m``. Screenshots:
``var/screenshots/backtest_*.png``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from replay.models import BacktestRun, Dataset, RunStatus
from replay.services.backtests import BacktestRequest, backtest_run
from replay.services.datasets import dataset_import
from trading.domain.venue import FillModel

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
END = datetime.fromisoformat("2024-01-08T00:00:00Z")

pytestmark = pytest.mark.django_db(transaction=True)

CHART = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  if (!chart) return null;
  const axis = (s) => ({type: s.type, title: s.options.title.text, ticks: s.ticks.map(t => String(t.label))});
  return {
    scales: Object.fromEntries(Object.entries(chart.scales).map(([k, s]) => [k, axis(s)])),
    datasets: chart.data.datasets.map(d => ({label: d.label, points: d.data.length})),
    legend: chart.options.plugins.legend.display,
    width: chart.width, height: chart.height,
  };
}"""


@pytest.fixture
def dataset() -> Dataset:
    return dataset_import(path=SAMPLE, name="sample-usdt-5m").dataset


def make_run(dataset: Dataset, cash: str = "100000", **params) -> BacktestRun:
    return backtest_run(
        request=BacktestRequest(
            dataset=dataset,
            strategy="sma_cross",
            params=params,
            risk={},
            fill_model=FillModel.BAR,
            fee_maker_bps=Decimal(10),
            fee_taker_bps=Decimal(20),
            initial_cash=Decimal(cash),
            max_volume_share=Decimal("0.10"),
            end=END,
        )
    )


def no_horizontal_scroll(page) -> bool:
    """Neither the page nor a changelist's results box scrolls sideways."""
    return page.evaluate(
        """() => document.documentElement.scrollWidth <= window.innerWidth &&
        [...document.querySelectorAll('.results')].every(e => e.scrollWidth <= e.clientWidth)"""
    )


def test_a_run_page_draws_equity_and_drawdown_with_axes(
    logged_in, live_server, dataset, screenshot
):
    run = make_run(dataset)
    page = logged_in

    page.goto(f"{live_server.url}/admin/replay/backtestrun/{run.pk}/change/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('equity-chart'))"
    )

    assert page.locator("h1").inner_text() == f"Backtest #{run.pk} · sample-usdt-5m · sma_cross"
    equity = page.evaluate(CHART, "equity-chart")
    assert set(equity["scales"]) == {"x", "y"}
    x, y = equity["scales"]["x"], equity["scales"]["y"]
    assert (x["type"], x["title"]) == ("linear", "date (UTC)")
    assert y["title"] == "equity (USDT)"
    assert len(x["ticks"]) >= 3 and all(t.startswith("2024-01-0") for t in x["ticks"])
    assert len(y["ticks"]) >= 3 and all("," in t or t.isdigit() for t in y["ticks"])
    assert [d["label"] for d in equity["datasets"]] == ["equity", "initial cash"]
    assert equity["datasets"][0]["points"] > 500
    assert equity["width"] > 800 and equity["height"] > 250
    drawdown = page.evaluate(CHART, "drawdown-chart")
    assert drawdown["scales"]["y"]["title"] == "drawdown (%)"
    assert all(t.endswith(" %") for t in drawdown["scales"]["y"]["ticks"])
    assert page.locator("#run-links a").count() == 3
    assert no_horizontal_scroll(page)
    screenshot(page, "backtest_run")


def test_two_runs_compared_on_one_chart(logged_in, live_server, dataset, screenshot):
    a, b = make_run(dataset), make_run(dataset, cash="50000", fast=3, slow=12)
    page = logged_in

    page.goto(f"{live_server.url}/admin/replay/backtestrun/")
    assert no_horizontal_scroll(page)
    screenshot(page, "backtest_runs")
    page.check(f"input[name=_selected_action][value='{a.pk}']")
    page.check(f"input[name=_selected_action][value='{b.pk}']")
    page.select_option("select[name=action]", "compare_runs")
    page.click("button[name=index]")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('compare-chart'))"
    )

    assert "/compare/?ids=" in page.url
    chart = page.evaluate(CHART, "compare-chart")
    assert [d["label"] for d in chart["datasets"]] == [
        f"#{a.pk} sample-usdt-5m · sma_cross",
        f"#{b.pk} sample-usdt-5m · sma_cross",
    ]
    assert chart["legend"] is True
    assert chart["scales"]["x"]["title"] == "date (UTC)"
    assert chart["scales"]["y"]["title"] == "return from start (%)"
    assert page.locator("#compare-table thead th").count() == 3  # metric + two runs
    assert page.locator("#compare-table td.bt-best").count() >= 3
    assert no_horizontal_scroll(page)
    screenshot(page, "backtest_compare")

    page.click("#compare-mode a[data-mode=equity]")
    chart = page.evaluate(CHART, "compare-chart")
    assert chart["scales"]["y"]["title"] == "equity (USDT)"
    assert "normalize=0" in page.url
    screenshot(page, "backtest_compare_equity")


def test_the_run_rows_fit_without_scrolling(logged_in, live_server, dataset, screenshot):
    run = make_run(dataset)
    page = logged_in

    page.click("text=Backtest runs")
    page.click(f"text=#{run.pk}")
    page.click("#run-links a:has-text('Trades')")

    assert (
        page.locator("h1").inner_text()
        == f"Trades of Backtest #{run.pk} · sample-usdt-5m · sma_cross"
    )
    assert no_horizontal_scroll(page)
    results = page.locator(".results").bounding_box()
    for column in ("column-pnl_text", "column-fees_text"):
        box = page.locator(f"th.{column}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= results["x"] + results["width"]
    assert page.locator("td.field-pnl_text .bt-pos, td.field-pnl_text .bt-neg").count() > 0
    screenshot(page, "backtest_trades")

    for name in ("fills", "cycles"):
        page.goto(f"{live_server.url}/admin/replay/backtest{name[:-1]}/?run__id__exact={run.pk}")
        assert no_horizontal_scroll(page), name
        screenshot(page, f"backtest_{name}")
    page.goto(f"{live_server.url}/admin/replay/backtesttrade/")  # every run: with its column
    assert no_horizontal_scroll(page)


def test_a_backtest_started_from_the_form_opens_its_page(
    logged_in, live_server, dataset, screenshot, no_broker
):
    page = logged_in

    page.goto(f"{live_server.url}/admin/replay/backtestrun/")
    page.click("#start-backtest")
    page.select_option("#id_strategy", "mean_reversion")
    page.fill("#id_params", '{"window": 0}')
    page.fill("#id_end", "2024-01-03 00:00")
    page.click("input[name=_start]")

    assert (
        "parameter 'window' must be >= 2" in page.locator(".field-params .errorlist").inner_text()
    )
    screenshot(page, "backtest_start_error")

    page.fill("#id_params", '{"window": 12}')
    page.fill("#id_reason", "browser test")
    page.click("input[name=_start]")
    page.wait_for_url("**/change/")

    run = BacktestRun.objects.get()
    assert run.status == RunStatus.COMPLETED  # no broker: Celery ran it in the request
    assert (
        page.locator("h1").inner_text() == f"Backtest #{run.pk} · sample-usdt-5m · mean_reversion"
    )
    assert page.locator("#run-status-text").inner_text() == "completed"
    screenshot(page, "backtest_started")


def test_a_running_run_page_follows_its_progress(logged_in, live_server, dataset, screenshot):
    run = BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(1000),
        status=RunStatus.RUNNING,
        progress_pct=30,
    )
    page = logged_in

    page.goto(f"{live_server.url}/admin/replay/backtestrun/{run.pk}/change/")
    assert page.locator("#run-progress-text").inner_text() == "30 %"
    screenshot(page, "backtest_running")

    BacktestRun.objects.filter(pk=run.pk).update(progress_pct=64)
    page.wait_for_function("() => document.getElementById('run-progress').value === 64")
    BacktestRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="stopped")
    page.wait_for_function(
        "() => document.getElementById('run-status-text').textContent === 'failed'"
    )
    assert page.locator(".bt-error").inner_text() == "stopped"
