"""The sweep pages of the admin as an operator uses them (pytest-django client, logged in): the
list of sweeps, and a sweep's page ranking its runs, each linked to its run page.

The sweep is three ``sma_cross`` combinations (one refused by the strategy) over two days of the
bundled ``data/sample/usdt-5m``, made by the real sweep service.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from replay.domain.sweeps import SweepMetric
from replay.models import BacktestRun, RunStatus, Sweep
from replay.services.backtests import BacktestRequest
from replay.services.datasets import dataset_import
from replay.services.sweeps import SweepRequest, sweep_create, sweep_execute
from trading.domain.venue import FillModel

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
END = datetime.fromisoformat("2024-01-03T00:00:00Z")

pytestmark = pytest.mark.django_db


@pytest.fixture
def sweep() -> Sweep:
    dataset = dataset_import(path=SAMPLE, name="usdt").dataset
    base = BacktestRequest(
        dataset=dataset,
        strategy="sma_cross",
        params={"slow": 20},
        risk={},
        fill_model=FillModel.BAR,
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(100_000),
        max_volume_share=Decimal("0.10"),
        end=END,
    )
    request = SweepRequest(
        base=base,
        grid={"fast": [3, 8, 25]},
        metric=SweepMetric.RETURN,
        actor="user:operator",
    )
    return sweep_execute(sweep=sweep_create(request=request, executor="local, 1 worker"))


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def ranked_run_ids(html: str) -> list[int]:
    """The run ids of the ranking table, top to bottom (each a link to the run page)."""
    table = html[html.index('id="sweep-ranking"') :]
    return [int(pk) for pk in re.findall(r'/admin/replay/backtestrun/(\d+)/change/">#', table)]


def test_the_sweep_list_shows_each_sweep_with_its_counts(admin_client: Client, sweep) -> None:
    html = page(admin_client, reverse("admin:replay_sweep_changelist"))

    assert f"#{sweep.pk}" in html
    assert "2 / 1 / 3" in html  # completed / failed / total
    assert "user:operator" in html


def test_the_sweep_page_ranks_its_runs_and_links_each_to_its_run_page(
    admin_client: Client, sweep
) -> None:
    html = page(admin_client, reverse("admin:replay_sweep_change", args=[sweep.pk]))

    runs = {r.params["fast"]: r for r in BacktestRun.objects.filter(sweep=sweep)}
    best, second = sorted((runs[3], runs[8]), key=lambda r: r.return_pct, reverse=True)
    assert ranked_run_ids(html) == [best.pk, second.pk, runs[25].pk]
    assert f"Sweep #{sweep.pk} · usdt · sma_cross" in html
    assert "Runs ranked by return (highest first)" in html
    assert "fast=25" in html and "must be below" in html  # the refused one, with its reason
    assert f"{best.return_pct.quantize(Decimal('0.01'))} %" in html
    assert reverse("admin:replay_backtestrun_change", args=[best.pk]) in html
    compare = reverse("admin:replay_backtestrun_compare") + f"?ids={best.pk},{second.pk}"
    assert compare in html


def test_a_run_page_links_back_to_its_sweep(admin_client: Client, sweep) -> None:
    run = BacktestRun.objects.filter(sweep=sweep).first()

    html = page(admin_client, reverse("admin:replay_backtestrun_change", args=[run.pk]))

    assert reverse("admin:replay_sweep_change", args=[sweep.pk]) in html


def test_the_sweep_page_reranks_by_another_metric(admin_client: Client, sweep) -> None:
    url = reverse("admin:replay_sweep_change", args=[sweep.pk])

    html = page(admin_client, url + "?metric=max_drawdown")

    done = BacktestRun.objects.filter(sweep=sweep, status=RunStatus.COMPLETED)
    lowest_first = [r.pk for r in sorted(done, key=lambda r: (r.max_drawdown_pct, r.pk))]
    assert ranked_run_ids(html)[:2] == lowest_first
    assert "Runs ranked by max_drawdown (lowest first)" in html


def test_sweeps_cannot_be_added_or_edited_by_hand(admin_client: Client, sweep) -> None:
    response = admin_client.get(reverse("admin:replay_sweep_add"))

    assert response.status_code == 403
