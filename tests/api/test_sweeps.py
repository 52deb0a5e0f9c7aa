"""Parameter sweeps over the API: the list (filters), one sweep with its runs ranked (by its
metric or another), and the same access rules as the backtest endpoints (staff reads)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from replay.domain.sweeps import SweepMetric
from replay.models import BacktestRun, Sweep
from replay.services.backtests import BacktestRequest
from replay.services.datasets import dataset_import
from replay.services.sweeps import SweepRequest, sweep_create, sweep_execute
from trading.domain.venue import FillModel

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
END = datetime.fromisoformat("2024-01-03T00:00:00Z")  # two days keep the runs short

pytestmark = pytest.mark.django_db


@pytest.fixture
def sweep() -> Sweep:
    """``sma_cross`` with slow 20 and fast 3, 8 and 25 (refused: fast must be below slow)."""
    base = BacktestRequest(
        dataset=dataset_import(path=SAMPLE, name="usdt").dataset,
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
        base=base, grid={"fast": [3, 8, 25]}, metric=SweepMetric.SHARPE, actor="user:operator"
    )
    return sweep_execute(sweep=sweep_create(request=request, executor="local, 1 worker"))


def test_the_list_shows_sweeps_with_their_counts_and_filters_them(sweep, staff_client) -> None:
    listed = staff_client.get("/api/v1/sweeps/?dataset=usdt&status=completed").json()
    none = staff_client.get("/api/v1/sweeps/?strategy=mean_reversion").json()

    assert [s["id"] for s in listed["results"]] == [sweep.pk]
    item = listed["results"][0]
    assert item["grid"] == {"fast": [3, 8, 25]}
    assert item["base_params"] == {"slow": 20}
    assert (item["total"], item["completed"], item["failed"]) == (3, 2, 1)
    assert (item["metric"], item["max_volume_share"], item["actor"]) == (
        "sharpe",
        "0.1",
        "user:operator",
    )
    assert none["results"] == []


def test_the_detail_ranks_the_runs_by_the_sweeps_metric(sweep, staff_client) -> None:
    body = staff_client.get(f"/api/v1/sweeps/{sweep.pk}/").json()

    runs = {r.params["fast"]: r for r in BacktestRun.objects.filter(sweep=sweep)}
    best, second = sorted((runs[3], runs[8]), key=lambda r: r.sharpe, reverse=True)
    assert body["ranked_by"] == "sharpe"
    assert [r["run_id"] for r in body["runs"]] == [best.pk, second.pk, runs[25].pk]
    top = body["runs"][0]
    assert top["rank"] == 1
    assert top["params"] == {"fast": best.params["fast"]}
    assert top["run_params"] == best.params
    assert (top["status"], top["sharpe"], top["fingerprint"]) == (
        "completed",
        best.sharpe,
        best.fingerprint,
    )
    assert Decimal(top["return_pct"]) == best.return_pct
    refused = body["runs"][-1]
    assert refused["status"] == "failed" and "must be below" in refused["error"]
    assert refused["return_pct"] is None and refused["sharpe"] is None


def test_the_backtest_list_filters_a_sweeps_runs_and_each_names_its_sweep(
    sweep, staff_client
) -> None:
    listed = staff_client.get(f"/api/v1/backtests/?sweep={sweep.pk}").json()["results"]

    assert {r["id"] for r in listed} == set(sweep.runs.values_list("pk", flat=True))
    assert {r["sweep"] for r in listed} == {sweep.pk}


def test_the_detail_reranks_by_another_metric(sweep, staff_client) -> None:
    body = staff_client.get(f"/api/v1/sweeps/{sweep.pk}/?metric=max_drawdown").json()

    drawdowns = [Decimal(r["max_drawdown_pct"]) for r in body["runs"][:2]]
    assert body["ranked_by"] == "max_drawdown"
    assert drawdowns == sorted(drawdowns)


def test_bad_metric_and_unknown_sweep_are_400_and_404(sweep, staff_client) -> None:
    bad = staff_client.get(f"/api/v1/sweeps/{sweep.pk}/?metric=luck")

    assert bad.status_code == 400 and "metric" in bad.json()
    assert staff_client.get("/api/v1/sweeps/999999/").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/sweeps/", "/api/v1/sweeps/{id}/"])
def test_sweeps_are_read_by_staff_only(sweep, plain_client, client, path: str) -> None:
    url = path.format(id=sweep.pk)

    assert plain_client.get(url).status_code == 403
    assert client.get(url).status_code in (401, 403)


def test_the_schema_documents_the_sweep_endpoints(staff_client) -> None:
    schema = staff_client.get("/api/v1/schema/?format=json").json()

    assert schema["paths"]["/api/v1/sweeps/"]["get"]["operationId"] == "sweeps_list"
    detail = schema["paths"]["/api/v1/sweeps/{id}/"]["get"]
    assert detail["operationId"] == "sweeps_retrieve"
    assert {"200", "400", "401", "403", "404"} <= set(detail["responses"])
    assert "runs" in schema["components"]["schemas"]["SweepDetailOutput"]["properties"]
