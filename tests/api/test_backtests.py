"""Backtest runs over the API: create queues ``replay.backtest_run`` (asserted without eager
Celery: ``delay`` is replaced and the on-commit hook captured), the task runs the backtest,
list/detail/compare read the results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest

from replay.models import BacktestRun
from replay.services.backtests import BacktestRequest, backtest_run
from replay.services.datasets import dataset_import
from replay.tasks import backtest_run_task
from trading.domain.venue import FillModel

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
PARAMS = {"window": 10, "entry_bps": 15, "exit_bps": 5}
END = "2024-01-04T00:00:00Z"  # three days of the sample keep the runs short

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset():
    return dataset_import(path=SAMPLE, name="usdt").dataset


def _run(dataset, cash: str = "100000") -> BacktestRun:
    return backtest_run(
        request=BacktestRequest(
            dataset=dataset,
            strategy="mean_reversion",
            params=PARAMS,
            risk={},
            fill_model=FillModel.BAR,
            fee_maker_bps=Decimal(10),
            fee_taker_bps=Decimal(20),
            initial_cash=Decimal(cash),
            max_volume_share=Decimal("0.10"),
            end=datetime.fromisoformat(END),
        )
    )


def test_create_validates_and_queues_the_task_after_commit(
    dataset, controller_client, django_capture_on_commit_callbacks
) -> None:
    body = {"dataset": "usdt", "strategy": "mean_reversion", "params": PARAMS, "end": END}
    with (
        mock.patch.object(backtest_run_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = controller_client.post("/api/v1/backtests/", body, format="json")

    assert response.status_code == 202, response.content
    run = BacktestRun.objects.get()
    assert response.json()["id"] == run.pk
    assert (response.json()["status"], response.json()["title"]) == (
        "pending",
        f"run {run.pk}: mean_reversion on usdt",
    )
    assert len(callbacks) == 1
    delay.assert_called_once_with(run.pk, "0.10")


def test_create_refuses_bad_input_without_queueing(dataset, controller_client) -> None:
    with mock.patch.object(backtest_run_task, "delay") as delay:
        unknown = controller_client.post(
            "/api/v1/backtests/", {"dataset": "nope", "strategy": "mean_reversion"}, format="json"
        )
        bad_params = controller_client.post(
            "/api/v1/backtests/",
            {"dataset": "usdt", "strategy": "mean_reversion", "params": {"window": -3}},
            format="json",
        )

    assert unknown.status_code == 400 and "dataset" in unknown.json()
    assert bad_params.status_code == 400 and "window" in bad_params.json()["detail"]
    assert not BacktestRun.objects.exists()
    delay.assert_not_called()


def test_the_task_runs_a_pending_run_once(dataset, controller_client) -> None:
    with mock.patch.object(backtest_run_task, "delay"):
        body = {"dataset": "usdt", "strategy": "mean_reversion", "params": PARAMS, "end": END}
        run_id = controller_client.post("/api/v1/backtests/", body, format="json").json()["id"]

    first = backtest_run_task.apply(args=[run_id, "0.10"]).get()
    second = backtest_run_task.apply(args=[run_id, "0.10"]).get()

    run = BacktestRun.objects.get(pk=run_id)
    assert first == second == {"run_id": run_id, "status": "completed"}
    assert run.cycles > 0 and run.fingerprint
    assert run.fingerprint == _run(dataset).fingerprint  # same inputs as the command's


def test_list_detail_and_compare(dataset, staff_client) -> None:
    a, b = _run(dataset), _run(dataset, cash="50000")

    listed = staff_client.get("/api/v1/backtests/?dataset=usdt&status=completed").json()
    assert [r["id"] for r in listed["results"]] == [b.pk, a.pk]

    detail = staff_client.get(f"/api/v1/backtests/{a.pk}/?points=50").json()
    assert detail["cycles_total"] == a.cycles
    assert len(detail["equity"]) == 50
    assert detail["equity"][0]["equity"] == "100000"
    assert detail["final_equity"] == format(Decimal(detail["final_equity"]), "f")

    compare = staff_client.get(f"/api/v1/backtests/compare/?ids={b.pk},{a.pk}&points=20").json()
    assert [(r["id"], r["initial_cash"], len(r["equity"])) for r in compare["runs"]] == [
        (b.pk, "50000", 20),
        (a.pk, "100000", 20),
    ]
    missing = staff_client.get(f"/api/v1/backtests/compare/?ids={a.pk},999999")
    assert missing.status_code == 400
    assert staff_client.get("/api/v1/backtests/999999/").status_code == 404


def test_a_run_with_universe_and_adaptation_lists_its_parameter_versions(
    dataset, controller_client, staff_client, django_capture_on_commit_callbacks, no_broker
) -> None:
    body = {
        "dataset": "usdt", "strategy": "sma_cross", "end": END,
        "universe": {"size": 2, "max_changes_per_day": 2},
        "adaptation": {"window_cycles": 3, "max_drawdown_pct": "0.001"},
    }  # fmt: skip
    refused = controller_client.post(
        "/api/v1/backtests/", {**body, "universe": {"size": 0}}, format="json"
    )
    with django_capture_on_commit_callbacks(execute=True):  # no broker: the task runs here
        created = controller_client.post("/api/v1/backtests/", body, format="json")

    assert refused.status_code == 400 and "size" in refused.content.decode()
    assert created.status_code == 202, created.content
    run_id = created.json()["id"]
    detail = staff_client.get(f"/api/v1/backtests/{run_id}/?points=10").json()
    assert detail["status"] == "completed"
    assert detail["universe"]["size"] == 2 and detail["adaptation"]["enabled"] is True
    versions = detail["param_versions"]
    assert versions[0] == {**versions[0], "version": 1, "parent": None, "reason": "INITIAL"}
    assert len(versions) > 1 and versions[1]["parent"] == 1
