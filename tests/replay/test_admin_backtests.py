"""The console's backtest pages as an operator uses them (pytest-django client, logged in to the
admin): a run page (title, metrics at display precision, chart data, links to its rows with
counts), the trades list, the comparison page, and starting a backtest from a form.

Runs come from the real backtest service on a week of the bundled ``data/sample/usdt-5m``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from replay.models import BacktestCycle, BacktestRun, Dataset, RunStatus
from replay.services.backtests import BacktestRequest, backtest_run
from replay.services.datasets import dataset_import
from replay.tasks import backtest_run_task
from trading.domain.venue import FillModel
from trading.models import AuditEvent
from trading.templatetags.meva_numbers import format_money

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
END = datetime.fromisoformat("2024-01-08T00:00:00Z")  # one week: 2,016 cycles
PADDED = re.compile(r"\d\.\d{9,}")  # a number shown with 9+ decimals (stored precision)

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset() -> Dataset:
    return dataset_import(path=SAMPLE, name="usdt").dataset


def make_run(dataset: Dataset, strategy: str = "sma_cross", cash: str = "100000", **params):
    return backtest_run(
        request=BacktestRequest(
            dataset=dataset,
            strategy=strategy,
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


@pytest.fixture
def run(dataset: Dataset) -> BacktestRun:
    return make_run(dataset)


@pytest.fixture
def other(dataset: Dataset) -> BacktestRun:
    """A second run on the same data (more trades with faster averages)."""
    return make_run(dataset, cash="50000", fast=3, slow=12)


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def padded(html: str) -> str | None:
    """The first number shown with 9+ decimals outside scripts (chart data), or ``None``."""
    found = PADDED.search(re.sub(r"<script.*?</script>", "", html, flags=re.S))
    return None if found is None else found.group(0)


def run_url(run: BacktestRun) -> str:
    return reverse("admin:replay_backtestrun_change", args=[run.pk])


def metric(html: str, key: str) -> str:
    found = re.search(
        rf'bt-metric-{key}">\s*<div class="bt-metric-label">[^<]*</div>\s*'
        r'<div class="bt-metric-value[^"]*">([^<]*)</div>',
        html,
    )
    assert found is not None, f"metric {key} missing"
    return found.group(1)


def staff_with(django_user_model: type[User], username: str, *codenames: str) -> Client:
    """A logged-in staff client holding only ``codenames`` (replay permissions)."""
    user = django_user_model.objects.create_user(username=username, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


# --- the run page ---------------------------------------------------------------------------


def test_the_run_page_names_the_dataset_and_strategy_in_its_title(
    admin_client: Client, run: BacktestRun
) -> None:
    html = page(admin_client, run_url(run))

    title = f"Backtest #{run.pk} · usdt · sma_cross"
    assert f"<h1>{title}</h1>" in html
    assert f"<title>{title} |" in html


def test_the_run_page_shows_metrics_at_display_precision(
    admin_client: Client, run: BacktestRun
) -> None:
    html = page(admin_client, run_url(run))

    assert run.final_equity is not None and run.return_pct is not None
    assert run.return_pct < 0  # a week of sma_cross(10, 30) on the sample loses a little
    assert metric(html, "return_pct") == f"{run.return_pct.quantize(Decimal('0.01'))} %"
    pnl = run.final_equity - run.initial_cash
    assert metric(html, "net_pnl") == f"{format_money(pnl)} USDT"
    assert metric(html, "final_equity") == f"{format_money(run.final_equity)} USDT"
    assert metric(html, "initial_cash") == "100,000.00 USDT"
    assert metric(html, "max_drawdown_pct") == f"{format_money(run.max_drawdown_pct)} %"
    assert metric(html, "sharpe") == f"{run.sharpe:.2f}"
    assert metric(html, "trades") == f"{run.trades:,}"
    assert metric(html, "cycles") == "2,016"
    assert metric(html, "win_rate") == f"{Decimal(str(run.win_rate)) * 100:.2f} %"
    assert padded(html) is None


def test_the_run_page_links_to_its_trades_fills_and_cycles_with_counts(
    admin_client: Client, run: BacktestRun, other: BacktestRun
) -> None:
    html = page(admin_client, run_url(run))

    decision_cycles = BacktestCycle.objects.filter(run=run).count()
    assert 0 < decision_cycles < run.cycles == 2016  # quiet cycles are only in the series
    expected = {
        "backtesttrade": run.trades,
        "backtestfill": run.fills,
        "backtestcycle": decision_cycles,
    }
    for model, count in expected.items():
        url = f"/admin/replay/{model}/?run__id__exact={run.pk}"
        link = re.search(
            rf'<a href="{re.escape(url)}">[\w ]+ <span class="bt-count">([\d,]+)</span></a>', html
        )
        assert link is not None, model
        assert link.group(1) == f"{count:,}" and count > 0
        listing = admin_client.get(url)
        assert listing.status_code == 200
        assert listing.context["cl"].result_count == count
        assert {row.run_id for row in listing.context["cl"].result_list} == {run.pk}
        assert f"of Backtest #{run.pk} · usdt · sma_cross" in listing.content.decode()
    assert "Decision cycles <span" in html


def test_the_run_page_carries_the_curve_for_its_charts(
    admin_client: Client, run: BacktestRun
) -> None:
    html = page(admin_client, run_url(run))

    assert 'id="equity-chart"' in html and 'id="drawdown-chart"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    data = json.loads(re.search(r'id="run-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert 500 <= len(data["x"]) == len(data["equity"]) == len(data["drawdown"]) <= 1000
    assert data["x"] == sorted(data["x"])
    assert data["x"][0] == 1_704_067_500_000  # 2024-01-01T00:05Z: the first bar has closed
    assert data["initial_cash"] == 100000.0 and data["quote"] == "USDT"
    assert data["equity"][-1] == pytest.approx(float(run.final_equity))
    assert max(data["drawdown"]) <= 0
    assert min(data["drawdown"]) == pytest.approx(-float(run.max_drawdown_pct), abs=1e-6)


def test_a_failed_run_shows_its_error_and_no_chart(admin_client: Client, dataset: Dataset) -> None:
    failed = BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(1000),
        status=RunStatus.FAILED,
        error="RuntimeError: boom",
    )

    html = page(admin_client, run_url(failed))

    assert "No cycles recorded for this run." in html
    assert 'id="equity-chart"' not in html
    assert "RuntimeError: boom" in html
    assert "Metrics appear when the run has completed." in html
    assert 'id="run-metrics"' not in html
    assert 'data-running="false"' in html


def test_a_running_run_shows_its_progress_and_polls(admin_client: Client, dataset: Dataset) -> None:
    running = BacktestRun.objects.create(
        dataset=dataset,
        dataset_fingerprint=dataset.fingerprint,
        strategy="sma_cross",
        fill_model="bar",
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(1000),
        status=RunStatus.RUNNING,
        progress_pct=42,
    )

    html = page(admin_client, run_url(running))
    progress = admin_client.get(
        reverse("admin:replay_backtestrun_progress", args=[running.pk])
    ).json()

    assert 'data-running="true"' in html
    assert '<progress id="run-progress" max="100" value="42">' in html
    assert progress == {"status": "running", "progress_pct": 42, "done": False}


# --- the lists ------------------------------------------------------------------------------


def test_the_trades_list_shows_pnl_and_fees_formatted_and_colored(
    admin_client: Client, run: BacktestRun
) -> None:
    html = page(admin_client, f"/admin/replay/backtesttrade/?run__id__exact={run.pk}")

    trade = run.trade_rows.order_by("closed_at", "id").first()
    assert "Net PnL" in html and ">Fees<" in html
    sign = "pos" if trade.pnl > 0 else "neg"
    shown = format_money(trade.pnl)
    assert f'class="bt-{sign}"' in html
    assert (f"+{shown}" if trade.pnl > 0 else shown) in html
    assert format_money(trade.fees) in html
    assert padded(html) is None


@pytest.mark.parametrize("model", ["backtestrun", "backtestfill", "backtestcycle", "dataset"])
def test_replay_lists_show_no_padded_decimals(
    admin_client: Client, run: BacktestRun, model: str
) -> None:
    html = page(admin_client, f"/admin/replay/{model}/")

    assert padded(html) is None


def test_row_pages_show_no_padded_decimals(admin_client: Client, run: BacktestRun) -> None:
    for model, row in (
        ("backtesttrade", run.trade_rows.first()),
        ("backtestfill", run.fill_rows.first()),
        ("backtestcycle", run.cycle_rows.last()),
    ):
        html = page(admin_client, reverse(f"admin:replay_{model}_change", args=[row.pk]))
        assert padded(html) is None, model


# --- comparison -----------------------------------------------------------------------------


def compare_url(*runs: BacktestRun, normalize: str | None = None) -> str:
    url = f"{reverse('admin:replay_backtestrun_compare')}?ids={','.join(str(r.pk) for r in runs)}"
    return url if normalize is None else f"{url}&normalize={normalize}"


def table_rows(html: str) -> dict[str, list[tuple[str, bool]]]:
    table = re.search(r'<table id="compare-table".*?</table>', html, re.S).group(0)
    rows = {}
    for label, cells in re.findall(r"<tr><th>([^<]+)</th>(.*?)</tr>", table, re.S):
        rows[label] = [
            (text, "bt-best" in attrs)
            for attrs, text in re.findall(r"<td([^>]*)>([^<]*)</td>", cells)
        ]
    return rows


def test_the_comparison_puts_runs_side_by_side_and_marks_the_best(
    admin_client: Client, run: BacktestRun, other: BacktestRun
) -> None:
    html = page(admin_client, compare_url(run, other))

    rows = table_rows(html)
    assert [c[0] for c in rows["Parameters"]] == ["fast=10, slow=30", "fast=3, slow=12"]
    assert [c[0] for c in rows["Initial cash"]] == ["100,000.00 USDT", "50,000.00 USDT"]
    returns = [run.return_pct, other.return_pct]
    assert [c[0] for c in rows["Return"]] == [
        f"{'+' if r > 0 else ''}{r.quantize(Decimal('0.01'))} %" for r in returns
    ]
    assert [c[1] for c in rows["Return"]] == [r == max(returns) for r in returns]
    drawdowns = [run.max_drawdown_pct, other.max_drawdown_pct]
    assert [c[1] for c in rows["Max drawdown"]] == [d == min(drawdowns) for d in drawdowns]
    assert not any(best for _, best in rows["Cycles"])  # same size: nothing to prefer
    assert [c[0] for c in rows["Round trips"]] == [f"{run.trades:,}", f"{other.trades:,}"]
    assert padded(html) is None


def test_the_comparison_chart_overlays_one_curve_per_run(
    admin_client: Client, run: BacktestRun, other: BacktestRun
) -> None:
    html = page(admin_client, compare_url(other, run, normalize="0"))

    series = json.loads(re.search(r'id="compare-series"[^>]*>(.*?)</script>', html, re.S).group(1))
    options = json.loads(
        re.search(r'id="compare-options"[^>]*>(.*?)</script>', html, re.S).group(1)
    )
    assert [s["label"] for s in series] == [
        f"#{other.pk} usdt · sma_cross",
        f"#{run.pk} usdt · sma_cross",
    ]
    assert [s["equity"][0] for s in series] == [50000.0, 100000.0]
    assert [s["return_pct"][0] for s in series] == [0.0, 0.0]
    assert series[1]["return_pct"][-1] == pytest.approx(float(run.return_pct), abs=1e-4)
    assert options == {"normalize": False, "quote": "USDT"}


def test_the_compare_action_opens_the_comparison_of_the_selected_runs(
    admin_client: Client, run: BacktestRun, other: BacktestRun
) -> None:
    response = admin_client.post(
        reverse("admin:replay_backtestrun_changelist"),
        {"action": "compare_runs", "_selected_action": [other.pk, run.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == compare_url(run, other)


@pytest.mark.parametrize(
    ("ids", "error"),
    [("1", "at least two runs"), ("1,x", "run numbers"), ("999998,999999", "no backtest runs")],
)
def test_a_bad_comparison_says_what_is_wrong(admin_client: Client, ids: str, error: str) -> None:
    response = admin_client.get(f"{reverse('admin:replay_backtestrun_compare')}?ids={ids}")

    assert response.status_code == 400
    assert error in response.content.decode()


# --- starting a backtest --------------------------------------------------------------------


START = "/admin/replay/backtestrun/start/"


def start_form(dataset: Dataset, **changes: str) -> dict[str, str]:
    return {
        "dataset": str(dataset.pk),
        "strategy": "sma_cross",
        "params": '{"fast": 5, "slow": 20}',
        "initial_cash": "25000",
        "fill_model": "bar",
        "max_volume_share": "",
        "start": "",
        "end": "2024-01-03 00:00",
        "reason": "try a faster cross",
        **changes,
    }


def test_the_run_list_offers_to_start_a_backtest(admin_client: Client, dataset: Dataset) -> None:
    html = page(admin_client, reverse("admin:replay_backtestrun_changelist"))

    assert f'href="{START}"' in html and "Start a backtest" in html
    form = page(admin_client, START)
    for field in ("dataset", "strategy", "params", "max_volume_share", "reason"):
        assert f'name="{field}"' in form
    assert f'<option value="{dataset.pk}">usdt</option>' in form
    assert 'id="no-datasets"' not in form


def test_the_start_form_says_when_there_is_no_dataset(admin_client: Client) -> None:
    form = page(admin_client, START)

    assert 'id="no-datasets"' in form and "import_dataset" in form


def test_starting_a_backtest_creates_the_run_and_queues_the_task(
    admin_client: Client, dataset: Dataset, django_capture_on_commit_callbacks
) -> None:
    with (
        mock.patch.object(backtest_run_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = admin_client.post(START, start_form(dataset, max_volume_share="0.25"))

    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run_url(run)
    assert (run.status, run.strategy, run.params) == (
        "pending",
        "sma_cross",
        {"fast": 5, "slow": 20},
    )
    assert (run.initial_cash, run.end) == (
        Decimal(25000),
        datetime.fromisoformat("2024-01-03T00:00Z"),
    )
    assert len(callbacks) == 1
    delay.assert_called_once_with(run.pk, "0.25")
    page_html = admin_client.get(response["Location"]).content.decode()
    assert "queued; this page follows it." in page_html
    assert 'data-running="true"' in page_html
    event = AuditEvent.objects.get(action="backtest.start")
    assert (event.actor, event.object_id, event.reason) == (
        "user:admin",
        str(run.pk),
        "try a faster cross",
    )


@pytest.mark.django_db(transaction=True)  # real commits: the on-commit hook runs in the request
def test_without_a_broker_the_started_backtest_runs_at_once(
    admin_client: Client, dataset: Dataset, no_broker
) -> None:
    response = admin_client.post(START, start_form(dataset), follow=True)

    run = BacktestRun.objects.get()
    assert (run.status, run.progress_pct, run.cycles) == ("completed", 100, 576)  # two days
    html = response.content.decode()
    assert f"<h1>Backtest #{run.pk} · usdt · sma_cross</h1>" in html
    assert f"Backtest #{run.pk} · usdt · sma_cross ran: completed." in html


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"params": '{"fast": 30, "slow": 10}'}, "sma_cross parameter"),
        ({"params": '{"speed": 3}'}, "sma_cross has no parameter &#x27;speed&#x27;"),
        (
            {"strategy": "mean_reversion", "params": '{"window": -3}'},
            "parameter &#x27;window&#x27; must be &gt;= 2",
        ),
        ({"params": "[1, 2]"}, "must be a JSON object"),
        ({"params": "{fast: 3}"}, "Enter a valid JSON"),
    ],
)
def test_invalid_params_give_a_form_error_on_the_params_field(
    admin_client: Client, dataset: Dataset, changes: dict[str, str], message: str
) -> None:
    with mock.patch.object(backtest_run_task, "delay") as delay:
        response = admin_client.post(START, start_form(dataset, **changes))

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["params"]
    html = response.content.decode()
    errors = re.search(r'field-params">\s*<ul class="errorlist"[^>]*>(.*?)</ul>', html, re.S)
    assert errors is not None and message in errors.group(1)
    assert not BacktestRun.objects.exists()
    delay.assert_not_called()


def test_other_invalid_inputs_name_their_field(admin_client: Client, dataset: Dataset) -> None:
    response = admin_client.post(
        START,
        start_form(dataset, max_volume_share="2", start="2024-01-05 00:00", initial_cash="0"),
    )

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"max_volume_share", "end", "initial_cash"}
    assert not BacktestRun.objects.exists()


def test_starting_needs_the_permission_the_api_asks_for(
    django_user_model: type[User], dataset: Dataset
) -> None:
    viewer = staff_with(django_user_model, "viewer", "view_backtestrun")
    starter = staff_with(django_user_model, "starter", "view_backtestrun", "add_backtestrun")

    assert viewer.get(START).status_code == 403
    assert viewer.post(START, start_form(dataset)).status_code == 403
    assert 'href="/admin/replay/backtestrun/start/"' not in page(
        viewer, reverse("admin:replay_backtestrun_changelist")
    )
    assert starter.get(START).status_code == 200
    assert not BacktestRun.objects.exists()
